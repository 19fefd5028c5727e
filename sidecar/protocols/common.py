"""Small pieces the protocol blueprints share."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g

from veneer.wrapper.codecs.jsonfast import dumps
from veneer.wrapper.settings import ModelSpec

from ..state import ServerState, get_state


def state() -> ServerState:
    """The current app's ``ServerState``."""
    return get_state(current_app)


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response serialised with the fast encoder."""
    return Response(dumps(body), status=status, mimetype="application/json")


def mark(protocol: str, *, count: bool = True) -> None:
    """Record the protocol of this request (for error shapes, metrics and logs)."""
    g.protocol = protocol
    if not count:
        g.count = False


def split_qualified(name: str) -> tuple[str, str]:
    """``"emea/risk/churn"`` → ``("emea/risk", "churn")``; a bare name has prefix ``""``."""
    prefix, _, model = name.rpartition("/")
    return prefix, model


def lookup(st: ServerState, name: str) -> tuple[ModelSpec | None, str, str]:
    """Resolve an OIP/V1 model name (bare when unique, or prefix/model)."""
    model = st.models.find_by_short_name(name) if "/" not in name else st.models.find_model(name)
    if model is not None:
        return model, model.prefix, model.name
    prefix, short = split_qualified(name)
    return None, prefix, short


def resolve_named(name: str, permission: str) -> tuple[ServerState, ModelSpec]:
    """Auth-check and resolve an OIP/V1 model name; 403 before 404 for callers out of scope."""
    from .. import dispatch

    st = state()
    model, prefix, short = lookup(st, name)
    return st, dispatch.resolve(st, model, prefix=prefix, name=short, permission=permission)


def answering_versions(st: ServerState, qualified: str) -> dict:
    """The versions that answer unpinned requests (the traffic set, else latest) and their load entries."""
    traffic = st.traffic.models[qualified]
    candidates = [v for v, _ in traffic.traffic] or ([traffic.latest] if traffic.latest else [])
    return {v: st.models.get(qualified, v) for v in candidates}


def can_answer(st: ServerState, qualified: str) -> bool:
    """Whether an unpinned request to the model would find a ready version."""
    return any(lv is not None and lv.ready for lv in answering_versions(st, qualified).values())


def model_metadata(st: ServerState, model: ModelSpec, version: str | None = None) -> dict[str, Any]:
    """Metadata of one model (or one version): versions, traffic, inputs/outputs (no paths)."""
    traffic = st.traffic.models[model.qualified_name]
    versions = []
    for lv in st.models.of_model(model.qualified_name):
        if version is not None and lv.spec.version != version:
            continue
        route = traffic.route(lv.spec.version)
        entry = lv.describe()
        if route is not None:
            entry.update(stage=route.stage, weight=route.weight, draft=route.draft,
                         in_traffic=traffic.in_traffic(lv.spec.version))
        if lv.metadata is not None:
            entry["platform"] = lv.metadata.platform
            entry["inputs"] = [t.to_dict() for t in lv.metadata.inputs]
            entry["outputs"] = [t.to_dict() for t in lv.metadata.outputs]
            entry["extra"] = lv.metadata.extra
        versions.append(entry)
    return {"name": model.name, "prefix": model.prefix, "model": model.qualified_name,
            "description": model.description, "latest": traffic.latest,
            "traffic": [{"version": v, "weight": w} for v, w in traffic.traffic], "versions": versions}
