"""``registry.drive_traffic``: an admin edits aliases and weight tags in a real MLflow registry (CASES 106)."""

from __future__ import annotations

import pytest

from tests.helpers.wait import wait_for
from veneer.sidecar.registration import REGISTERED, start_registration

from .conftest import client_for

NAME = "risk.churn"


class Sink:
    """Collects what the follower hands over; ``refuse`` makes it raise like the admin API would."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.refuse: str | None = None

    def __call__(self, changes: dict) -> None:
        if self.refuse:
            raise ValueError(self.refuse)
        self.calls.append(changes)


def start_driving(mlflow_db, artifacts, sink, *, every: float):
    """Registration with drive_traffic on, polling and heartbeating every ``every`` seconds."""
    return start_registration({"mlflow": f"sqlite:///{mlflow_db}", "drive_traffic": True,
                               "poll_seconds": every, "heartbeat_seconds": every},
                              endpoint_url="http://127.0.0.1:8080", instance_id="i1",
                              versions=artifacts, on_traffic_change=sink)


@pytest.fixture
def driven(mlflow_db, artifacts):
    sink = Sink()
    reg = start_driving(mlflow_db, artifacts, sink, every=3600)
    wait_for(lambda: reg.state == REGISTERED, timeout=60, what="registered")
    follower = reg.followers[0]
    assert follower.poll_once() == {}                       # the first picture is the baseline
    yield client_for(mlflow_db), follower, sink, reg
    reg.stop()


def _weights(client, **by_version: str) -> None:
    for mv in client.search_model_versions(f"name = '{NAME}'"):
        version = mv.tags["veneer.version"]
        if version in by_version:
            client.set_model_version_tag(NAME, mv.version, "veneer.weight", by_version[version])


def test_weights_edited_one_by_one_apply_once_they_add_up(driven):
    client, follower, sink, _ = driven
    _weights(client, **{"1": "70"})                         # 70 + 10: an intermediate state
    assert follower.poll_once() == {}
    assert "sum to 80" in follower.rejected["risk/churn"]
    _weights(client, **{"2": "30"})
    changes = follower.poll_once()
    assert changes == {"risk/churn": {"1": {"stage": "production", "weight": 70.0},
                                      "2": {"stage": "staging", "weight": 30.0},
                                      "3": {"stage": None, "weight": 0.0}}}
    assert sink.calls == [changes]
    assert follower.rejected == {}
    assert follower.poll_once() == {}                       # nothing new: nothing sent


@pytest.mark.parametrize("w1,w2,reason", [("120", "10", "sum to 130"), ("nan", "10", "finite"),
                                          ("-10", "110", "finite"), ("0", "0", "sum to 0"),
                                          ("ninety", "10", "not a number")])
def test_invalid_weights_are_rejected_and_the_last_good_ones_stay(driven, w1, w2, reason):
    client, follower, sink, _ = driven
    _weights(client, **{"1": w1, "2": w2})
    assert follower.poll_once() == {}
    assert reason in follower.rejected["risk/churn"]
    assert sink.calls == []
    assert follower.applied["risk/churn"]["1"]["weight"] == 90.0


def test_moving_the_production_alias_promotes_and_demotes(driven):
    client, follower, sink, _ = driven
    client.set_registered_model_alias(NAME, "production", "2")
    client.delete_registered_model_alias(NAME, "staging")
    changes = follower.poll_once()
    assert changes["risk/churn"]["2"]["stage"] == "production"
    assert changes["risk/churn"]["1"]["stage"] is None


def test_alias_on_a_version_not_deployed_here_is_rejected(driven, artifacts):
    client, follower, sink, _ = driven
    stranger = client.create_model_version(NAME, "file:///elsewhere/model.pkl",
                                           tags={"veneer.sha256": "e" * 64})
    client.set_registered_model_alias(NAME, "production", str(stranger.version))
    assert follower.poll_once() == {}
    assert "not deployed" in follower.rejected["risk/churn"]
    assert sink.calls == []


def test_a_change_the_server_refuses_keeps_the_old_state(driven):
    client, follower, sink, _ = driven
    sink.refuse = "model risk/churn would have no traffic"
    _weights(client, **{"1": "50", "2": "50"})
    assert follower.poll_once() == {}
    assert "no traffic" in follower.rejected["risk/churn"]
    assert follower.applied["risk/churn"]["1"]["weight"] == 90.0
    sink.refuse = None
    assert follower.poll_once()["risk/churn"]["1"]["weight"] == 50.0


def test_heartbeats_do_not_overwrite_the_admins_edits(mlflow_db, artifacts):
    sink = Sink()
    reg = start_driving(mlflow_db, artifacts, sink, every=0.2)
    try:
        wait_for(lambda: reg.state == REGISTERED and reg.followers[0].applied, timeout=60,
                 what="registered and baseline taken")
        client = client_for(mlflow_db)
        _weights(client, **{"1": "60", "2": "40"})
        wait_for(lambda: sink.calls and sink.calls[-1]["risk/churn"]["1"]["weight"] == 60.0,
                 timeout=10, what="the change followed within the poll interval")
        assert [c["risk/churn"]["2"]["weight"] for c in sink.calls] == [40.0]
        beats = reg.loop("mlflow").heartbeats
        wait_for(lambda: reg.loop("mlflow").heartbeats >= beats + 3, timeout=20, what="heartbeats")
        tags = {mv.tags["veneer.version"]: mv.tags["veneer.weight"]
                for mv in client.search_model_versions(f"name = '{NAME}'")}
        assert tags["1"] == "60" and tags["2"] == "40"
    finally:
        reg.stop()


def test_drive_traffic_without_a_receiver_is_ignored(mlflow_db, artifacts):
    reg = start_registration({"mlflow": f"sqlite:///{mlflow_db}", "drive_traffic": True},
                             endpoint_url="http://x", instance_id="i", versions=artifacts)
    try:
        assert reg.followers == []
    finally:
        reg.stop()
