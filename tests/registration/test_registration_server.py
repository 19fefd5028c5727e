"""Registration through a real ``veneer serve``: three restarts, one MLflow version per artifact (CASES 102, 104)."""

from __future__ import annotations

import json
import textwrap
import time

import pytest
import requests

from tests.helpers.server import REPO, VeneerServer
from tests.helpers.wait import wait_for

from .conftest import client_for

TOY = "tests.fixtures.toy_adapters:SumAdapter"
BUILD = REPO / "examples" / "legacy_models" / "build"
pytestmark = pytest.mark.slow


def _config(folder, db) -> object:
    sums = json.loads((BUILD / "checksums.json").read_text())
    lines = []
    for version, name, extra in (("1", "churn_2017.joblib", "stage: production, weight: 90"),
                                 ("2", "churn_2019.joblib", "stage: staging, weight: 10"),
                                 ("3", "churn_2021.joblib", "draft: true")):
        # the toy adapter keeps the server light (no sklearn import); the path and pin are real
        lines.append(f'      - {{version: "{version}", adapter: "{TOY}", path: "{BUILD / name}", '
                     f'sha256: "{sums[name]}", {extra}}}')
    path = folder / "veneer.yaml"
    path.write_text(textwrap.dedent("""
        prefix: risk
        auth: none
        registry: {{mlflow: "sqlite:///{db}", heartbeat_seconds: 30}}
        models:
          churn:
            versions:
        """).format(db=db) + "\n".join(lines) + "\n")
    return path, sums


@pytest.mark.skipif(not (BUILD / "checksums.json").exists(), reason="run `make examples` first")
def test_three_server_restarts_keep_one_mlflow_version_per_artifact(tmp_path, mlflow_db):
    cfg, sums = _config(tmp_path, mlflow_db)
    client = client_for(mlflow_db)
    expected = [sums[n] for n in ("churn_2017.joblib", "churn_2019.joblib", "churn_2021.joblib")]

    def versions():
        return sorted(client.search_model_versions("name = 'risk.churn'"), key=lambda mv: int(mv.version))

    instances = set()
    for _ in range(3):
        with VeneerServer(cfg, workers=2, threads=2) as srv:
            # serving does not wait for the registry
            assert requests.get(srv.url + "/v2/models/churn/ready", timeout=10).status_code == 200

            def registered():
                mvs = versions()
                live = [mv.tags.get("veneer.instance_id") for mv in mvs]
                aliases = client.get_registered_model("risk.churn").aliases if mvs else {}
                return len(mvs) == 3 and all(live) and len(set(live)) == 1 and live[0] not in instances \
                    and len(aliases) == 3 and mvs
            mvs = wait_for(registered, timeout=60, what="registration by the new instance")
            instances.add(mvs[0].tags["veneer.instance_id"])
            assert [mv.tags["veneer.sha256"] for mv in mvs] == expected
            assert mvs[0].tags["veneer.endpoint"] == srv.url
            aliases = {a: str(v) for a, v in client.get_registered_model("risk.churn").aliases.items()}
            assert aliases == {"production": "1", "staging": "2", "veneer-latest": "2"}
            t0 = time.monotonic()
            assert srv.stop() == 0
            assert time.monotonic() - t0 < 15
        # deregistered on SIGTERM: this instance's tags and the aliases are gone
        mvs = versions()
        assert not [k for mv in mvs for k in mv.tags if k.startswith("veneer.instance")]
        assert client.get_registered_model("risk.churn").aliases == {}
    assert len(instances) == 3
    assert [mv.tags["veneer.sha256"] for mv in versions()] == expected
