"""The example legacy service behind a real ``veneer serve`` / ``veneer sidecar`` (gunicorn on 127.0.0.1).

Every protocol's answer is compared with calling the service directly in its own format.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
import requests

from tests.helpers.server import VeneerServer, free_port
from tests.helpers.wait import wait_for

from .conftest import COLUMNS, ROWS, SERVICE, Reply

pytestmark = pytest.mark.slow

EXAMPLE_YAML = SERVICE.parent / "veneer.yaml"


def direct_scores(url: str) -> list[float]:
    records = [dict(zip(COLUMNS, r)) for r in ROWS]
    return requests.post(f"{url}/score", json={"records": records}, timeout=5).json()["result"]["scores"]


def example_config(tmp_path, port: int, supervised: bool) -> str:
    """The example veneer.yaml, moved to ``port``; without ``command:`` unless ``supervised``."""
    text = EXAMPLE_YAML.read_text().replace("9000", str(port))
    if not supervised:
        text = re.sub(r"^\s*command:.*\n", "", text, flags=re.M)
    else:
        text = text.replace("service.py", str(SERVICE))
    path = tmp_path / "veneer.yaml"
    path.write_text(text + "registry: {enabled: false}\n")
    return str(path)


def _values(items):
    return [i["churn_probability"] if isinstance(i, dict) else i for i in items]


@pytest.fixture(scope="module")
def veneer(legacy_service, tmp_path_factory):
    path = example_config(tmp_path_factory.mktemp("cfg"), legacy_service.port, supervised=False)
    with VeneerServer(path, workers=1, threads=4) as server:
        yield server


def test_every_protocol_matches_the_direct_call(veneer, legacy_service) -> None:
    expected = direct_scores(legacy_service.url)
    records = [dict(zip(COLUMNS, r)) for r in ROWS]
    url = veneer.url
    # native, JSON records
    native = requests.post(f"{url}/models/legacy/churn_json/", json=records, timeout=10)
    assert native.status_code == 200, native.text
    assert _values(native.json()) == expected
    assert native.headers["X-Veneer-Engine"] == "http" and native.headers["X-Veneer-Model-Version"] == "1"
    # native, CSV in and out, through the CSV legacy format
    body = ",".join(COLUMNS) + "\n" + "\n".join(",".join(map(str, r)) for r in ROWS) + "\n"
    native_csv = requests.post(f"{url}/models/legacy/churn_csv/", data=body, timeout=10,
                               headers={"Content-Type": "text/csv"})
    assert native_csv.status_code == 200, native_csv.text
    assert [float(r["churn_probability"]) for r in csv.DictReader(io.StringIO(native_csv.text))] == expected
    # Open Inference Protocol V2, through the one-row-per-call form format
    inputs = [{"name": c, "datatype": "FP64", "shape": [len(ROWS)], "data": [r[i] for r in ROWS]}
              for i, c in enumerate(COLUMNS)]
    oip = requests.post(f"{url}/v2/models/churn_form/infer", json={"inputs": inputs}, timeout=10)
    assert oip.status_code == 200, oip.text
    (out,) = oip.json()["outputs"]
    assert out["name"] == "churn_probability" and out["data"] == expected
    # KServe V1
    v1 = requests.post(f"{url}/v1/models/churn_csv:predict", json={"instances": records}, timeout=10)
    assert v1.status_code == 200, v1.text
    assert _values(v1.json()["predictions"]) == expected
    # MLflow scoring
    mlflow = requests.post(f"{url}/models/legacy/churn_json/invocations", timeout=10,
                           json={"dataframe_split": {"columns": COLUMNS, "data": ROWS}})
    assert mlflow.status_code == 200, mlflow.text
    assert _values(mlflow.json()["predictions"]) == expected


def test_metadata_and_readiness_come_from_the_adapter(veneer) -> None:
    meta = requests.get(f"{veneer.url}/v2/models/churn_json", timeout=5).json()
    assert meta["platform"] == "http" and [i["name"] for i in meta["inputs"]] == COLUMNS
    assert requests.get(f"{veneer.url}/v2/models/churn_json/ready", timeout=5).status_code == 200


def test_upstream_errors_keep_their_status_in_every_protocol(veneer) -> None:
    bad = [{"tenure": "x", "monthly_charges": 1, "support_calls": 1}]
    native = requests.post(f"{veneer.url}/models/legacy/churn_json/", json=bad, timeout=10)
    assert native.status_code in (400, 422) and "error" in native.json()
    mlflow = requests.post(f"{veneer.url}/models/legacy/churn_json/invocations", json={"dataframe_records": bad},
                           timeout=10)
    assert mlflow.status_code in (400, 422) and "message" in mlflow.json()


def test_request_id_and_verified_identity_reach_the_upstream(upstream, tmp_path) -> None:
    import time

    import jwt

    secret = "http-adapter-test-secret-" + "s" * 32
    upstream.answer(Reply(body=b'{"scores": [0.5]}'))
    (tmp_path / "v.yaml").write_text(
        "prefix: t\nauth: {issuer: test, secret_env: HTTP_TEST_SECRET}\nregistry: {enabled: false}\n"
        "models:\n  m:\n    versions:\n"
        f"      - {{version: '1', adapter: http, url: '{upstream.url}/s', "
        "options: {response: {path: 'scores[*]'}, headers: {forward: [X-Tenant, X-Veneer-Subject]}}}\n")
    now = int(time.time())
    token = jwt.encode({"iss": "test", "aud": "veneer", "sub": "alice", "iat": now, "exp": now + 600, "jti": "j1",
                        "scope": ["t/m"], "perm": ["predict"], "groups": ["risk", "ops"]}, secret, algorithm="HS256")
    with VeneerServer(tmp_path / "v.yaml", workers=1, threads=2, env={"HTTP_TEST_SECRET": secret}) as server:
        r = requests.post(f"{server.url}/models/t/m/", json=[{"a": 1}], timeout=10,
                          headers={"Authorization": f"Bearer {token}", "X-Request-ID": "abc-123",
                                   "X-Tenant": "acme", "X-Veneer-Subject": "root", "X-Veneer-Groups": "admins"})
        assert r.status_code == 200, r.text
    hit = upstream.hits[-1]
    assert hit.headers["x-request-id"] == "abc-123" and hit.headers["x-tenant"] == "acme"
    assert hit.headers["x-veneer-subject"] == "alice" and hit.headers["x-veneer-groups"] == "risk,ops"
    assert "authorization" not in hit.headers
    assert json.loads(hit.body) == [{"a": 1}]


def test_sidecar_command_fronts_the_service(legacy_service) -> None:
    options = json.dumps({"request": {"body": "records"}, "response": {"path": "result.scores[*]"}})
    with VeneerServer(f"{legacy_service.url}/score", command="sidecar", workers=1, threads=2,
                      args=["--no-auth", "--no-register", "--options", options, "--health-url", f"{legacy_service.url}/healthz"]) as s:
        records = [dict(zip(COLUMNS, r)) for r in ROWS]
        r = requests.post(f"{s.url}/v1/models/score:predict", json={"instances": records}, timeout=10)
        assert r.status_code == 200, r.text
        assert _values(r.json()["predictions"]) == direct_scores(legacy_service.url)


def test_supervised_service_is_started_awaited_and_stopped(tmp_path) -> None:
    port = free_port()
    path = example_config(tmp_path, port, supervised=True)
    server = VeneerServer(path, workers=1, threads=2).start()
    try:
        wait_for(lambda: requests.get(f"{server.url}/v2/models/churn_json/ready", timeout=2).status_code == 200,
                 timeout=30, what="the supervised legacy service to be ready")
        r = requests.post(f"{server.url}/models/legacy/churn_json/", timeout=10,
                          json=[dict(zip(COLUMNS, r)) for r in ROWS])
        assert r.status_code == 200, r.text
        assert _values(r.json()) == direct_scores(f"http://127.0.0.1:{port}")
    finally:
        server.stop()
        _reap_orphans(server.log())
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def _reap_orphans(log: str) -> None:
    """If veneer died before stopping them, kill the legacy processes it started (PIDs from its log)."""
    import os
    import signal

    for pid in map(int, re.findall(r"as pid (\d+):", log)):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if SERVICE.name.encode() not in f.read():
                    continue  # the PID was reused by someone else's process
            os.kill(pid, signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError):
            pass
