"""Validate and apply runtime changes to versions and traffic.

Every change is checked against the whole resulting model before anything is
written: weights are finite non-negative numbers, stages are known, and a model
that had traffic keeps at least one version taking it. A rejected change raises
``InvalidInput`` (422) and leaves the state untouched. Accepted changes are
written by ``TrafficStore.locked`` in one atomic replace.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from veneer.wrapper.errors import ConfigError, Forbidden, InvalidInput, VersionNotFound
from veneer.wrapper.settings import STAGES, ModelSpec, VersionSpec

from .routing import ModelTraffic, VersionRoute

CHANGEABLE = ("stage", "weight", "draft")
ADDABLE = ("version", "adapter", "path", "uri", "url", "sha256", "stage", "weight", "draft", "options",
           "idempotent", "trusted")


def check_fields(change: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """The validated subset ``{stage, weight, draft}`` of one version change."""
    if not isinstance(change, Mapping):
        raise InvalidInput(f"{where}: expected an object with stage, weight and/or draft.")
    unknown = set(change) - set(CHANGEABLE)
    if unknown:
        raise InvalidInput(f"{where}: unknown field(s) {sorted(unknown)}.", fix=f"Use {', '.join(CHANGEABLE)}.")
    out: dict[str, Any] = {}
    if "stage" in change:
        stage = change["stage"]
        if stage in ("none", ""):
            stage = None
        if stage is not None and stage not in STAGES:
            raise InvalidInput(f"{where}: stage {stage!r} is not one of production, staging, none.")
        out["stage"] = stage
    if "weight" in change:
        out["weight"] = check_weight(change["weight"], where=where)
    if "draft" in change:
        if not isinstance(change["draft"], bool):
            raise InvalidInput(f"{where}: draft must be true or false, not {change['draft']!r}.")
        out["draft"] = change["draft"]
    return out


def check_weight(weight: Any, *, where: str) -> float:
    """A finite, non-negative number."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
        raise InvalidInput(f"{where}: weight {weight!r} must be a finite number >= 0.")
    return float(weight)


def effective_models(specs: tuple[ModelSpec, ...], state: Mapping[str, Any], base_dir: Path) -> tuple[ModelSpec, ...]:
    """Config models with versions added at run time, minus the removed ones."""
    models = state.get("models", {})
    out = []
    for m in specs:
        entry = models.get(m.qualified_name, {})
        removed = set(entry.get("removed", ()))
        versions = [v for v in m.versions if v.version not in removed]
        for vid, raw in (entry.get("added") or {}).items():
            if vid not in removed:
                versions.append(version_from_dict(raw, m, base_dir))
        out.append(replace(m, versions=tuple(versions)))
    return tuple(out)


def version_from_dict(raw: Mapping[str, Any], model: ModelSpec, base_dir: Path) -> VersionSpec:
    """A ``VersionSpec`` for a version added through the admin API."""
    path = raw.get("path")
    return VersionSpec(version=str(raw["version"]), adapter=raw["adapter"],
                       path=(base_dir / path).resolve() if path else None, uri=raw.get("uri"),
                       url=raw.get("url"), sha256=raw.get("sha256"), stage=raw.get("stage"),
                       weight=raw.get("weight"), draft=bool(raw.get("draft", False)),
                       idempotent=bool(raw.get("idempotent", False)), trusted=bool(raw.get("trusted", False)),
                       options=dict(raw.get("options") or {}),
                       model=model.name, prefix=model.prefix, origin="admin API")


def check_addition(raw: Any, model: ModelSpec, existing: set[str], permissions: set[str] | None) -> dict:
    """Validate a version to add; Python-code versions need the ``custom_code`` permission."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("Expected an object describing the version (version, adapter, path/uri/url...).")
    unknown = set(raw) - set(ADDABLE)
    if unknown:
        raise InvalidInput(f"Unknown field(s) {sorted(unknown)}.", fix=f"Use {', '.join(ADDABLE)}.")
    for key in ("version", "adapter"):
        if key not in raw:
            raise InvalidInput(f"Missing {key!r}.")
    vid = str(raw["version"])
    if vid in existing:
        raise InvalidInput(f"Model {model.qualified_name!r} already has version {vid!r}.")
    from veneer.adapters.registry import get_adapter_class

    try:
        get_adapter_class(str(raw["adapter"]))
    except (ConfigError, ImportError) as e:
        raise InvalidInput(str(e)) from e
    # Python code, MLflow pyfuncs, trusted pickles and adapters named by import path all run code
    runs_code = raw["adapter"] in ("python", "mlflow") or ":" in str(raw["adapter"]) or bool(raw.get("trusted"))
    if runs_code and permissions is not None and "custom_code" not in permissions:
        raise Forbidden(f"Adding a version that can run its own code ({raw['adapter']}) needs the "
                        "'custom_code' permission.", code="custom_code")
    if not (raw.get("path") or raw.get("uri") or raw.get("url")):
        raise InvalidInput("Give the artifact as 'path' (already on this server), 'uri' or 'url'.")
    out = {k: raw[k] for k in ADDABLE if k in raw}
    out["version"] = vid
    out.update(check_fields({k: raw[k] for k in CHANGEABLE if k in raw}, where=f"version {vid}"))
    return out


def apply_and_check(traffic: ModelTraffic, changes: Mapping[str, Mapping[str, Any]],
                    removed: set[str] = frozenset(), added: Mapping[str, Mapping] | None = None) -> ModelTraffic:
    """The model's traffic after ``changes``; 422 if a model with traffic would be left with none."""
    routes = []
    known = {v.version for v in traffic.versions}
    for vid in changes:
        if vid not in known and vid not in (added or {}):
            raise VersionNotFound(traffic.model, vid, known=sorted(known))
    for v in traffic.versions:
        if v.version in removed:
            continue
        c = changes.get(v.version, {})
        routes.append(VersionRoute(version=v.version, stage=c.get("stage", v.stage),
                                   weight=c.get("weight", v.weight), draft=c.get("draft", v.draft)))
    for vid, raw in (added or {}).items():
        routes.append(VersionRoute(version=vid, stage=raw.get("stage"), weight=raw.get("weight"),
                                   draft=bool(raw.get("draft", False))))
    after = ModelTraffic(model=traffic.model, versions=tuple(routes))
    if traffic.traffic and not after.traffic:
        raise InvalidInput(f"This change would leave {traffic.model!r} with no version taking traffic.",
                           fix="Keep at least one non-draft production/staging version with weight > 0.")
    return after
