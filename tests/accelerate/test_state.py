"""The shared promotion record: atomic file per version, fingerprint-checked, degrading to memory."""

from __future__ import annotations

import json

from veneer.adapters.accelerate.state import PROMOTED, SharedState, state_dir_for
from veneer.wrapper.settings import VersionSpec


def promote(r):
    r["state"] = PROMOTED
    r["rows_agreed"] += 7


def test_update_is_seen_by_another_reader_and_other_fingerprints_start_fresh(tmp_path):
    a = SharedState(tmp_path, "risk/churn", "2", "sha-a")
    a.update(promote)
    again = SharedState(tmp_path, "risk/churn", "2", "sha-a").read()
    assert (again["state"], again["rows_agreed"]) == ("promoted", 7)
    other_bytes = SharedState(tmp_path, "risk/churn", "2", "sha-b").read()
    assert (other_bytes["state"], other_bytes["rows_agreed"]) == ("shadow", 0)
    assert SharedState(tmp_path, "risk/churn", "3", "sha-a").read()["state"] == "shadow"
    assert not list((tmp_path / "accelerate").glob(".tmp-*"))  # nothing half-written left behind


def test_a_corrupt_file_reads_as_fresh(tmp_path, caplog):
    s = SharedState(tmp_path, "m", "1", "f")
    s.update(promote)
    s.path.write_text("{not json")
    assert s.read()["state"] == "shadow" and "unreadable acceleration state" in caplog.text
    s.path.write_text(json.dumps(["a", "list"]))
    assert s.read()["state"] == "shadow"


def test_an_unwritable_state_dir_keeps_the_state_in_memory(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the folder should be")
    s = SharedState(blocker, "m", "1", "f")
    record = s.update(promote)
    assert record["state"] == "promoted" and "cannot be shared" in caplog.text
    assert s.update(lambda r: r.update(rows_agreed=r["rows_agreed"] + 1))["rows_agreed"] == 8


def test_state_dir_follows_the_env_then_the_config_folder(tmp_path, monkeypatch):
    spec = VersionSpec(version="1", adapter="pickle", origin=f"{tmp_path}/veneer.yaml:12")
    monkeypatch.setenv("VENEER_STATE_DIR", str(tmp_path / "env-state"))
    assert state_dir_for(spec) == tmp_path / "env-state"
    monkeypatch.delenv("VENEER_STATE_DIR")
    assert state_dir_for(spec) == tmp_path.resolve() / ".veneer-state"
