"""Registry-driven traffic (registry.drive_traffic) goes through the admin API's validation."""

from __future__ import annotations

import pytest

from tests.server.conftest import toy_config
from veneer.sidecar.traffic_store import TrafficStore, apply_external_changes
from veneer.wrapper.config import load_config
from veneer.wrapper.errors import InvalidInput, VersionNotFound


@pytest.fixture()
def store(tmp_path):
    return TrafficStore(load_config(toy_config(tmp_path), env={}))


def test_valid_changes_are_persisted_and_seen(store, tmp_path):
    apply_external_changes(store, {"risk/sum": {"1": {"weight": 50}, "2": {"stage": "production", "weight": 50}}})
    other = TrafficStore(load_config(toy_config(tmp_path), env={}))  # another worker reading the same state
    assert other.table.models["risk/sum"].traffic == (("1", 50.0), ("2", 50.0))


@pytest.mark.parametrize("changes, error", [
    ({"risk/nope": {"1": {"weight": 1}}}, InvalidInput),
    ({"risk/sum": {"9": {"weight": 1}}}, VersionNotFound),
    ({"risk/sum": {"1": {"weight": -1}}}, InvalidInput),
    ({"risk/sum": {"1": {"weight": 0}, "2": {"weight": 0}}}, InvalidInput),
])
def test_invalid_changes_change_nothing(store, changes, error):
    before = store.table.models["risk/sum"].traffic
    with pytest.raises(error):
        apply_external_changes(store, changes)
    store.refresh()
    assert store.table.models["risk/sum"].traffic == before
    assert not store.path.exists()
