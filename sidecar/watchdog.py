"""Abort a worker whose model call hangs past ``server.timeout``.

gunicorn's own timeout only notices a worker whose main loop stops; with
threaded workers the main loop keeps beating while one thread is stuck inside a
legacy model forever. This watchdog records when each thread entered the model
and, when one has been inside longer than the timeout, logs every thread's stack
and ends the worker so gunicorn starts a fresh one (the sync worker's behaviour).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from typing import Iterator

log = logging.getLogger("veneer.watchdog")


class Watchdog:
    """Tracks model calls in flight in this process; ``start()`` runs the checker thread."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._inside: dict[int, tuple[float, str]] = {}
        self._thread: threading.Thread | None = None

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Mark the current thread as inside a model call."""
        ident = threading.get_ident()
        self._inside[ident] = (time.monotonic(), what)
        try:
            yield
        finally:
            self._inside.pop(ident, None)

    def start(self) -> None:
        """Start checking (once per process, after fork)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="veneer-watchdog", daemon=True)
            self._thread.start()

    def overdue(self) -> list[tuple[int, float, str]]:
        """Threads inside a model call for longer than the timeout."""
        now = time.monotonic()
        return [(ident, now - since, what) for ident, (since, what) in list(self._inside.items())
                if now - since > self.timeout]

    def _run(self) -> None:
        interval = max(0.1, min(1.0, self.timeout / 4))
        while True:
            time.sleep(interval)
            late = self.overdue()
            if late:
                self._abort(late)

    def _abort(self, late) -> None:
        frames = sys._current_frames()
        for ident, seconds, what in late:
            stack = "".join(traceback.format_stack(frames.get(ident))) if ident in frames else "(gone)"
            log.error("model call %s has run %.1fs, past server.timeout=%ss; restarting this worker. "
                      "Stack:\n%s", what, seconds, self.timeout, stack)
        logging.shutdown()
        os._exit(1)  # a hung thread cannot be stopped; gunicorn replaces the worker (3 and 4 would stop it)
