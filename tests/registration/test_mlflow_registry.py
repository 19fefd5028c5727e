"""Registration with a real MLflow Model Registry on a SQLite file (CASES 99, 101, 102, 104)."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.helpers.server import free_port
from tests.helpers.wait import wait_for
from veneer.sidecar.registration import REGISTERED, RETRYING, start_registration
from veneer.sidecar.registration.mlflow_registry import (LATEST_ALIAS, registered_name,
                                                         resolve_tracking_uri)

from .conftest import client_for

NAME = "risk.churn"


def _start(db, artifacts, instance="inst-a", **extra):
    section = {"mlflow": f"sqlite:///{db}", "heartbeat_seconds": 30, **extra}
    return start_registration(section, endpoint_url="http://127.0.0.1:8080", instance_id=instance,
                              versions=artifacts)


def _versions(client) -> list:
    return sorted(client.search_model_versions(f"name = '{NAME}'"), key=lambda mv: int(mv.version))


def _aliases(client) -> dict[str, str]:
    return {alias: str(v) for alias, v in client.get_registered_model(NAME).aliases.items()}


def test_three_restarts_keep_one_registry_version_per_artifact(mlflow_db, artifacts):
    client = client_for(mlflow_db)
    for cycle, instance in enumerate(("inst-a", "inst-b", "inst-c")):
        t0 = time.monotonic()
        reg = _start(mlflow_db, artifacts, instance=instance)
        assert time.monotonic() - t0 < 0.5                 # returns at once
        wait_for(lambda: reg.state == REGISTERED, timeout=60, what="registered")
        mvs = _versions(client)
        assert [mv.tags["veneer.sha256"] for mv in mvs] == [a["sha256"] for a in artifacts]
        assert [str(mv.version) for mv in mvs] == ["1", "2", "3"]
        one = mvs[0]
        assert one.source == f"file://{artifacts[0]['artifact_path']}"
        assert {k: one.tags[k] for k in ("veneer.version", "veneer.adapter", "veneer.weight",
                                         "veneer.stage", "veneer.draft", "veneer.endpoint",
                                         "veneer.instance_id")} == {
            "veneer.version": "1", "veneer.adapter": "pickle", "veneer.weight": "90",
            "veneer.stage": "production", "veneer.draft": "false",
            "veneer.endpoint": "http://127.0.0.1:8080", "veneer.instance_id": instance}
        assert abs(float(one.tags["veneer.heartbeat"]) - time.time()) < 60
        assert one.tags["veneer.veneer_version"]
        assert f"veneer.instance.{instance}" in one.tags
        aliases = _aliases(client)
        # the draft (v3) is never the latest
        assert aliases == {"production": "1", "staging": "2", LATEST_ALIAS: "2"}
        t0 = time.monotonic()
        reg.stop(timeout=2.0)
        assert time.monotonic() - t0 < 2.5
        assert reg.deregistrations == 1
        after = _versions(client)
        assert len(after) == 3, f"cycle {cycle} created a duplicate"
        assert not any(k.startswith("veneer.instance") or k == "veneer.endpoint"
                       for mv in after for k in mv.tags)
        assert after[0].tags["veneer.sha256"] == artifacts[0]["sha256"]   # identity stays
        assert _aliases(client) == {}


def test_registered_model_created_by_someone_else_is_fine(mlflow_db, artifacts):
    client = client_for(mlflow_db)
    client.create_registered_model(NAME)                 # RESOURCE_ALREADY_EXISTS for veneer
    reg = _start(mlflow_db, artifacts[:1])
    try:
        wait_for(lambda: reg.state == REGISTERED, timeout=60, what="registered")
        assert [str(mv.version) for mv in _versions(client)] == ["1"]
    finally:
        reg.stop()


def test_changed_bytes_make_a_new_version_and_move_the_alias(mlflow_db, artifacts):
    client = client_for(mlflow_db)
    reg = _start(mlflow_db, artifacts[:1])
    wait_for(lambda: reg.state == REGISTERED, timeout=60, what="registered")
    reg.stop()
    retrained = dict(artifacts[0], sha256="0" * 64)
    reg = _start(mlflow_db, [retrained])
    try:
        wait_for(lambda: reg.state == REGISTERED, timeout=60, what="registered")
        mvs = _versions(client)
        assert [mv.tags["veneer.sha256"] for mv in mvs] == [artifacts[0]["sha256"], "0" * 64]
        assert _aliases(client)["production"] == "2"
    finally:
        reg.stop()


def test_heartbeat_tag_advances_and_a_wiped_registry_is_reasserted(mlflow_db, artifacts):
    client = client_for(mlflow_db)
    reg = _start(mlflow_db, artifacts[:2], heartbeat_seconds=0.2)
    try:
        wait_for(lambda: reg.state == REGISTERED, timeout=60, what="registered")
        first = float(_versions(client)[0].tags["veneer.heartbeat"])
        wait_for(lambda: float(_versions(client)[0].tags["veneer.heartbeat"]) > first, timeout=10,
                 what="a newer heartbeat tag")
        client.delete_registered_model(NAME)               # the registry lost its state
        wanted = {"production": "1", "staging": "2", LATEST_ALIAS: "2"}
        wait_for(lambda: len(_versions(client)) == 2 and _aliases(client) == wanted, timeout=10,
                 what="re-registration with aliases")
        assert [mv.tags["veneer.sha256"] for mv in _versions(client)] == [a["sha256"] for a in artifacts[:2]]
    finally:
        reg.stop()


def test_other_live_instance_keeps_the_aliases(mlflow_db, artifacts):
    client = client_for(mlflow_db)
    a = _start(mlflow_db, artifacts[:1], instance="a")
    b = _start(mlflow_db, artifacts[:1], instance="b")
    wait_for(lambda: a.state == REGISTERED and b.state == REGISTERED, timeout=60, what="both")
    a.stop()
    mv = _versions(client)[0]
    assert "veneer.instance.a" not in mv.tags and "veneer.instance.b" in mv.tags
    assert _aliases(client)["production"] == "1"
    b.stop()
    assert _aliases(client) == {}
    assert len(_versions(client)) == 1


def test_unreachable_registry_does_not_block_and_stop_stays_bounded(artifacts):
    port = free_port()                                    # nothing listens there
    t0 = time.monotonic()
    reg = start_registration({"mlflow": f"http://127.0.0.1:{port}", "retry_max_seconds": 1},
                             endpoint_url="http://127.0.0.1:8080", instance_id="x", versions=artifacts)
    assert time.monotonic() - t0 < 0.5
    wait_for(lambda: reg.state == RETRYING, timeout=60, what="retrying")
    assert "127.0.0.1" in reg.loop("mlflow").last_error or "Connection" in reg.loop("mlflow").last_error
    t0 = time.monotonic()
    reg.stop(timeout=2.0)
    assert time.monotonic() - t0 < 2.6
    reg.stop(timeout=2.0)                                  # a second stop is a no-op
    assert reg.state == "stopped"


def test_registry_that_appears_later_is_registered(tmp_path, mlflow_template, artifacts):
    # MLflow creates missing folders, so block the path with a file until the registry "comes up"
    later = tmp_path / "not-yet"
    later.write_text("a file where the registry's folder will be")
    db = later / "registry.db"
    reg = start_registration({"mlflow": f"sqlite:///{db}", "retry_max_seconds": 0.5},
                             endpoint_url="http://127.0.0.1:8080", instance_id="x", versions=artifacts)
    try:
        wait_for(lambda: reg.state == RETRYING, timeout=60, what="retrying")
        later.unlink()
        later.mkdir()
        shutil.copy(mlflow_template, db)                  # the registry comes up
        wait_for(lambda: reg.state == REGISTERED, timeout=30, what="registered after the outage")
        assert len(_versions(client_for(db))) == 3
        assert reg.loop("mlflow").registrations == 1
    finally:
        reg.stop()


@pytest.mark.parametrize("section", [{"enabled": False}, {"mlflow": "none"}, {"mlflow": False},
                                     {"mlflow": None}])
def test_registration_can_be_switched_off(section):
    assert start_registration(section, endpoint_url="http://x", instance_id="i", versions=[]) is None


def test_relative_sqlite_uri_resolves_next_to_the_config(tmp_path):
    assert resolve_tracking_uri("sqlite:///veneer-registry.db", tmp_path) == \
        f"sqlite:///{tmp_path.resolve()}/veneer-registry.db"
    assert resolve_tracking_uri("sqlite:////abs/r.db", tmp_path) == "sqlite:////abs/r.db"
    assert resolve_tracking_uri("http://mlflow:5000", tmp_path) == "http://mlflow:5000"


def test_registered_names():
    assert registered_name("{prefix}.{model}", "emea/risk", "churn") == "emea.risk.churn"
    assert registered_name("{prefix}.{model}", "", "churn") == "churn"
    assert registered_name("legacy-{model}", "risk", "churn") == "legacy-churn"


def test_version_stuck_pending_is_bounded_and_finished_on_retry(mlflow_db, artifacts):
    """CASES 103. OSS stores create versions READY at once, and a real ``mlflow server`` takes ~30 s
    to start here, so the REST store's answer to a stuck version is reproduced on the real SQLite
    client: the version is created, then the wait gives up with MLflow's own exception."""
    from mlflow.exceptions import MlflowException
    from veneer.sidecar.registration import Registrar
    from veneer.sidecar.registration.mlflow_registry import MlflowBackend

    backend = MlflowBackend(f"sqlite:///{mlflow_db}", versions=artifacts[:1], endpoint_url="http://e",
                            instance_id="p", heartbeat_seconds=30)
    client = backend.client()
    real_create, waits = client.create_model_version, []

    def stuck(*args, await_creation_for=300, **kwargs):
        waits.append(await_creation_for)
        mv = real_create(*args, await_creation_for=await_creation_for, **kwargs)
        raise MlflowException(f"Exceeded max wait time for model name: {mv.name} version: "
                              f"{mv.version} to become READY. Status: PENDING_REGISTRATION")

    client.create_model_version = stuck
    reg = Registrar([backend], retry_cap=0.2).start()
    try:
        wait_for(lambda: reg.state == REGISTERED, timeout=30, what="registered after the retry")
        assert waits == [2]                                  # bounded wait, one creation only
        mvs = _versions(client_for(mlflow_db))
        assert len(mvs) == 1 and mvs[0].tags["veneer.instance_id"] == "p"
        assert _aliases(client_for(mlflow_db))["production"] == "1"
        assert reg.loop("mlflow").failures == 1 and reg.loop("mlflow").registrations == 1
    finally:
        reg.stop()
