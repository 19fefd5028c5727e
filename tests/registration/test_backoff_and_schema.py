"""Backoff bounds and the ``registry:`` schema section."""

from __future__ import annotations

import random

import jsonschema
import pytest

from veneer.sidecar.registration import registry_settings
from veneer.sidecar.registration.backoff import Backoff
from veneer.wrapper.schema.registry import SCHEMA


def test_backoff_grows_is_capped_jittered_and_resets():
    b = Backoff(base=0.5, cap=8.0, rng=random.Random(1))
    delays = [b.next() for _ in range(12)]
    nominal = [min(8.0, 0.5 * 2 ** i) for i in range(12)]
    assert all(n / 2 <= d <= n for d, n in zip(delays, nominal))
    assert max(delays) <= 8.0 and delays[-1] >= 4.0
    assert len(set(delays)) == len(delays)                  # jittered, not lock-step
    b.reset()
    assert b.next() <= 0.5


def test_many_instances_spread_their_retries():
    firsts = [Backoff(base=1, cap=60, rng=random.Random(seed)).next() for seed in range(200)]
    assert max(firsts) - min(firsts) > 0.3


@pytest.mark.parametrize("base,cap", [(0, 1), (-1, 1), (2, 1)])
def test_backoff_rejects_nonsense(base, cap):
    with pytest.raises(ValueError, match="base"):
        Backoff(base=base, cap=cap)


def _walk(schema, path="registry"):
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.{name}")


def test_every_property_has_a_description_and_a_default():
    for path, node in _walk(SCHEMA):
        assert node.get("description"), path
        if path != "registry.http.url":                     # required, so no default
            assert "default" in node, path
        if node.get("properties"):
            assert node["additionalProperties"] is False, path


def test_defaults_validate_against_the_schema():
    jsonschema.validate(registry_settings({}), SCHEMA)
    for path, node in _walk(SCHEMA):
        if path.count(".") == 1:
            jsonschema.validate(node["default"], node)


@pytest.mark.parametrize("section", [
    {"mlflow": "sqlite:///r.db", "http": {"url": "http://platform:8500/v1/instances", "ttl_seconds": 20,
                                          "token_env": "PLATFORM_TOKEN"}, "drive_traffic": True},
    {"mlflow": False}, {"mlflow": "none", "enabled": False}, {"endpoint_url": "https://churn.acme"},
])
def test_valid_sections(section):
    jsonschema.validate(section, SCHEMA)


@pytest.mark.parametrize("section,word", [
    ({"mlfow": "x"}, "mlfow"), ({"http": {"url": "ftp://x"}}, "ftp"),
    ({"http": {"ttl_seconds": 3}}, "url"), ({"heartbeat_seconds": 0}, "0"),
    ({"http": {"url": "http://x", "token": "inline-secret"}}, "token"),
])
def test_invalid_sections(section, word):
    with pytest.raises(jsonschema.ValidationError) as e:
        jsonschema.validate(section, SCHEMA)
    assert word in str(e.value.message)


def test_settings_fill_nested_http_defaults():
    s = registry_settings({"http": {"url": "http://p/v1/instances"}})
    assert s["http"] == {"url": "http://p/v1/instances", "ttl_seconds": 30, "heartbeat_seconds": None,
                         "token_env": None, "timeout_seconds": 2}
    assert s["mlflow"] == "sqlite:///veneer-registry.db" and s["enabled"] is True
