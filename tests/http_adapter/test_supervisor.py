"""The supervisor starts the example service from ``command:``, restarts it, and stops it."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest
import requests

from tests.helpers.server import free_port
from tests.helpers.wait import wait_for
from veneer.sidecar.supervisor import Supervisor, start_supervisors, stop_supervisors
from veneer.wrapper.settings import Config, ModelSpec, VersionSpec

from .conftest import SERVICE

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def _config(port: int, **extra) -> Config:
    opts = {"command": ["{python}", SERVICE.name, "--port", str(port)],
            "health": {"url": f"http://127.0.0.1:{port}/healthz"}, "restart_backoff": 0.1, **extra}
    v1 = VersionSpec(version="1", adapter="http", url=f"http://127.0.0.1:{port}/score", options=opts,
                     model="churn", prefix="legacy")
    v2 = VersionSpec(version="2", adapter="http", url=f"http://127.0.0.1:{port}/score.csv", options=opts,
                     model="churn", prefix="legacy")  # same command: started once
    other = VersionSpec(version="1", adapter="pickle", model="x", prefix="legacy")
    return Config(models=(ModelSpec("churn", "legacy", (v1, v2)), ModelSpec("x", "legacy", (other,))),
                  source=SERVICE.parent / "veneer.yaml")


def test_starts_waits_for_health_restarts_and_stops() -> None:
    port = free_port()
    sups = start_supervisors(_config(port))
    try:
        assert len(sups) == 1
        sup = sups[0]
        wait_for(lambda: sup.ready, timeout=20, what="the legacy service to be ready")
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).text == "ok"
        first = sup.pid
        assert first and _alive(first)
        os.kill(first, signal.SIGKILL)  # the PID the supervisor reports: its own child
        wait_for(lambda: sup.pid not in (None, first) and sup.ready, timeout=20, what="a restart")
        assert sup.restarts == 1 and not _alive(first)
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
        second = sup.pid
    finally:
        start = time.monotonic()
        stop_supervisors(sups, timeout=5)
    assert time.monotonic() - start < 5
    assert not sup.ready and sup.pid is None and not _alive(second)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def test_sigterm_ignoring_process_is_killed_after_timeout(tmp_path) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text("import signal, socket, sys, time\n"
                      "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
                      "while True: time.sleep(1)\n")
    port = free_port()
    sup = Supervisor("stubborn", [sys.executable, str(script), str(port)],
                     url=f"http://127.0.0.1:{port}/x").start()
    try:
        wait_for(lambda: sup.ready, timeout=20, what="the port to accept connections")
        pid = sup.pid
    finally:
        start = time.monotonic()
        code = sup.stop(timeout=0.5)
    assert 0.4 < time.monotonic() - start < 5
    assert code == -signal.SIGKILL and not _alive(pid)


def test_command_that_cannot_start_is_retried_not_fatal(tmp_path) -> None:
    sup = Supervisor("missing", [str(tmp_path / "no-such-binary")], url="http://127.0.0.1:9/x",
                     restart_backoff=0.05).start()
    try:
        wait_for(lambda: sup.restarts >= 2, timeout=10, what="restart attempts")
        assert not sup.ready and sup.pid is None
    finally:
        sup.stop(timeout=1)


def test_legacy_process_dies_with_a_killed_master(tmp_path) -> None:
    """A SIGKILLed veneer master cannot stop its children; the kernel's parent-death signal does."""
    import subprocess

    port = free_port()
    pid_file = tmp_path / "pid"
    master = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
from veneer.sidecar.supervisor import Supervisor
sup = Supervisor("x", ["{sys.executable}", "{SERVICE}", "--port", "{port}"],
                 url="http://127.0.0.1:{port}/score", health_url="http://127.0.0.1:{port}/healthz").start()
sup.wait_ready(20)
open("{pid_file}", "w").write(str(sup.pid))
time.sleep(60)
"""])
    try:
        child = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=20, what="the child pid"))
        assert _alive(child)
    finally:
        master.kill()
        master.wait(timeout=10)
    try:
        wait_for(lambda: not _alive(child), timeout=10, what="the orphaned service to exit")
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
