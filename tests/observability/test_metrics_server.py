"""Metrics and registration through a real ``veneer serve`` (gunicorn, several workers) (CASES 72-78, 104, 105).

Requests go over fresh connections so gunicorn spreads them over the workers;
every scrape must report the same exact totals whichever worker answers it.
"""

from __future__ import annotations

import collections
import glob
import textwrap
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.server import VeneerServer
from tests.helpers.wait import wait_for

TOY = "tests.fixtures.toy_adapters"
GOOD = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]}]}
pytestmark = pytest.mark.slow


def _config(folder: Path, *, server: str = "", registry: str = "{enabled: false}") -> Path:
    path = folder / "veneer.yaml"
    path.write_text(textwrap.dedent(f"""
        prefix: risk
        auth: none
        registry: {registry}
        server: {{metrics_dir: "{folder / 'prom'}", max_request_bytes: 4096, {server}}}
        models:
          sum:
            versions:
              - {{version: "1", adapter: "{TOY}:SumAdapter", stage: production, weight: 50}}
              - {{version: "2", adapter: "{TOY}:SumAdapter", stage: staging, weight: 50}}
        """))
    return path


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """``/metrics`` parsed: sample name -> {sorted labels: value}."""
    r = requests.get(url + "/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def _by_code(samples) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for labels, value in samples.get("veneer_requests_total", {}).items():
        counts[dict(labels)["code"]] += value
    return counts


def _send(url: str, i: int) -> int:
    """One request of a mix: predictions, unknown model or path with a random token, bad JSON, too large."""
    kind = i % 6
    if kind in (0, 1):
        r = requests.post(f"{url}/v2/models/sum/infer", json=GOOD, timeout=10)
    elif kind == 2:
        r = requests.get(f"{url}/random-{i}/path-{i * 7919}", timeout=10,
                         headers={"Authorization": f"Bearer eyJtoken{i * 31337}"})
    elif kind == 3:
        r = requests.post(f"{url}/v2/models/nope-{i}/infer", json=GOOD, timeout=10)
    elif kind == 4:
        r = requests.post(f"{url}/v2/models/sum/infer", data=b"{not json",
                          headers={"Content-Type": "application/json"}, timeout=10)
    else:
        r = requests.post(f"{url}/v2/models/sum/infer", data=b"x" * 8192,
                          headers={"Content-Type": "application/json"}, timeout=10)
    return r.status_code


def test_counters_are_exact_across_workers_and_scrapes(tmp_path):
    with VeneerServer(_config(tmp_path), workers=2, threads=4) as srv:
        before = _by_code(scrape(srv.url))
        sent: collections.Counter = collections.Counter()
        n = 240
        for i in range(n):
            sent[str(_send(srv.url, i))] += 1
        assert {"200", "404", "400", "413"} <= set(sent), sent
        totals = []
        for _ in range(8):                                   # whichever worker answers
            s = scrape(srv.url)
            now = _by_code(s)
            delta = {code: now[code] - before[code] for code in now if now[code] != before[code]}
            assert delta == dict(sent)
            totals.append(sum(now.values()))
            assert sum(s["veneer_requests_in_flight"].values()) == 0
        assert len(set(totals)) == 1
        names = set(s)
        assert {"veneer_request_duration_seconds_bucket", "veneer_request_duration_seconds_count",
                "veneer_predict_duration_seconds_count", "veneer_model_load_seconds_count"} <= names
        assert not [name for name in names if name.endswith("_ms")]
        assert sum(v for k, v in s["veneer_predict_duration_seconds_count"].items()) == sent["200"]
        models = {dict(k)["model"] for k in s["veneer_requests_total"]}
        assert models <= {"risk/sum", "_unknown"}             # 40 random model names, one series
        body = requests.get(srv.url + "/metrics", timeout=10).text
        assert "eyJtoken" not in body and "random-" not in body and "nope-" not in body
        assert len(s["veneer_requests_total"]) <= 12


def test_worker_recycling_never_lowers_a_counter_and_stale_files_are_wiped(tmp_path):
    cfg = _config(tmp_path, server="max_requests: 15, max_requests_jitter: 3")
    n = 150
    with VeneerServer(cfg, workers=2, threads=2) as srv:
        before = sum(_by_code(scrape(srv.url)).values())
        seen = [before]
        for i in range(n):
            assert requests.post(f"{srv.url}/v2/models/sum/infer", json=GOOD, timeout=10).status_code == 200
            if i % 20 == 19:
                seen.append(sum(_by_code(scrape(srv.url)).values()))
        # every scrape is a request too and may recycle a worker; counts must still add up
        final = scrape(srv.url)
        seen.append(sum(_by_code(final).values()))
        assert seen == sorted(seen), seen
        assert _by_code(final)["200"] - (before if before else 0) >= n
        assert sum(final["veneer_requests_in_flight"].values()) == 0
        db_files = glob.glob(str(tmp_path / "prom" / "*.db"))
        # dead workers are folded into archives: at most 4 files per live process (2 workers
        # and the master) + 3 archives, however many workers were recycled (about 12 here)
        assert len(db_files) <= 4 * 3 + 3, sorted(db_files)
        assert any(f.endswith("counter_archive.db") for f in db_files)
    with VeneerServer(cfg, workers=2, threads=2) as srv:       # same directory, next run
        assert _by_code(scrape(srv.url))["200"] == 0


def test_master_registers_once_for_all_workers_and_deregisters_on_sigterm(tmp_path):
    from tests.registration.conftest import Receiver

    receiver = Receiver()                                    # down at first: serve anyway
    registry = (f'{{mlflow: none, retry_max_seconds: 0.5, http: {{url: "{receiver.url}", '
                f'ttl_seconds: 2, heartbeat_seconds: 0.2}}}}')
    srv = VeneerServer(_config(tmp_path, registry=registry), workers=3, threads=2).start()
    try:
        assert requests.post(f"{srv.url}/v2/models/sum/infer", json=GOOD, timeout=10).status_code == 200
        # the registrar runs in a process of its own: its first report arrives shortly after start
        wait_for(lambda: scrape(srv.url).get("veneer_registry_up") == {(("registry", "http"),): 0.0},
                 timeout=20, what="registry_up 0 while the registry is down")
        receiver.start()
        wait_for(lambda: receiver.store.instances, timeout=20, what="registration")
        beats = receiver.store.hits["heartbeat"]
        wait_for(lambda: receiver.store.hits["heartbeat"] >= beats + 5, timeout=20, what="heartbeats")
        assert receiver.store.hits["register"] == 1           # one master, not one per worker
        assert len(receiver.store.instances) == 1
        inst = next(iter(receiver.store.instances.values()))
        assert inst["endpoint"] == srv.url
        assert [(m["model"], m["version"]) for m in inst["models"]] == [("sum", "1"), ("sum", "2")]
        wait_for(lambda: scrape(srv.url)["veneer_registry_up"] == {(("registry", "http"),): 1.0},
                 timeout=10, what="registry_up 1 in the workers' scrape")
        assert srv.stop() == 0
        assert receiver.store.hits["deregister"] == 1
        assert receiver.store.instances == {}
    finally:
        srv.stop()
        receiver.shutdown()


def test_rejected_requests_are_counted_by_code_and_reason_without_token_labels(tmp_path):
    """CASES 78: 401s are counted in veneer_requests_total and by reason; no token-derived label."""
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text().replace("auth: none", "auth: {issuer: acme, secret_env: VENEER_TEST_SECRET}"))
    with VeneerServer(cfg, workers=2, threads=2, env={"VENEER_TEST_SECRET": "x" * 40}) as srv:
        before = _by_code(scrape(srv.url))["401"]
        sent = collections.Counter()
        for i in range(30):
            headers = {} if i % 3 == 0 else {"Authorization": f"Bearer eyJhbGciOiJIUzI1NiJ9.secret{i}.sig"}
            sent[requests.post(f"{srv.url}/v2/models/sum/infer", json=GOOD, headers=headers,
                               timeout=10).status_code] += 1
        assert sent == {401: 30}
        s = scrape(srv.url)
        assert _by_code(s)["401"] - before == 30
        reasons = {dict(k)["reason"]: v for k, v in s["veneer_auth_failures_total"].items()}
        assert reasons == {"missing": 10, "malformed": 20}
        body = requests.get(srv.url + "/metrics", timeout=10).text
        assert "secret" not in body and "eyJ" not in body
