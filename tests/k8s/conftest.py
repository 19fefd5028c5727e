"""Configs for the manifest tests, written to tmp folders (no artifact is read: loading
a config resolves paths but opens nothing)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from veneer.wrapper.config import load_config

SERVED = """\
prefix: emea/risk
auth: {issuer: acme, audience: veneer, secret_env: VENEER_JWT_SECRET}
server: {port: 8181, graceful_timeout: 25}
models:
  credit:
    versions:
      - {version: "1", adapter: onnx, path: credit_risk.onnx}
deployment:
  image: registry.example/acme/credit:7
"""

SIDECAR = """\
prefix: legacy
auth: {issuer: acme, secret_env: SCORING_JWT_KEY}
models:
  churn:
    versions:
      - {version: "1", adapter: http, url: "http://127.0.0.1:9100/score"}
deployment:
  max_replicas: 1
  min_replicas: 1
  replicas: 3
  sidecar: {legacy_image: "acme/scoring:2014", legacy_port: 9100, legacy_health_path: /healthz}
"""


def write_config(folder: Path, text: str, extra: str = ""):
    """Write veneer.yaml (``extra`` YAML appended) into ``folder`` and load it as veneer would."""
    path = folder / "veneer.yaml"
    path.write_text(textwrap.dedent(text) + extra, encoding="utf-8")
    return load_config(path, env={})


@pytest.fixture
def served_config(tmp_path):
    """A model served by veneer itself, with an HPA and an HS256 token secret."""
    return write_config(tmp_path, SERVED)


@pytest.fixture
def sidecar_config(tmp_path):
    """A legacy service on 127.0.0.1:9100 fronted by veneer in the same pod, no HPA."""
    return write_config(tmp_path, SIDECAR)
