"""Promotion state of one accelerated version, shared by every worker through a small JSON file.

One file per model version under ``<state dir>/accelerate/``; every change is a
read-modify-write under an ``flock`` and lands with ``os.replace`` (readers never
see half a file). The file names the artifact and conversion it speaks for
(``fingerprint``: artifact sha256, conversion inputs, library versions): a file written
for other bytes or other libraries is ignored, so a new artifact starts in shadow.

The state dir is ``VENEER_STATE_DIR`` when set (the server launcher sets it), else
``.veneer-state`` next to the config file the version came from.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("veneer.accelerate")

SHADOW, PROMOTED, DEMOTED = "shadow", "promoted", "demoted"


def state_dir_for(spec: Any) -> Path:
    """Where promotion state lives for ``spec`` (see the module docstring)."""
    env = os.environ.get("VENEER_STATE_DIR")
    if env:
        return Path(env)
    origin = str(getattr(spec, "origin", "") or "")
    config_file = origin.rsplit(":", 1)[0] if ":" in origin else ""
    if config_file and Path(config_file).parent.is_dir():
        return Path(config_file).resolve().parent / ".veneer-state"
    return Path.cwd() / ".veneer-state"


class SharedState:
    """The persisted record of one version: state, agreeing rows, disagreements, first difference."""

    def __init__(self, folder: Path, model: str, version: str, fingerprint: str) -> None:
        key = hashlib.sha256(f"{model}\0{version}".encode()).hexdigest()[:24]
        self.folder = Path(folder) / "accelerate"
        self.path = self.folder / f"{key}.json"
        self.model, self.version, self.fingerprint = model, version, fingerprint
        self._memory: dict[str, Any] | None = None  # last record seen, used when the dir is unwritable
        self._warned = False

    def fresh(self) -> dict[str, Any]:
        """The record of a version nobody has compared yet."""
        return {"model": self.model, "version": self.version, "fingerprint": self.fingerprint,
                "state": SHADOW, "rows_agreed": 0, "rows_compared": 0, "disagreements": 0,
                "reason": None, "first_difference": None, "probe_checked": False, "updated": None}

    def read(self) -> dict[str, Any]:
        """The current record (a fresh one when absent, unreadable or for another fingerprint)."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return self.fresh()
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable acceleration state %s: %s", self.path, e)
            return self.fresh()
        if not isinstance(data, dict) or data.get("fingerprint") != self.fingerprint:
            return self.fresh()
        return {**self.fresh(), **data}

    def update(self, change) -> dict[str, Any]:
        """Apply ``change(record) -> None`` under the lock and write it; returns the new record.

        A state dir that cannot be written degrades to per-process state (logged once):
        promotion then happens per worker, never across them.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / ".lock", "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    record = self.read()
                    change(record)
                    record["updated"] = time.time()
                    self._write(record)
                    self._memory = record
                    return record
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        except OSError as e:
            if not self._warned:
                log.warning("acceleration state for %s v%s cannot be shared (%s); each worker decides alone",
                            self.model, self.version, e)
                self._warned = True
            record = dict(self._memory or self.fresh())
            change(record)
            self._memory = record
            return record

    def _write(self, record: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(record, f, default=str)
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
