"""Registration with an HTTP platform: the reference receiver of ``examples/`` (CASES 99-101, 104, 105)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.helpers.server import REPO, free_port
from tests.helpers.wait import wait_for
from veneer.sidecar.metrics import render_metrics
from veneer.sidecar.registration import REGISTERED, RETRYING, start_registration

from .conftest import Receiver

VERSIONS = [{"prefix": "risk", "model": "churn", "version": "1", "adapter": "pickle", "sha256": "ab" * 32,
             "stage": "production", "weight": 100, "draft": False, "artifact_path": "/srv/churn.pkl"}]


def _start(url: str, *, ttl=1.0, heartbeat=0.1, instance="inst-1", token_env=None, cap=0.3):
    section = {"mlflow": None, "retry_max_seconds": cap,
               "http": {"url": url, "ttl_seconds": ttl, "heartbeat_seconds": heartbeat,
                        "token_env": token_env}}
    return start_registration(section, endpoint_url="http://10.0.0.7:8080", instance_id=instance,
                              versions=VERSIONS)


def _registry_up() -> float | None:
    body = render_metrics()[0].decode()
    for line in body.splitlines():
        if line.startswith('veneer_registry_up{registry="http"}'):
            return float(line.split()[-1])
    return None


def test_register_heartbeat_and_deregister(receiver):
    reg = _start(receiver.url)
    wait_for(lambda: reg.state == REGISTERED, timeout=10, what="registered")
    listed = requests.get(receiver.url, timeout=5).json()["instances"]
    assert len(listed) == 1
    inst = listed[0]
    assert inst["instance_id"] == "inst-1" and inst["endpoint"] == "http://10.0.0.7:8080"
    assert inst["status"] == "up" and inst["models"][0]["sha256"] == "ab" * 32
    beats = receiver.store.hits["heartbeat"]
    wait_for(lambda: receiver.store.hits["heartbeat"] >= beats + 3, timeout=10, what="heartbeats")
    assert _registry_up() == 1.0
    t0 = time.monotonic()
    reg.stop(timeout=2.0)
    reg.stop(timeout=2.0)
    assert time.monotonic() - t0 < 2.5
    assert receiver.store.hits["deregister"] == 1              # exactly once
    assert requests.get(receiver.url, timeout=5).json()["instances"] == []
    assert _registry_up() == 0.0


def test_bearer_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("PLATFORM_TOKEN", "s3cret-platform-token")
    r = Receiver(token="s3cret-platform-token").start()
    try:
        good = _start(r.url, token_env="PLATFORM_TOKEN")
        wait_for(lambda: good.state == REGISTERED, timeout=10, what="registered with the token")
        good.stop()
        monkeypatch.setenv("PLATFORM_TOKEN", "not-the-token-42")
        bad = _start(r.url, token_env="PLATFORM_TOKEN", instance="inst-2")
        wait_for(lambda: bad.state == RETRYING, timeout=10, what="refused")
        assert "401" in bad.loop("http").last_error
        assert "not-the-token-42" not in bad.loop("http").last_error
        bad.stop()
        assert [i["instance_id"] for i in r.store.instances.values()] == []
    finally:
        r.shutdown()


def test_flapping_registry_toggles_the_gauge_and_recovers(receiver):
    reg = _start(receiver.url)
    try:
        wait_for(lambda: reg.state == REGISTERED, timeout=10, what="registered")
        receiver.store.fail_next = 4                         # a burst of 500s
        wait_for(lambda: reg.state == RETRYING and _registry_up() == 0.0, timeout=10,
                 what="retrying on 500, gauge at 0")
        wait_for(lambda: reg.state == REGISTERED and receiver.store.fail_next == 0, timeout=15,
                 what="registered again")
        assert _registry_up() == 1.0
        assert reg.loop("http").registrations >= 2             # re-asserted after the outage
    finally:
        reg.stop()


def test_registry_that_lost_its_state_gets_the_instance_back(receiver):
    reg = _start(receiver.url)
    try:
        wait_for(lambda: reg.state == REGISTERED, timeout=10, what="registered")
        port = receiver.port
        receiver.shutdown()
        fresh = Receiver(port=port).start()                  # same address, empty memory
        try:
            wait_for(lambda: "inst-1" in fresh.store.instances, timeout=15, what="re-registration")
            assert fresh.store.instances["inst-1"]["endpoint"] == "http://10.0.0.7:8080"
        finally:
            fresh.shutdown()
    finally:
        reg.stop(timeout=1.0)


def test_registry_down_at_start_then_up():
    port = free_port()
    t0 = time.monotonic()
    reg = _start(f"http://127.0.0.1:{port}/v1/instances")
    assert time.monotonic() - t0 < 0.5
    try:
        wait_for(lambda: reg.state == RETRYING, timeout=10, what="retrying")
        r = Receiver(port=port).start()
        try:
            wait_for(lambda: reg.state == REGISTERED, timeout=15, what="registered once up")
            assert list(r.store.instances) == ["inst-1"]
        finally:
            r.shutdown()
    finally:
        t0 = time.monotonic()
        reg.stop(timeout=2.0)                                # registry gone again: still bounded
        assert time.monotonic() - t0 < 2.5


_CHILD = """
import sys, time
from veneer.sidecar.registration import start_registration
reg = start_registration({"mlflow": None, "http": {"url": sys.argv[1], "ttl_seconds": 1.0,
                          "heartbeat_seconds": 0.1}}, endpoint_url="http://127.0.0.1:1",
                         instance_id="doomed", versions=[])
print("started", flush=True)
while True:
    time.sleep(1)
"""


@pytest.mark.slow
def test_sigkilled_instance_is_marked_gone_after_the_ttl(receiver):
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, receiver.url], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "doomed" in receiver.store.instances, timeout=30, what="registration")
        beats = receiver.store.hits["heartbeat"]
        wait_for(lambda: receiver.store.hits["heartbeat"] > beats + 2, timeout=10, what="heartbeats")
        status = lambda: requests.get(f"{receiver.url}/doomed", timeout=5).json()["status"]  # noqa: E731
        assert status() == "up"
        proc.send_signal(signal.SIGKILL)                     # no deregistration possible
        proc.wait(10)
        killed_at = time.monotonic()
        wait_for(lambda: status() == "gone", timeout=10, what="TTL expiry")
        assert time.monotonic() - killed_at > 0.5             # not before the TTL ran out
        assert receiver.store.hits["deregister"] == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_receiver_contract_rejects_bad_calls(receiver):
    bad = requests.post(receiver.url, data="not json", timeout=5)
    assert bad.status_code == 400
    missing = requests.post(receiver.url, json={"ttl_seconds": 5}, timeout=5)
    assert missing.status_code == 422 and "instance_id" in missing.json()["error"]
    assert requests.put(f"{receiver.url}/nobody/heartbeat", timeout=5).status_code == 404
    assert requests.delete(f"{receiver.url}/nobody", timeout=5).status_code == 404
    ok = requests.post(receiver.url, data=json.dumps({"instance_id": "a/b", "ttl_seconds": 5}),
                       timeout=5)
    assert ok.status_code == 201
    assert requests.put(f"{receiver.url}/a%2Fb/heartbeat", timeout=5).status_code == 200
