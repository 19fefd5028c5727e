"""Runtime traffic changes, persisted beside the config and followed by every worker.

Changes (stage, weight, draft per version) are written atomically to
``<state_dir>/traffic.json``; never to the user's YAML. Each worker runs one
daemon thread that checks the file's modification stamp every
``POLL_SECONDS`` and swaps in a new immutable ``TrafficTable`` when it changed,
so a change reaches every worker within about that bound and the request path
itself never touches the file.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from veneer.wrapper.settings import Config

from .routing import TrafficTable
from .traffic_changes import apply_and_check, check_fields, effective_models

POLL_SECONDS = 0.2
log = logging.getLogger("veneer.traffic")


class TrafficStore:
    """Holds the current ``TrafficTable`` and keeps it in step with the state file."""

    def __init__(self, config: Config, state_dir: Path | None = None) -> None:
        self.config = config
        self.state_dir = Path(state_dir or config.server.state_dir or ".veneer-state")
        self.path = self.state_dir / "traffic.json"
        self._stamp: tuple | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.specs = config.models
        self.table: TrafficTable = TrafficTable.from_specs(config.models)
        #: called with the effective model specs after each change (the worker's ModelStore.sync)
        self.listener = None
        self.refresh()

    # -- reading ---------------------------------------------------------
    def read_state(self) -> dict[str, Any]:
        """The persisted overrides (empty when nothing was changed at run time)."""
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"generation": 0, "models": {}}
        except (OSError, ValueError) as e:
            log.error("ignoring unreadable traffic state %s: %s", self.path, e)
            return {"generation": 0, "models": {}}

    def refresh(self) -> bool:
        """Reload the table if the state file changed; True when it did."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        state = self.read_state()
        specs = effective_models(self.config.models, state, self.config.base_dir)
        overrides = {name: entry.get("versions", {}) for name, entry in state.get("models", {}).items()}
        if self.listener is not None and specs != self.specs:
            self.listener(specs)  # load added versions before any request can be routed to them
        self.specs = specs
        self.table = TrafficTable.from_specs(specs, overrides, generation=state.get("generation", 0))
        return True

    def start_watching(self) -> None:
        """Start the per-worker polling thread (idempotent)."""
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="veneer-traffic-watch", daemon=True)
        self._thread.start()

    def stop_watching(self) -> None:
        """Stop the polling thread."""
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.refresh()
            except Exception:  # never let the watcher die: the next tick retries
                log.exception("traffic state refresh failed")

    # -- writing ---------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write the state under an exclusive lock; the yielded dict is written back."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / "traffic.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.read_state()
            yield state
            state["generation"] = int(state.get("generation", 0)) + 1
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
            os.replace(tmp, self.path)
        self.refresh()

    def overrides(self) -> Mapping[str, Any]:
        """The persisted per-model entries (version overrides, added, removed)."""
        return self.read_state().get("models", {})


def apply_external_changes(store: TrafficStore, changes: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
    """Apply ``{model: {version: {stage, weight, draft}}}`` from the registry, validated like the admin API.

    Raises (and writes nothing) when a model or version is unknown or a model would
    be left without traffic; the registry follower then keeps the last good state.
    """
    from veneer.wrapper.errors import InvalidInput

    store.refresh()
    checked: dict[str, dict[str, dict]] = {}
    for model, versions in changes.items():
        traffic = store.table.models.get(model)
        if traffic is None:
            raise InvalidInput(f"The registry names model {model!r}, which this server does not serve.")
        checked[model] = {str(v): check_fields(c, where=f"{model} version {v}") for v, c in versions.items()}
        apply_and_check(traffic, checked[model])
    with store.locked() as state:
        for model, versions in checked.items():
            entry = state.setdefault("models", {}).setdefault(model, {}).setdefault("versions", {})
            for version, change in versions.items():
                entry.setdefault(version, {}).update(change)
