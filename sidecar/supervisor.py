"""Start, watch, restart and stop the legacy services that ``http`` versions declare with ``command:``.

The gunicorn master calls ``start_supervisors(config)`` (when_ready) and
``stop_supervisors(sups, timeout)`` (on_exit). Each legacy process runs in its own
process group; a watcher thread waits on it, restarts it with exponential backoff
if it dies, and ``ready`` turns true only once its health URL answers 2xx (or,
without a health URL, once its port accepts connections).

A note for the master: gunicorn's SIGCHLD handler reaps with ``waitpid(-1)``, so it
may collect our child's exit status first; ``Popen`` then reports exit code 0, and
the watcher still sees the death and restarts, which is all it needs.
"""

from __future__ import annotations

import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit

from veneer.sidecar.parent_death import death_signal_setter

log = logging.getLogger("veneer.supervisor")

MAX_BACKOFF = 30.0
#: a process that stayed up this long is healthy again: its next death restarts quickly
STABLE_SECONDS = 30.0


def _healthy(health_url: str | None, url: str, timeout: float = 1.0) -> bool:
    """One health check with the standard library only.

    This runs on a thread of the gunicorn master, which forks workers at any time: a
    lock held by this thread at that moment stays locked forever in the worker (an
    import's module lock, a pool lock). So no imports and no shared clients here.
    """
    parts = urlsplit(health_url or url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not health_url:
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout):
                return True
        except OSError:
            return False
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, port, timeout=timeout)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        return 200 <= conn.getresponse().status < 300
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _death_signal_setter() -> Any:
    """SIGTERM the legacy process when the veneer master dies (see ``parent_death``)."""
    return death_signal_setter(signal.SIGTERM)


class Supervisor:
    """One supervised legacy process: ``start()``, ``ready``, ``pid``, ``restarts``, ``stop(timeout)``."""

    def __init__(self, name: str, command: Sequence[str], *, url: str, health_url: str | None = None,
                 env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None,
                 restart_backoff: float = 0.5, health_interval: float = 0.1) -> None:
        self.name = name
        self.command = [sys.executable if a == "{python}" else a for a in command]
        self.url, self.health_url = url, health_url
        self.env = {**os.environ, **(env or {})}
        self.cwd = str(cwd) if cwd else None
        self.restart_backoff = restart_backoff
        self.health_interval = health_interval
        self._preexec = _death_signal_setter()
        #: set while the process runs and answers its health check
        self.ready_event = threading.Event()
        #: how many times the process was started again after dying
        self.restarts = 0
        self._proc: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """True once the current process answers its health check."""
        return self.ready_event.is_set()

    @property
    def pid(self) -> int | None:
        """PID of the running legacy process (also its process group id), or None."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> "Supervisor":
        """Start the process and the watcher thread; returns at once (poll ``ready``)."""
        self._thread = threading.Thread(target=self._watch, name=f"veneer-supervisor-{self.name}", daemon=True)
        self._thread.start()
        return self

    def wait_ready(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for the first healthy answer."""
        return self.ready_event.wait(timeout)

    def _spawn(self) -> subprocess.Popen | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            try:
                self._proc = subprocess.Popen(self.command, env=self.env, cwd=self.cwd, start_new_session=True,
                                              stdin=subprocess.DEVNULL, preexec_fn=self._preexec)
            except OSError as e:
                log.error("cannot start %s (%s): %s", self.name, " ".join(self.command), e)
                self._proc = None
                return None
            log.info("started %s as pid %d: %s", self.name, self._proc.pid, " ".join(self.command))
            return self._proc

    def _watch(self) -> None:
        delay = self.restart_backoff
        while not self._stopping.is_set():
            proc = self._spawn()
            started = time.monotonic()
            if proc is not None:
                while proc.poll() is None and not self._stopping.is_set():
                    if not self.ready_event.is_set() and _healthy(self.health_url, self.url):
                        log.info("%s is ready (pid %d)", self.name, proc.pid)
                        self.ready_event.set()
                    if self.ready_event.is_set():
                        try:  # block on the child, waking up only to notice a stop request
                            proc.wait(timeout=0.5)
                        except subprocess.TimeoutExpired:
                            pass
                    else:
                        self._stopping.wait(self.health_interval)
                self.ready_event.clear()
                if self._stopping.is_set():
                    return
                log.warning("%s (pid %d) exited with %s; restarting in %.1fs", self.name, proc.pid,
                            proc.returncode, delay)
            if time.monotonic() - started > STABLE_SECONDS:
                delay = self.restart_backoff
            if self._stopping.wait(delay):
                return
            delay = min(MAX_BACKOFF, delay * 2)
            self.restarts += 1

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``timeout``; returns the exit code."""
        with self._lock:
            self._stopping.set()
            proc = self._proc
        self.ready_event.clear()
        code = None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # our own child's group: start_new_session=True
            except ProcessLookupError:
                pass
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM for %.1fs; killing it", self.name, proc.pid, timeout)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                code = proc.wait(timeout=10)
        elif proc is not None:
            code = proc.returncode
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        return code


def supervised_versions(config: Any) -> list[tuple[Any, dict[str, Any]]]:
    """``(version, options)`` of every ``http`` version with a ``command:``, one per distinct command."""
    seen: set[tuple[str, ...]] = set()
    found = []
    for model in config.models:
        for v in model.versions:
            opts = dict(v.options or {})
            cmd = opts.get("command")
            if v.adapter == "http" and cmd and tuple(cmd) not in seen:
                seen.add(tuple(cmd))
                found.append((v, opts))
    return found


def start_supervisors(config: Any) -> list[Supervisor]:
    """Start every legacy process the config declares; returns at once (each has ``ready``)."""
    base = Path(getattr(config, "base_dir", None) or Path.cwd())
    sups = []
    for v, opts in supervised_versions(config):
        health = (opts.get("health") or {}).get("url")
        sup = Supervisor(f"{v.qualified_name}@{v.version}", opts["command"], url=v.url, health_url=health,
                         env=opts.get("command_env") or {}, cwd=base,
                         restart_backoff=float(opts.get("restart_backoff", 0.5)))
        sups.append(sup.start())
    return sups


def stop_supervisors(sups: Sequence[Supervisor], timeout: float = 10.0) -> None:
    """Stop every supervised process (SIGTERM, then SIGKILL after ``timeout``), all in parallel."""
    threads = [threading.Thread(target=s.stop, args=(timeout,), daemon=True) for s in sups]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 15)
