"""Process lifecycle of a real server (CASES.md section F)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

from tests.helpers.server import VeneerServer
from tests.helpers.wait import wait_for

from .conftest import toy_config

pytestmark = pytest.mark.slow
ROWS = {"instances": [[1, 2]]}


def test_sigterm_lets_in_flight_request_finish(tmp_path):
    srv = VeneerServer(toy_config(tmp_path, server="graceful_timeout: 30"), workers=1).start()
    result = {}

    def slow_call():
        result["r"] = requests.post(srv.url + "/v1/models/slow:predict", json=ROWS, timeout=20)

    t = threading.Thread(target=slow_call)
    t.start()
    try:
        # the slow model writes a marker when predict starts, then sleeps 2 s
        wait_for(lambda: (tmp_path / "slow.started").exists(), timeout=10, what="request in flight")
        start = time.monotonic()
        code = srv.stop(signal.SIGTERM, timeout=30)
        t.join(timeout=20)
    finally:
        srv.stop(signal.SIGKILL)
    assert result["r"].status_code == 200 and result["r"].json() == {"predictions": [3.0]}
    assert code == 0
    assert time.monotonic() - start < 10, "shutdown must not wait for the whole graceful timeout"
    with pytest.raises(requests.ConnectionError):
        requests.get(srv.url + "/v2/health/live", timeout=2)


def test_sigint_is_a_quick_shutdown(tmp_path):
    srv = VeneerServer(toy_config(tmp_path), workers=1).start()
    start = time.monotonic()
    code = srv.stop(signal.SIGINT, timeout=15)
    assert code == 0 and time.monotonic() - start < 5


def test_hung_predict_is_aborted_and_the_worker_respawns(tmp_path):
    srv = VeneerServer(toy_config(tmp_path, server="timeout: 1"), workers=1).start()
    try:
        with _any_outcome():
            requests.post(srv.url + "/v1/models/slow:predict", json=ROWS, timeout=10)
        wait_for(lambda: "past server.timeout" in srv.log(), timeout=15, what="watchdog message in log")
        assert "time.sleep" in srv.log()  # the hung thread's stack is logged
        r = wait_for(lambda: requests.post(srv.url + "/v1/models/sum/versions/1:predict", json=ROWS, timeout=3),
                     timeout=20, what="respawned worker answers")
        assert r.json() == {"predictions": [3.0]}
        assert requests.get(srv.url + "/v2/health/ready", timeout=3).status_code == 200
    finally:
        srv.stop()


class _any_outcome:
    """The hung request may be cut (connection reset) or answered 500 depending on timing."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return exc_type is None or issubclass(exc_type, requests.RequestException)


def test_failed_version_is_503_with_reason_and_others_serve(tmp_path):
    with VeneerServer(toy_config(tmp_path), workers=1) as srv:
        r = requests.post(srv.url + "/v1/models/sum/versions/3:predict", json=ROWS, timeout=5)
        assert r.status_code == 503 and "broken on purpose" in r.json()["error"]
        assert requests.post(srv.url + "/v1/models/sum/versions/1:predict", json=ROWS, timeout=5).status_code == 200
        # the draft failure does not make the server unready: it takes no traffic
        assert requests.get(srv.url + "/v2/health/ready", timeout=5).status_code == 200


def test_strict_load_exits_non_zero_with_the_reason(tmp_path):
    srv = VeneerServer(toy_config(tmp_path, server="strict_load: true"), workers=1)
    with pytest.raises(AssertionError, match="broken on purpose"):
        srv.start(timeout=30)


def test_not_ready_until_traffic_version_loads(tmp_path):
    extra = """
      broken:
        versions:
          - {version: '1', adapter: 'tests.fixtures.toy_adapters:FailingAdapter', stage: production}
    """
    with VeneerServer(toy_config(tmp_path, extra_models=extra), workers=1) as srv:
        assert requests.get(srv.url + "/v2/health/live", timeout=5).status_code == 200
        r = requests.get(srv.url + "/v2/health/ready", timeout=5)
        assert r.status_code == 503
        assert "broken on purpose" in r.json()["not_ready"]["risk/broken"]["1"]


def test_worker_recycling_loses_no_request(tmp_path):
    with VeneerServer(toy_config(tmp_path, server="max_requests: 30, max_requests_jitter: 10"), workers=2) as srv:
        s = requests.Session()
        failures = 0
        for _ in range(300):
            try:
                r = s.post(srv.url + "/v1/models/sum/versions/1:predict", json=ROWS, timeout=10)
                failures += r.status_code != 200
            except requests.ConnectionError:
                failures += 1
        assert failures == 0
        assert srv.log().count("Autorestarting worker") >= 4


def test_idle_keepalive_client_does_not_delay_shutdown(tmp_path):
    """gunicorn's gthread worker alone would wait the whole graceful_timeout for idle pools."""
    srv = VeneerServer(toy_config(tmp_path, server="graceful_timeout: 30"), workers=1).start()
    session = requests.Session()  # keeps its connection open after the answer
    assert session.post(srv.url + "/v1/models/sum/versions/1:predict", json=ROWS, timeout=5).status_code == 200
    start = time.monotonic()
    assert srv.stop(signal.SIGTERM, timeout=40) == 0
    assert time.monotonic() - start < 10


def test_sigterm_while_a_worker_is_still_loading_is_not_lost(tmp_path):
    """Until gunicorn installs the worker's handlers, a forked worker has the master's, which queue
    the signal for a loop that never runs there: the master would wait graceful_timeout."""
    marker = tmp_path / "loading"
    extra = f"""
      big:
        versions:
          - {{version: '1', adapter: 'tests.fixtures.toy_adapters:SlowLoadAdapter',
              options: {{load_delay: 60, load_marker: '{marker}'}}}}
    """
    srv = VeneerServer(toy_config(tmp_path, server="graceful_timeout: 20", extra_models=extra), workers=1)
    srv.start(wait=False)
    try:
        wait_for(marker.exists, timeout=30, what="the worker to start loading")
        start = time.monotonic()
        code = srv.stop(signal.SIGTERM, timeout=40)
    finally:
        srv.stop(signal.SIGKILL)
    assert time.monotonic() - start < 10, "the master waited for a worker that never heard the signal"
    assert code == 0


def _children(pid: int) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.add(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_die_with_a_killed_master(tmp_path):
    """A SIGKILLed master must not leave workers behind that nothing can stop."""
    srv = VeneerServer(toy_config(tmp_path), workers=2).start()
    try:
        workers = wait_for(lambda: _children(srv.proc.pid) if len(_children(srv.proc.pid)) == 2 else None,
                           timeout=10, what="two workers")
        srv.proc.kill()
        srv.proc.wait(timeout=10)
        wait_for(lambda: not any(_alive(pid) for pid in workers), timeout=10, what="workers gone")
    finally:
        srv.stop(signal.SIGKILL)
