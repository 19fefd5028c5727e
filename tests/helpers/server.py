"""Start a real ``veneer serve`` process (gunicorn) on 127.0.0.1 for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

from .wait import GiveUp, wait_for

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VeneerServer:
    """``veneer serve TARGET`` in a subprocess; use as a context manager.

    ``args`` are extra CLI flags; ``env`` extra environment. Output goes to a log
    file (``self.log_path``) that tests can read (for example to prove no token was logged).
    """

    def __init__(self, target: str | os.PathLike, *, workers: int = 1, threads: int = 4,
                 args: list[str] | None = None, env: dict[str, str] | None = None,
                 port: int | None = None, ready_path: str = "/v2/health/live",
                 command: str = "serve", cwd: str | os.PathLike | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="veneer-test-", suffix=".log")[1])
        self.cmd = [sys.executable, "-m", "veneer.sidecar.cli", command, str(target),
                    "--host", "127.0.0.1", "--port", str(self.port),
                    "--workers", str(workers), "--threads", str(threads), *(args or [])]
        pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": pythonpath, **(env or {})}
        self.ready_path = ready_path
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0, *, wait: bool = True) -> "VeneerServer":
        """Start the process and (unless ``wait`` is False) wait until ``ready_path`` answers."""
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.cwd, start_new_session=True)
        if not wait:
            return self

        def up():
            if self.proc.poll() is not None:
                raise GiveUp(f"server exited with {self.proc.returncode}:\n{self.log()}")
            return requests.get(self.url + self.ready_path, timeout=2).status_code < 500

        try:
            wait_for(up, timeout=timeout, what=f"{self.url}{self.ready_path}")
        except BaseException:
            self.stop()
            raise
        return self

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Send ``sig`` to the server (our own PID only) and wait for it to exit."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)
        finally:
            self._log.close()

    def __enter__(self) -> "VeneerServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
