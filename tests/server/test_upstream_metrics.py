"""Upstream failures of an http version are counted in /metrics by reason."""

from __future__ import annotations

import textwrap

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.server import VeneerServer, free_port

pytestmark = pytest.mark.slow


def test_connect_errors_are_counted_by_reason(tmp_path):
    closed = free_port()  # nothing listens here: every call is a connection refusal
    config = tmp_path / "veneer.yaml"
    config.write_text(textwrap.dedent(f"""
        prefix: legacy
        auth: none
        registry: {{enabled: false}}
        models:
          score:
            versions:
              - version: "1"
                adapter: http
                url: http://127.0.0.1:{closed}/score
                options:
                  timeouts: {{connect: 0.2, read: 0.5, deadline: 1.0}}
                  retries: {{attempts: 1}}
        """))
    with VeneerServer(config, workers=1) as srv:
        for _ in range(3):
            r = requests.post(srv.url + "/models/legacy/score/", json=[{"x": 1}], timeout=10)
            assert r.status_code == 503 and r.json()["code"] == "upstream_unavailable"
        text = requests.get(srv.url + "/metrics", timeout=5).text
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == "veneer_upstream_errors_total"]
    counted = {s.labels["reason"]: s.value for s in samples if s.labels.get("model") == "legacy/score"}
    assert counted.get("connect_error", 0) >= 3, counted
