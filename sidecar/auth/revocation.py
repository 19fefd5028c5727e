"""Revocation by ``jti``: a denylist file every worker honours within a stated bound.

The file is one JSON object ``{"revoked": {"<jti>": <until>}}`` where ``until`` is
a Unix time (the token's ``exp`` plus the leeway): after it the token is dead
anyway, so the entry is ignored and pruned at the next write.

Propagation bound: each worker ``stat``s the file at most once every
``check_seconds`` (default 1 s) and re-reads it only when its identity (inode,
size, mtime) changed; a revocation is therefore refused by every worker of every
server sharing the file at most ``check_seconds`` after ``veneer token revoke``
returns. Writers take an exclusive ``flock`` and replace the file atomically, so
readers never see half a file and concurrent revokes are not lost.

A file that cannot be parsed at start is a ``ConfigError``; one that turns bad
later keeps the last good list in force (logged), never an open door.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from veneer.wrapper.errors import ConfigError

log = logging.getLogger("veneer.auth")


def _read(path: Path) -> dict[str, float]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    data = json.loads(text) if text.strip() else {"revoked": {}}
    revoked = data.get("revoked") if isinstance(data, dict) else None
    if not isinstance(revoked, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for k, v in revoked.items()):
        raise ValueError("expected {\"revoked\": {\"<jti>\": <unix time>}}")
    return {k: float(v) for k, v in revoked.items()}


class Denylist:
    """The revoked ``jti`` values of one file, refreshed within ``check_seconds``."""

    def __init__(self, path: Path, *, check_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, wallclock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.check_seconds = check_seconds
        self.clock = clock
        self.wallclock = wallclock
        self._lock = threading.Lock()
        self._identity: tuple[int, int, int] | None = None
        self._checked_at = -math.inf
        try:
            self._entries = _read(self.path)
            self._identity = self._stat()
        except (ValueError, OSError) as e:
            raise ConfigError(f"revocation_file {str(self.path)!r} cannot be read: {e}.",
                              path="auth.revocation_file",
                              fix="Fix or delete the file (`veneer token revoke` recreates it).") from e

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def is_revoked(self, jti: str | None) -> bool:
        """True when ``jti`` is on the list and its entry has not expired."""
        self._maybe_reload()
        if jti is None:
            return False
        until = self._entries.get(jti)
        return until is not None and until > self.wallclock()

    def _maybe_reload(self) -> None:
        now = self.clock()
        if now - self._checked_at < self.check_seconds:
            return
        if not self._lock.acquire(blocking=False):
            return  # another thread is checking; the current list stays in force meanwhile
        try:
            self._checked_at = now
            identity = self._stat()
            if identity == self._identity:
                return
            try:
                self._entries = _read(self.path)
                self._identity = identity
            except (ValueError, OSError) as e:
                log.error("revocation_file %s unreadable, keeping the previous list: %s", self.path, e)
        finally:
            self._lock.release()

    def __len__(self) -> int:
        return sum(1 for until in self._entries.values() if until > self.wallclock())


def revoke(path: Path, jti: str, until: float, *, wallclock: Callable[[], float] = time.time) -> int:
    """Add ``jti`` (refused until ``until``) to the file at ``path``; returns the live entry count."""
    import fcntl

    if not jti or not isinstance(jti, str):
        raise ValueError("a jti must be a non-empty string")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = _read(path)
        now = wallclock()
        entries = {k: v for k, v in entries.items() if v > now}  # prune the dead ones
        entries[jti] = max(until, entries.get(jti, 0))
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"revoked": entries}, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return len(entries)
