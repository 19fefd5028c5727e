"""Every configured version's adapter, and whether it loaded.

Fork-safe adapters (pickles, MLflow) are loaded once in the gunicorn master when
``preload`` is on, so workers share their memory copy-on-write; the others
(ONNX Runtime sessions) are loaded in each worker after fork
(``load_after_fork``). A version that fails to load stays known, with its
reason, so requests to it answer 503 and ``/ready`` says why.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from veneer.adapters.base import AdapterMetadata
from veneer.adapters.registry import get_adapter_class
from veneer.wrapper.errors import ArtifactError, VeneerError
from veneer.wrapper.settings import Config, ModelSpec, VersionSpec

log = logging.getLogger("veneer.models")


@dataclass
class LoadedVersion:
    """One version's adapter and load state (``pending``, ``ready`` or ``failed``)."""

    spec: VersionSpec
    adapter: Any = None
    state: str = "pending"
    reason: str | None = None
    reason_code: str | None = None
    metadata: AdapterMetadata | None = None
    load_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """Loaded, and (for adapters that can tell) its backend answers."""
        if self.state != "ready":
            return False
        probe = getattr(self.adapter, "ready", None)
        return bool(probe()) if callable(probe) else True

    def describe(self) -> dict[str, Any]:
        """Safe summary for /ready, the admin API and `veneer check` (no paths)."""
        out = {"version": self.spec.version, "adapter": self.spec.adapter, "state": self.state,
               "stage": self.spec.stage, "weight": self.spec.weight, "draft": self.spec.draft,
               "sha256": self.spec.sha256}
        if self.reason:
            out["reason"] = self.reason
            out["reason_code"] = self.reason_code
        if self.load_seconds is not None:
            out["load_seconds"] = round(self.load_seconds, 4)
        return out


LoadObserver = Callable[[LoadedVersion], None]


class ModelStore:
    """All versions of all models, keyed by ``(prefix/model, version)``."""

    def __init__(self, config: Config, *, observer: LoadObserver | None = None, metrics: Any = None) -> None:
        self.config = config
        self.observer = observer
        self.metrics = metrics
        self.models: dict[str, ModelSpec] = {m.qualified_name: m for m in config.models}
        self.versions: dict[tuple[str, str], LoadedVersion] = {}
        for m in config.models:
            for v in m.versions:
                self.versions[(m.qualified_name, v.version)] = LoadedVersion(spec=v)
        self._by_name: dict[str, list[str]] = {}
        for qn, m in self.models.items():
            self._by_name.setdefault(m.name, []).append(qn)

    # -- lookups ---------------------------------------------------------
    def find_model(self, qualified: str) -> ModelSpec | None:
        """The model ``prefix/model``, or None."""
        return self.models.get(qualified)

    def find_by_short_name(self, name: str) -> ModelSpec | None:
        """The model called ``name`` when exactly one prefix has it (OIP/V1 URLs), or None."""
        found = self._by_name.get(name)
        if found and len(found) == 1:
            return self.models[found[0]]
        return self.models.get(name)

    def get(self, qualified: str, version: str) -> LoadedVersion | None:
        """The version entry, or None."""
        return self.versions.get((qualified, version))

    def of_model(self, qualified: str) -> list[LoadedVersion]:
        """All version entries of one model, in config order."""
        return [lv for (qn, _), lv in self.versions.items() if qn == qualified]

    # -- loading ---------------------------------------------------------
    def load(self, *, fork_safe_only: bool = False) -> None:
        """Load every pending version (only the fork-safe ones when ``fork_safe_only``)."""
        for lv in self.versions.values():
            if lv.state != "pending":
                continue
            if fork_safe_only and not _fork_safe(lv.spec):
                continue
            self.load_version(lv)

    def load_after_fork(self) -> None:
        """In a worker: load what could not be shared across fork."""
        self.load(fork_safe_only=False)

    def load_version(self, lv: LoadedVersion) -> LoadedVersion:
        """Build and load one version's adapter; failures are recorded, never raised."""
        start = time.perf_counter()
        try:
            adapter = build_adapter(lv.spec)
            self._connect_upstream_errors(adapter, lv.spec)
            adapter.load()
            lv.metadata = adapter.metadata()
            lv.adapter, lv.state, lv.reason, lv.reason_code = adapter, "ready", None, None
        except VeneerError as e:
            lv.state, lv.reason, lv.reason_code = "failed", str(e), e.code
            log.error("model %s version %s failed to load (%s): %s", lv.spec.qualified_name,
                      lv.spec.version, e.code, e)
        except Exception as e:  # a legacy artifact may raise anything while loading
            lv.state, lv.reason, lv.reason_code = "failed", f"{type(e).__name__}: {e}", "load_error"
            log.exception("model %s version %s failed to load", lv.spec.qualified_name, lv.spec.version)
        lv.load_seconds = time.perf_counter() - start
        if lv.state == "ready":
            log.info("loaded %s version %s (%s) in %.3fs", lv.spec.qualified_name, lv.spec.version,
                     lv.spec.adapter, lv.load_seconds)
        if self.observer:
            self.observer(lv)
        return lv

    def _connect_upstream_errors(self, adapter: Any, spec: VersionSpec) -> None:
        """Adapters that call other services report their failures to the metrics."""
        if self.metrics is None or not hasattr(adapter, "observer"):
            return
        metrics, model, version = self.metrics, spec.qualified_name, spec.version
        adapter.observer = lambda reason: metrics.observe_upstream_error(model=model, version=version, reason=reason)

    def sync(self, specs: Iterable[ModelSpec], *, load_now: bool = True) -> None:
        """Follow runtime additions and removals of versions (from the traffic state)."""
        wanted = {}
        for m in specs:
            self.models[m.qualified_name] = m
            for v in m.versions:
                wanted[(m.qualified_name, v.version)] = v
        for key, spec in wanted.items():
            if key not in self.versions:
                lv = LoadedVersion(spec=spec)
                self.versions[key] = lv
                if load_now:
                    self.load_version(lv)
        for key in [k for k in self.versions if k not in wanted]:
            del self.versions[key]  # in-flight requests keep their reference

    def failures(self) -> Iterable[LoadedVersion]:
        """Versions that failed to load."""
        return [lv for lv in self.versions.values() if lv.state == "failed"]

    def unload(self) -> None:
        """Release every adapter (on worker exit)."""
        for lv in self.versions.values():
            unload = getattr(lv.adapter, "unload", None)
            if callable(unload):
                try:
                    unload()
                except Exception:  # shutting down: never let one adapter stop the others
                    log.exception("unloading %s version %s", lv.spec.qualified_name, lv.spec.version)


def _fork_safe(spec: VersionSpec) -> bool:
    if spec.adapter == "decorated":
        return True
    try:
        return bool(getattr(get_adapter_class(spec.adapter), "fork_safe", True))
    except (ImportError, VeneerError):
        return True  # load() will record the failure


#: Decorated functions are not named in the table: the server hands them over directly.
DECORATED_FUNCTIONS: dict[tuple[str, str], Any] = {}


def build_adapter(spec: VersionSpec) -> Any:
    """Construct the adapter object for one version (not loaded yet)."""
    if spec.adapter == "decorated":
        from veneer.adapters.python_code import PythonAdapter

        return PythonAdapter.from_callable(DECORATED_FUNCTIONS[(spec.qualified_name, spec.version)], spec)
    cls = get_adapter_class(spec.adapter)
    adapter = cls(spec)
    if spec.accelerate == "onnx":
        accelerate = _accelerator()
        if accelerate is not None:
            adapter = accelerate(adapter, spec)
    return adapter


def _accelerator() -> Any:
    try:
        from veneer.adapters.accelerate import wrap  # issue 8; absent until it lands
    except ImportError:
        return None
    return wrap


__all__ = ["ArtifactError", "LoadedVersion", "ModelStore", "build_adapter"]
