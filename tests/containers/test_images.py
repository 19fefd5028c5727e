"""The images run for real: the example image answers OIP and native calls with a token, the
startup hook installs packages as the non-root user, and the sidecar pair fronts the legacy
service. Expected values come from the same artifacts scored on the host."""

from __future__ import annotations

import csv
import importlib.util
import io
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests

from .conftest import EXAMPLES, container, free_port, logs, make_token, podman, wait_ready

# The first test also builds the images (about 75 s on a machine with no layer cache).
pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(900)]

BUILD = EXAMPLES / "legacy_models" / "build"


def sample_rows(name: str, n: int) -> tuple[list[str], list[list[str]]]:
    with open(BUILD / name, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:1 + n]


def test_example_image_serves_models_through_oip_and_native_routes_with_a_token(images, jwt_secret):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    with container(images.examples, env={"VENEER_PORT": str(port), "VENEER_WORKERS": "1",
                                         "VENEER_JWT_SECRET": jwt_secret}) as name:
        wait_ready(base + "/v2/health/ready", name)
        ready_seconds = time.monotonic() - start
        size = images.size_mb(images.examples)
        print(f"\n[containers] example image {size:.0f} MB; podman run -> ready in {ready_seconds:.2f} s")

        token = make_token(images.context / "veneer.yaml", jwt_secret, "--prefix", "risk")
        auth = {"Authorization": f"Bearer {token}"}
        header, rows = sample_rows("credit_risk_sample.csv", 4)
        features = np.array(rows, dtype=np.float32)
        body = {"inputs": [{"name": "features", "shape": list(features.shape), "datatype": "FP32",
                            "data": features.ravel().tolist()}]}
        assert requests.post(f"{base}/v2/models/credit/infer", json=body, timeout=10).status_code == 401

        r = requests.post(f"{base}/v2/models/credit/infer", json=body, headers=auth, timeout=10)
        assert r.status_code == 200, r.text
        assert r.headers["X-Veneer-Model-Version"] == "1"
        outputs = {o["name"]: o for o in r.json()["outputs"]}
        import onnxruntime

        session = onnxruntime.InferenceSession(str(images.context / "credit_risk.onnx"))
        want_labels, want_proba = session.run(["label", "probabilities"], {"features": features})
        assert outputs["label"]["data"] == want_labels.tolist()
        got = np.array(outputs["probabilities"]["data"], dtype=np.float32).reshape(want_proba.shape)
        np.testing.assert_allclose(got, want_proba, rtol=1e-5, atol=1e-6)

        header, rows = sample_rows("churn_sample.csv", 5)
        text = "\n".join(",".join(row) for row in [header, *rows]) + "\n"
        r = requests.post(f"{base}/models/risk/churn/v1/", data=text, timeout=10,
                          headers={**auth, "Content-Type": "text/csv"})
        assert r.status_code == 200, r.text
        assert (r.headers["X-Veneer-Model"], r.headers["X-Veneer-Model-Version"]) == ("risk/churn", "1")
        import joblib
        import pandas as pd

        model = joblib.load(images.context / "churn_2017.joblib")  # our own build: trusted
        want = model.predict(pd.read_csv(io.StringIO(text))).tolist()
        got = [float(line) for line in r.text.strip().splitlines()[1:]]
        assert got == [float(x) for x in want]

        # the image's own HEALTHCHECK (kept by --format docker) passes, and nothing runs as root
        assert podman("healthcheck", "run", name, check=False).returncode == 0, logs(name)
        assert podman("exec", name, "id", "-u").stdout.strip() == "10001"
        assert podman("exec", name, "touch", "/opt/veneer/x", check=False).returncode != 0


def _tiny_wheel(folder: Path) -> Path:
    """A real, minimal wheel (pip installs it offline): package ``veneer_probe_pkg``."""
    path = folder / "veneer_probe_pkg-1.0-py3-none-any.whl"
    info = "veneer_probe_pkg-1.0.dist-info"
    files = {"veneer_probe_pkg/__init__.py": "ANSWER = 42\n",
             f"{info}/METADATA": "Metadata-Version: 2.1\nName: veneer-probe-pkg\nVersion: 1.0\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: veneer-tests\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for n, text in files.items():
            z.writestr(n, text)
    return path


def test_startup_script_pip_installs_as_the_non_root_user_and_its_failure_stops_the_container(
        images, jwt_secret, tmp_path):
    _tiny_wheel(tmp_path)
    (tmp_path / "install.sh").write_text("set -e\npip install --no-index --quiet "
                                         "/hooks/veneer_probe_pkg-1.0-py3-none-any.whl\n")
    (tmp_path / "broken.sh").write_text("echo 'cannot reach the package index' >&2\nexit 3\n")
    tmp_path.chmod(0o755)
    port = free_port()
    env = {"VENEER_PORT": str(port), "VENEER_WORKERS": "1", "VENEER_JWT_SECRET": jwt_secret,
           "VENEER_STARTUP_SCRIPT": "/hooks/install.sh"}
    with container(images.examples, env=env, volumes=[f"{tmp_path}:/hooks:ro"]) as name:
        wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", name)
        probe = podman("exec", name, "python", "-c", "import os, veneer_probe_pkg as p; "
                       "print(p.ANSWER, os.stat(p.__file__).st_uid, p.__file__)").stdout.split()
        assert probe[:2] == ["42", "10001"]
        assert probe[2].startswith("/home/veneer/.local/lib/python3.11/site-packages/")

    proc = podman("run", "--rm", "--network", "host", "-v", f"{tmp_path}:/hooks:ro",
                  "-e", f"VENEER_JWT_SECRET={jwt_secret}", "-e", f"VENEER_PORT={free_port()}",
                  "-e", "VENEER_STARTUP_SCRIPT=/hooks/broken.sh", images.examples, check=False, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "cannot reach the package index" in out
    assert "startup script" in out and "failed" in out and "exit code 3" in out


def _legacy_service():
    spec = importlib.util.spec_from_file_location(
        "legacy_scoring_service", EXAMPLES / "legacy_models" / "scoring_service" / "service.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sidecar_pair_fronts_the_legacy_service_container(images, jwt_secret):
    legacy_port, port = free_port(), free_port()
    rows = [{"tenure": 3, "monthly_charges": 99.5, "support_calls": 4},
            {"tenure": 60, "monthly_charges": 20.0, "support_calls": 0}]
    with container(images.legacy, env={"HOST": "127.0.0.1", "PORT": str(legacy_port)}) as legacy, \
            container(images.sidecar, env={"LEGACY_URL": f"http://127.0.0.1:{legacy_port}",
                                           "VENEER_PORT": str(port), "VENEER_JWT_SECRET": jwt_secret,
                                           "VENEER_WORKERS": "1"}) as sidecar:
        wait_ready(f"http://127.0.0.1:{legacy_port}/healthz", legacy)
        wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", sidecar)
        token = make_token(EXAMPLES / "docker" / "sidecar" / "veneer.yaml", jwt_secret,
                           "--prefix", "legacy", "--model", "churn")
        auth = {"Authorization": f"Bearer {token}"}
        want = [_legacy_service().score(row) for row in rows]
        direct = requests.post(f"http://127.0.0.1:{legacy_port}/score", json={"records": rows}, timeout=5)
        assert direct.json()["result"]["scores"] == want  # the legacy container itself answers

        url = f"http://127.0.0.1:{port}/models/legacy/churn/"
        assert requests.post(url, json=rows, timeout=10).status_code == 401
        r = requests.post(url, json={"dataframe_records": rows}, headers=auth, timeout=10)
        assert r.status_code == 200, r.text + logs(sidecar)
        assert r.headers["X-Veneer-Model"] == "legacy/churn"
        assert r.json() == {"predictions": [{"churn_probability": p} for p in want]}

        tensors = {"inputs": [{"name": col, "shape": [len(rows)], "datatype": "FP64",
                               "data": [row[col] for row in rows]} for col in rows[0]]}
        r = requests.post(f"http://127.0.0.1:{port}/v2/models/churn/infer", json=tensors, headers=auth,
                          timeout=10)
        assert r.status_code == 200, r.text + logs(sidecar)
        assert r.json()["outputs"] == [{"name": "churn_probability", "shape": [len(rows)],
                                        "datatype": "FP64", "data": want}]
