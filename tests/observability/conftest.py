"""Fixtures of the metrics tests: a real prometheus multiprocess directory, restored afterwards."""

from __future__ import annotations

import os

import pytest
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from veneer.sidecar.metrics import render_metrics
from veneer.sidecar.metrics_multiproc import ENV, prepare_multiproc_dir


@pytest.fixture
def multiproc(tmp_path):
    """A prepared multiprocess dir (env set, value class switched); undone after the test."""
    saved_env, saved_class = os.environ.pop(ENV, None), values.ValueClass
    path = prepare_multiproc_dir(tmp_path / "prom", workers=4)
    yield path
    os.environ.pop(ENV, None)
    if saved_env is not None:
        os.environ[ENV] = saved_env
    values.ValueClass = saved_class


def scrape() -> dict[str, dict[tuple, float]]:
    """``render_metrics()`` parsed: sample name -> {sorted label items: value}."""
    body, content_type = render_metrics()
    assert content_type.startswith("text/plain")
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def total(samples: dict[str, dict[tuple, float]], name: str, **match: str) -> float:
    """Sum of ``name`` over the label sets containing ``match``."""
    return sum(v for labels, v in samples.get(name, {}).items()
               if all(dict(labels).get(k) == want for k, want in match.items()))
