"""The background loop that keeps one instance registered, whatever the registry does.

One daemon thread per backend (MLflow, HTTP platform): register, then heartbeat
on an interval; any failure switches to ``retrying`` with capped, jittered
backoff and the next attempt re-asserts the whole registration (idempotent), so
a registry that was down, flapping or came back empty ends up correct again.
Nothing here ever raises into the caller: serving must not depend on it.

``stop()`` ends the loops and deregisters exactly once, bounded by a timeout,
so a dead registry cannot stretch a shutdown past gunicorn's grace period.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Protocol

from .backoff import Backoff

log = logging.getLogger("veneer.registration")

STARTING, REGISTERED, RETRYING, STOPPED = "starting", "registered", "retrying", "stopped"


class Backend(Protocol):
    """One registry: ``name`` is ``mlflow`` or ``http``."""

    name: str
    heartbeat_seconds: float

    def register(self, should_stop: Callable[[], bool]) -> None:
        """Assert the whole registration (idempotent); raise on failure."""

    def heartbeat(self, should_stop: Callable[[], bool]) -> None:
        """Refresh liveness; raise on failure (the loop then re-registers)."""

    def deregister(self) -> None:
        """Remove this instance's registration; may raise."""


def _report(backend: str, up: bool) -> None:
    try:
        from veneer.sidecar.metrics_multiproc import set_registry_up

        set_registry_up(backend, up)
    except Exception:  # a metrics problem must not stop registration
        log.debug("could not record registry state", exc_info=True)


class _Loop:
    """The thread of one backend and its state."""

    def __init__(self, backend: Backend, stop: threading.Event, retry_cap: float) -> None:
        self.backend = backend
        self.state = STARTING
        self.last_error: str | None = None
        self.registrations = 0
        self.heartbeats = 0
        self.failures = 0
        self._stop = stop
        self._backoff = Backoff(base=min(0.5, retry_cap), cap=retry_cap)
        self.thread = threading.Thread(target=self._run, name=f"veneer-registrar-{backend.name}",
                                       daemon=True)

    def _set(self, state: str, error: str | None = None) -> None:
        changed = state != self.state
        self.state, self.last_error = state, error
        _report(self.backend.name, state == REGISTERED)
        if changed and state == RETRYING:
            log.warning("registry %s unreachable, retrying: %s", self.backend.name, error)
        elif changed and state == REGISTERED:
            log.info("registered with %s", self.backend.name)

    def _run(self) -> None:
        stopping = self._stop.is_set
        registered = False
        _report(self.backend.name, False)
        while not stopping():
            try:
                if registered:
                    self.backend.heartbeat(stopping)
                    self.heartbeats += 1
                else:
                    self.backend.register(stopping)
                    self.registrations += 1
                    registered = True
                if stopping():
                    break
                self._set(REGISTERED)
                self._backoff.reset()
                delay = self.backend.heartbeat_seconds
            except Exception as e:  # any failure: retry later, never crash the master
                registered = False
                self.failures += 1
                self._set(RETRYING, f"{type(e).__name__}: {e}"[:500])
                delay = self._backoff.next()
            self._stop.wait(delay)


class Registrar:
    """Registration of one instance with one or more registries, run in the background.

    ``state`` is ``starting``, ``registered`` (every backend), ``retrying`` (any
    backend) or ``stopped``; ``states`` gives it per backend.
    """

    def __init__(self, backends: list[Backend], *, retry_cap: float = 60.0,
                 followers: list | None = None) -> None:
        self.followers = list(followers or [])
        self._stop_event = threading.Event()
        self._loops = [_Loop(b, self._stop_event, retry_cap) for b in backends]
        self._stop_lock = threading.Lock()
        self._stopped = False
        self.deregistrations = 0

    def start(self) -> "Registrar":
        """Start the threads; returns at once."""
        for loop in self._loops:
            loop.thread.start()
        for follower in self.followers:
            follower.start()
        return self

    @property
    def states(self) -> dict[str, str]:
        """State per backend name."""
        return {loop.backend.name: loop.state for loop in self._loops}

    @property
    def state(self) -> str:
        """The combined state (see the class docstring)."""
        if self._stopped:
            return STOPPED
        states = set(self.states.values())
        if states == {REGISTERED}:
            return REGISTERED
        if RETRYING in states:
            return RETRYING
        return STARTING

    @property
    def backends(self) -> list[Backend]:
        """The backends, in order."""
        return [loop.backend for loop in self._loops]

    def loop(self, name: str) -> _Loop:
        """The loop of backend ``name`` (counters for tests and diagnostics)."""
        return next(loop for loop in self._loops if loop.backend.name == name)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop heartbeats and deregister, exactly once, within about ``timeout`` seconds."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        deadline = time.monotonic() + timeout
        self._stop_event.set()
        for follower in self.followers:
            follower.stop(timeout=0)
        # let an in-progress register finish so it cannot re-add what we remove,
        # but spend at most half the budget on it
        for loop in self._loops:
            loop.thread.join(max(0.0, min(timeout / 2, deadline - time.monotonic())))
        workers = []
        for loop in self._loops:
            t = threading.Thread(target=self._deregister, args=(loop,), daemon=True,
                                 name=f"veneer-deregister-{loop.backend.name}")
            t.start()
            workers.append(t)
        for t in workers:
            t.join(max(0.0, deadline - time.monotonic()))
        for loop in self._loops:
            loop.state = STOPPED
            _report(loop.backend.name, False)

    def _deregister(self, loop: _Loop) -> None:
        try:
            loop.backend.deregister()
            self.deregistrations += 1
            log.info("deregistered from %s", loop.backend.name)
        except Exception as e:
            log.warning("deregistration from %s failed: %s", loop.backend.name, e)
