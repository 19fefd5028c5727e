"""Acceleration through real processes: ``veneer serve`` with two gunicorn workers, and ``veneer check``."""

from __future__ import annotations

import json
import subprocess
import sys

import joblib
import pandas as pd
import pytest
import requests

from tests.helpers.server import REPO, VeneerServer
from tests.helpers.wait import wait_for

from .conftest import FOREST_COLUMNS

pytestmark = pytest.mark.slow


def gbm_config(tmp_path, build) -> str:
    """One accelerated gradient-boosting version (promotes after 300 rows, workers sync every 0.2 s).

    The GBM rather than the forest: same code path, but it converts in milliseconds, not seconds.
    """
    path = tmp_path / "veneer.yaml"
    path.write_text(f"""prefix: t
auth: none
server: {{access_log: false}}
models:
  forest:
    versions:
      - {{version: "1", adapter: pickle, path: {build / 'gbm.joblib'}, accelerate: onnx,
          options: {{outputs: [predict], accelerate: {{promote_after_rows: 300, refresh_seconds: 0.2}}}}}}
""")
    return str(path)


def post(server: VeneerServer, frame: pd.DataFrame) -> requests.Response:
    r = requests.post(f"{server.url}/models/t/forest/", json=frame.to_dict(orient="records"), timeout=30)
    assert r.status_code == 200, r.text
    return r


def predictions(r: requests.Response) -> list:
    body = r.json()
    rows = body.get("predictions", body) if isinstance(body, dict) else body
    return [row["predictions"] if isinstance(row, dict) else row for row in rows]


def test_two_workers_promote_together_and_a_restart_keeps_onnx(build, tmp_path, state_dir):
    config = gbm_config(tmp_path, build)
    held = pd.read_csv(build / "forest_holdout.csv")[FOREST_COLUMNS]
    want = joblib.load(build / "gbm.joblib").predict(held)
    env = {"VENEER_STATE_DIR": str(state_dir)}
    with VeneerServer(config, workers=2, threads=2, env=env) as server:
        first = post(server, held.head(100))
        assert first.headers["X-Veneer-Engine"] == "sklearn"  # shadow: scikit-learn answers
        assert predictions(first) == want[:100].tolist()
        chunks = iter(range(100, 1000, 100))

        def promoted():
            start = next(chunks)
            r = post(server, held.iloc[start:start + 100])
            assert predictions(r) == want[start:start + 100].tolist()  # every answer is right
            return r.headers["X-Veneer-Engine"] == "onnx"
        wait_for(promoted, timeout=30, interval=0, what="ONNX promotion after 300 agreeing rows")

        def every_worker_onnx():  # new connection each time: both workers answer over 20 requests
            return all(post(server, held.head(1)).headers["X-Veneer-Engine"] == "onnx" for _ in range(20))
        wait_for(every_worker_onnx, timeout=20, what="both workers answering from ONNX")
        r = post(server, held.iloc[:50])
        assert r.headers["X-Veneer-Engine"] == "onnx" and predictions(r) == want[:50].tolist()
        meta = requests.get(f"{server.url}/models/t/forest/?get_meta=true", timeout=10).json()
        assert '"engine": "onnx"' in json.dumps(meta)  # served metadata names the engine
        metrics = requests.get(f"{server.url}/metrics", timeout=10).text
        assert 'veneer_acceleration_promoted{model="t/forest",version="1"} 1.0' in metrics
        compared = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                    if line.startswith('veneer_acceleration_rows_compared_total{model="t/forest",version="1"}')]
        assert compared and compared[0] >= 300
        assert 'veneer_acceleration_disagreements_total{model="t/forest",version="1"}' not in metrics

    with VeneerServer(config, workers=2, threads=2, env=env) as again:  # workers started later
        r = post(again, held.iloc[:1])
        assert r.headers["X-Veneer-Engine"] == "onnx" and predictions(r) == want[:1].tolist()


def test_check_reports_conversion_agreement_speedup_and_fallback_reason(build, tmp_path, state_dir):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from .custom_steps import Doubler

    df = pd.read_csv(build / "forest_holdout.csv")
    custom = Pipeline([("double", Doubler()), ("forest", RandomForestClassifier(n_estimators=3, random_state=0))])
    joblib.dump(custom.fit(df[FOREST_COLUMNS], df["defaulted"]), tmp_path / "custom.joblib")
    config = tmp_path / "check.yaml"
    config.write_text(f"""prefix: t
auth: none
accelerate: onnx
models:
  forest:
    versions:
      - {{version: "1", adapter: pickle, path: {build / 'forest_100.joblib'}, probe: {build / 'forest_sample.csv'}}}
  legacy:
    versions:
      - {{version: "1", adapter: pickle, path: {tmp_path / 'custom.joblib'}, trusted: true,
          probe: {build / 'forest_sample.csv'}}}
""")
    out = subprocess.run([sys.executable, "-m", "veneer.sidecar.cli", "check", str(config)],
                         capture_output=True, text=True, timeout=120, cwd=REPO,
                         env={"PYTHONPATH": str(REPO), "VENEER_STATE_DIR": str(state_dir),
                              "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ok     t/forest v1") and lines[2].startswith("ok     t/legacy v1"), out.stdout
    forest = json.loads(lines[1].split("acceleration: ", 1)[1])
    assert forest["converted"] is True and forest["state"] == "promoted" and forest["engine"] == "onnx"
    assert forest["probe_checked"] is True and forest["rows_agreed"] >= 100 and forest["disagreements"] == 0
    assert forest["speedup"]["one_row"]["speedup"] > 1 and forest["speedup"]["rows"] == 100
    legacy = json.loads(lines[3].split("acceleration: ", 1)[1])
    assert legacy["converted"] is False and legacy["engine"] == "sklearn"
    assert legacy["reason"] == "custom class tests.accelerate.custom_steps.Doubler has no skl2onnx converter"
