"""`podman kube play` runs the generated Deployment's pod, and `veneer docker build` builds
through podman's Docker-compatible API socket."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import uuid

import numpy as np
import pytest
import requests
import yaml

from tests.helpers.wait import wait_for
from veneer.sidecar import k8s
from veneer.sidecar.docker_build import build_image, docker_client
from veneer.wrapper.config import load_config

from .conftest import RUN_ID, container, free_port, make_token, podman, wait_ready

# The first test also builds the images (about 75 s on a machine with no layer cache).
pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(900)]


def write_manifest_and_secret(tmp_path, name: str, deployment: dict, jwt_secret: str):
    """The Deployment as a file for ``podman kube play``, and its JWT secret created in podman.

    podman looks secretKeyRef up among its own secrets: a JSON map of key -> base64 value.
    """
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(yaml.safe_dump(deployment, sort_keys=False))
    secret_file = tmp_path / "secret.json"
    secret_file.write_text(json.dumps({"jwt-secret": base64.b64encode(jwt_secret.encode()).decode()}))
    podman("secret", "create", f"{name}-jwt", str(secret_file))
    return manifest


def test_kube_play_runs_the_generated_deployment_pod(images, jwt_secret, tmp_path):
    name = f"veneer-kp-{uuid.uuid4().hex[:8]}"
    config_path = tmp_path / "veneer.yaml"
    config_path.write_text((images.context / "veneer.yaml").read_text()
                           + f"deployment: {{image: {images.examples}, secret_name: {name}-jwt}}\n")
    manifests = k8s.build_manifests(load_config(config_path, env={}), name=name)
    deployment = manifests.by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    host_port = free_port()
    veneer = pod["containers"][0]
    veneer["ports"][0].update(hostPort=host_port, hostIP="127.0.0.1")
    manifest = write_manifest_and_secret(tmp_path, name, deployment, jwt_secret)
    try:
        podman("kube", "play", str(manifest), timeout=120)
        ctr = f"{name}-pod-0-veneer"
        base = f"http://127.0.0.1:{host_port}"
        wait_ready(base + "/v2/health/ready", ctr)
        token = make_token(images.context / "veneer.yaml", jwt_secret, "--prefix", "risk")
        x = np.array([[30, 80.0, 0.2, 0.3, 0, 5]], dtype=np.float32)
        r = requests.post(base + "/v2/models/credit/infer", headers={"Authorization": f"Bearer {token}"},
                          json={"inputs": [{"name": "features", "shape": [1, 6], "datatype": "FP32",
                                            "data": x.ravel().tolist()}]}, timeout=10)
        assert r.status_code == 200, r.text
        assert {o["name"] for o in r.json()["outputs"]} == {"label", "probabilities"}
        # the pod spec's hardening is in force: read-only root, writable emptyDirs, uid 10001
        assert podman("exec", ctr, "touch", "/models/x", check=False).returncode != 0
        assert podman("exec", ctr, "touch", "/tmp/x", "/home/veneer/x", check=False).returncode == 0
        assert podman("exec", ctr, "id", "-u").stdout.strip() == "10001"
        env = podman("exec", ctr, "env").stdout
        assert f"VENEER_GRACEFUL_TIMEOUT={load_config(config_path, env={}).server.graceful_timeout}" in env
    finally:
        podman("kube", "down", str(manifest), check=False, timeout=120)
        podman("secret", "rm", f"{name}-jwt", check=False)


SIDECAR_CONFIG = """\
prefix: legacy
auth: {issuer: veneer-demo, audience: veneer, secret_env: VENEER_JWT_SECRET}
registry: {enabled: false}
models:
  churn:
    versions:
      - version: "1"
        adapter: http
        url: http://127.0.0.1:9000/score
        options:
          request: {format: json, body: records, orient: records}
          response: {format: json, path: "result.scores[*]", name: churn_probability}
          inputs: [tenure, monthly_charges, support_calls]
          health: {url: http://127.0.0.1:9000/healthz}
"""


def test_kube_play_runs_the_generated_sidecar_pod(images, jwt_secret, tmp_path):
    name = f"veneer-sc-{uuid.uuid4().hex[:8]}"
    (tmp_path / "veneer.yaml").write_text(SIDECAR_CONFIG)
    (tmp_path / "Dockerfile").write_text("FROM veneer\nCOPY . /models/\n")
    tag = f"localhost/veneer-sidecar-pod:{RUN_ID}"
    podman("build", "--pull=never", "--format", "docker", "-t", tag, str(tmp_path))
    with open(tmp_path / "veneer.yaml", "a") as f:
        f.write(f"deployment: {{image: {tag}, replicas: 1, max_replicas: 1, secret_name: {name}-jwt, "
                f"sidecar: {{legacy_image: {images.legacy}, legacy_port: 9000}}}}\n")
    config = load_config(tmp_path / "veneer.yaml", env={})
    deployment = k8s.build_manifests(config, name=name).by_kind("Deployment")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["legacy", "veneer"]
    host_port = free_port()
    containers[1]["ports"][0].update(hostPort=host_port, hostIP="127.0.0.1")
    # podman 4.3 publishes a containerPort without hostPort on the host's same port (Kubernetes
    # never does); the legacy port is only declared, so leave it out rather than take host :9000.
    # (podman also makes spec.replicas pods, all wanting the hostPort: hence replicas: 1.)
    del containers[0]["ports"]
    manifest = write_manifest_and_secret(tmp_path, name, deployment, jwt_secret)
    try:
        podman("kube", "play", str(manifest), timeout=120)
        base = f"http://127.0.0.1:{host_port}"
        wait_ready(base + "/v2/health/ready", f"{name}-pod-0-veneer")
        token = make_token(tmp_path / "veneer.yaml", jwt_secret, "--prefix", "legacy", "--model", "churn")
        rows = [{"tenure": 12, "monthly_charges": 70.0, "support_calls": 2}]
        r = requests.post(base + "/models/legacy/churn/", json={"dataframe_records": rows},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200, r.text
        from .test_images import _legacy_service

        assert r.json() == {"predictions": [{"churn_probability": _legacy_service().score(rows[0])}]}
    finally:
        podman("kube", "down", str(manifest), check=False, timeout=120)
        podman("secret", "rm", f"{name}-jwt", check=False)
        podman("rmi", "-f", tag, check=False)


@pytest.fixture
def podman_socket(podman_ready):
    """podman's Docker API on a socket of our own; stopped by its PID afterwards."""
    path = f"/tmp/veneer-podman-{RUN_ID}-{uuid.uuid4().hex[:6]}.sock"
    proc = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{path}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"unix://{path}"
    try:
        wait_for(lambda: os.path.exists(path) and docker_client(url, timeout=5).ping(), timeout=30,
                 what=f"podman API on {path}")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if os.path.exists(path):
            os.unlink(path)


def test_veneer_docker_build_through_the_podman_docker_api(images, podman_socket, jwt_secret):
    tag = f"localhost/veneer-examples:api-{RUN_ID}"
    lines = []
    image_id = build_image(images.context, tag=tag, base_url=podman_socket, on_log=lines.append)
    try:
        inspected = podman("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
        assert image_id.removeprefix("sha256:") == inspected
        assert any("COPY . /models/" in line for line in lines)
        # the API-built image is the real thing: it serves the context's config
        port = free_port()
        with container(tag, env={"VENEER_PORT": str(port), "VENEER_WORKERS": "1",
                                 "VENEER_JWT_SECRET": jwt_secret}) as name:
            wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", name)
            models = requests.get(f"http://127.0.0.1:{port}/v2/models/credit/ready", timeout=5,
                                  headers={"Authorization": "Bearer " + make_token(
                                      images.context / "veneer.yaml", jwt_secret, "--prefix", "risk")})
            assert models.status_code == 200, models.text
    finally:
        podman("rmi", "-f", tag, check=False)


def test_veneer_docker_build_cli_reports_a_failed_step(images, podman_socket, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM veneer\nRUN python -c 'raise SystemExit(7)'\n")
    proc = subprocess.run([sys.executable, "-m", "veneer.sidecar.cli", "docker", "build", "--context",
                           str(tmp_path), "--tag", f"localhost/veneer-broken:{RUN_ID}",
                           "--docker-host", podman_socket], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "docker build failed" in proc.stderr and "exit status 7" in proc.stderr
