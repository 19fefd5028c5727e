"""``registry.drive_traffic``: follow stages and weights that an admin sets in MLflow.

Every ``poll_seconds`` the follower reads, for each registered model, the
``production`` / ``staging`` aliases and the ``veneer.weight`` tags of the
versions this instance serves. When that picture differs from the one last
applied, it is validated as a whole (weights finite, non-negative and summing
to 100; aliases pointing at versions deployed here) and handed to
``on_change({"prefix/model": {"1": {"stage": "production", "weight": 90.0}, ...}})``:
the full desired state of each changed model, never a partial diff, so a
rejected intermediate edit cannot leave the runtime half-changed. Anything
invalid is rejected with a log line and the last-known-good state stays in
force. Under this mode MLflow alias semantics apply: one version per stage.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any, Callable

from .mlflow_registry import STAGE_ALIASES, MlflowBackend

log = logging.getLogger("veneer.registration")


class TrafficRejected(ValueError):
    """What MLflow says cannot be applied (the message names the model and the problem)."""


def _weight(raw: str | None, where: str) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise TrafficRejected(f"{where}: weight tag {raw!r} is not a number.") from None
    if not math.isfinite(value) or value < 0:
        raise TrafficRejected(f"{where}: weight {raw!r} must be a finite number >= 0.")
    return value


class TrafficFollower:
    """Polls MLflow for one ``MlflowBackend`` and reports validated changes."""

    def __init__(self, backend: MlflowBackend, *, poll_seconds: float,
                 on_change: Callable[[dict[str, Any]], None]) -> None:
        self.backend = backend
        self.poll_seconds = poll_seconds
        self.on_change = on_change
        self.applied: dict[str, dict[str, dict[str, Any]]] = {}
        self.rejected: dict[str, str] = {}          # model -> last rejection message
        self.polls = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="veneer-traffic-follower", daemon=True)

    # -- reading ----------------------------------------------------------------------------

    def observe(self) -> dict[str, dict[str, dict[str, Any]] | TrafficRejected]:
        """The desired state per qualified model, or the reason it is invalid."""
        client = self.backend.client()
        out: dict[str, Any] = {}
        items_by_name: dict[str, list[dict]] = {}
        for item in self.backend.versions:
            items_by_name.setdefault(self.backend.name_of(item), []).append(item)
        for name, items in items_by_name.items():
            qualified = f"{items[0].get('prefix') or ''}/{items[0]['model']}".lstrip("/")
            try:
                out[qualified] = self._observe_model(client, name, items, qualified)
            except TrafficRejected as e:
                out[qualified] = e
        return out

    def _observe_model(self, client, name: str, items: list[dict], qualified: str) -> dict:
        deployed = {self.backend.identity(i): str(i["version"]) for i in items}
        drafts = {str(i["version"]) for i in items if i.get("draft")}
        number_to_version: dict[str, str] = {}
        weights: dict[str, float | None] = {}
        for mv in client.search_model_versions(f"name = '{name}'", max_results=200):
            tags = mv.tags or {}
            version = deployed.get(tags.get("veneer.identity") or tags.get("veneer.sha256") or "")
            if version is None:
                continue
            number_to_version[str(mv.version)] = version
            weights[version] = _weight(tags.get("veneer.weight"), f"{qualified} v{version}")
        aliases = getattr(client.get_registered_model(name), "aliases", {}) or {}
        state: dict[str, dict[str, Any]] = {v: {"stage": None} for v in deployed.values()}
        for stage in STAGE_ALIASES:
            if stage in aliases:
                target = number_to_version.get(str(aliases[stage]))
                if target is None:
                    raise TrafficRejected(f"{qualified}: alias {stage!r} points at registry version "
                                          f"{aliases[stage]}, which is not deployed on this instance.")
                state[target]["stage"] = stage
        public = [w for v, w in weights.items() if v not in drafts]
        if public and all(w is not None for w in public):
            total = sum(public)
            if abs(total - 100.0) > 0.01:
                raise TrafficRejected(f"{qualified}: weights sum to {total:g}, not 100.")
        for version, w in weights.items():
            if w is not None:
                state[version]["weight"] = w
        return state

    # -- applying ---------------------------------------------------------------------------

    def poll_once(self) -> dict[str, Any]:
        """One poll: returns the changes handed to ``on_change`` (empty if none)."""
        self.polls += 1
        if not self.backend.completed:          # baseline only from a whole registration
            return {}
        changes: dict[str, Any] = {}
        for model, state in self.observe().items():
            if isinstance(state, TrafficRejected):
                if self.rejected.get(model) != str(state):
                    log.warning("registry traffic for %s rejected, keeping the last good one: %s",
                                model, state)
                self.rejected[model] = str(state)
                continue
            if model not in self.applied:
                self.applied[model] = state          # the first picture is the baseline
                continue
            if state != self.applied[model]:
                changes[model] = state
        if not changes:
            return {}
        try:
            self.on_change(changes)
        except Exception as e:  # the runtime refused (its own validation): keep what runs
            log.warning("registry traffic change refused by the server: %s", e)
            for model in changes:
                self.rejected[model] = str(e)
            return {}
        for model, state in changes.items():
            self.applied[model] = state
            self.rejected.pop(model, None)
        self._remember(changes)
        return changes

    def _remember(self, changes: dict[str, Any]) -> None:
        # a later re-assert (registry wiped) must write what now runs, not the file's values
        for item in self.backend.versions:
            qualified = f"{item.get('prefix') or ''}/{item['model']}".lstrip("/")
            new = changes.get(qualified, {}).get(str(item["version"]))
            if new is not None:
                item["stage"] = new.get("stage")
                if "weight" in new:
                    item["weight"] = new["weight"]

    # -- thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll_once()
            except Exception as e:  # registry down: try again next poll
                log.debug("traffic poll failed: %s", e)

    def start(self) -> "TrafficFollower":
        """Start polling in a daemon thread."""
        self.thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop polling."""
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)
