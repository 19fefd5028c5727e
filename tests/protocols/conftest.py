"""An app with toy adapters behind every protocol, driven with Flask's test client."""

from __future__ import annotations

import textwrap

import pytest

from veneer.sidecar.app import create_app
from veneer.wrapper.config import load_config

TOY = "tests.fixtures.toy_adapters"

CONFIG = f"""
prefix: risk
auth: none
registry: {{enabled: false}}
server: {{access_log: false, max_request_bytes: 4096, max_rows: 1000, default_model: risk/sum}}
models:
  sum:
    versions:
      - {{version: "1", adapter: "{TOY}:SumAdapter", stage: production, weight: 100}}
      - {{version: "2", adapter: "{TOY}:SumAdapter", stage: staging, weight: 0, options: {{offset: 1000}}}}
      - {{version: "3", adapter: "{TOY}:FailingAdapter", draft: true}}
  crash:
    versions:
      - {{version: "1", adapter: "{TOY}:CrashingAdapter"}}
"""


@pytest.fixture(scope="session")
def toy_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("protocols") / "veneer.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    return load_config(path, env={})


@pytest.fixture(scope="session")
def app(toy_config):
    return create_app(toy_config)


@pytest.fixture()
def client(app):
    return app.test_client()
