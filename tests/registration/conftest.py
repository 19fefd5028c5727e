"""Fixtures of the registration tests: a real MLflow registry (SQLite) and the reference receiver.

The MLflow schema migrations take seconds, so one migrated database is made per
session and copied for each test. The HTTP platform is
``examples/platform_registry/receiver.py`` itself, served on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import threading
from pathlib import Path

import pytest

from tests.helpers.server import REPO, free_port

MLFLOW_ENV = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT",
              "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")   # tests talk to 127.0.0.1 only
os.environ.setdefault("DO_NOT_TRACK", "true")


@pytest.fixture(autouse=True)
def _restore_mlflow_env():
    """The MLflow backend bounds MLflow's retries process-wide; undo that for other tests."""
    saved = {k: os.environ.get(k) for k in MLFLOW_ENV}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """A migrated, empty MLflow SQLite database."""
    db = tmp_path_factory.mktemp("mlflow-template") / "registry.db"
    from mlflow import MlflowClient

    uri = f"sqlite:///{db}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
    return db


@pytest.fixture
def mlflow_db(tmp_path, mlflow_template) -> Path:
    """A fresh copy of the template database for one test."""
    db = tmp_path / "registry.db"
    shutil.copy(mlflow_template, db)
    return db


def client_for(db: Path):
    """An ``MlflowClient`` on ``db`` (what an admin would use to read the registry)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{db}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture
def artifacts(tmp_path) -> list[dict]:
    """Three versions of risk/churn: two real files (production, staging) and a draft."""
    items = []
    for version, stage, weight, draft in (("1", "production", 90, False), ("2", "staging", 10, False),
                                          ("3", None, 0, True)):
        path = tmp_path / f"churn_v{version}.pkl"
        path.write_bytes(f"legacy model bytes {version}".encode())
        items.append({"prefix": "risk", "model": "churn", "version": version, "adapter": "pickle",
                      "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "stage": stage,
                      "weight": weight, "draft": draft, "artifact_path": str(path)})
    return items


def load_receiver_module():
    """``examples/platform_registry/receiver.py`` as a module."""
    path = REPO / "examples" / "platform_registry" / "receiver.py"
    spec = importlib.util.spec_from_file_location("veneer_example_receiver", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Receiver:
    """The reference receiver on a port; ``start()`` / ``shutdown()`` may be repeated."""

    def __init__(self, port: int | None = None, token: str | None = None) -> None:
        self.module = load_receiver_module()
        self.port = port or free_port()
        self.token = token
        self.url = f"http://127.0.0.1:{self.port}/v1/instances"
        self.server = None

    def start(self) -> "Receiver":
        self.server = self.module.make_server("127.0.0.1", self.port, token=self.token)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def store(self):
        return self.server.store

    def shutdown(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def receiver():
    """A running reference receiver without a token."""
    r = Receiver().start()
    yield r
    r.shutdown()
