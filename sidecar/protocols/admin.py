"""Admin API: list versions, change stages/weights/drafts, add and remove versions.

Every route needs a token with the ``manage`` permission on the model (adding a
Python-code version also needs ``custom_code``). Changes are validated against
the whole model, written atomically beside the config (never into the user's
YAML) and picked up by every worker within ``traffic_store.POLL_SECONDS``.

    GET    /admin/models                               every model you may manage
    GET    /admin/models/{prefix}/{model}              one model
    PATCH  /admin/models/{prefix}/{model}/versions/{v} {"stage", "weight", "draft"}
    PUT    /admin/models/{prefix}/{model}/weights      {"1": 80, "2": 20} (one atomic change)
    POST   /admin/models/{prefix}/{model}/versions     {"version", "adapter", "path"|"uri"|"url", ...}
    DELETE /admin/models/{prefix}/{model}/versions/{v}
"""

from __future__ import annotations

from flask import Blueprint, Response, g

from veneer.wrapper.codecs import jsonfast
from veneer.wrapper.errors import Forbidden, InvalidInput, VersionNotFound
from veneer.wrapper.settings import ModelSpec

from .. import dispatch
from ..traffic_changes import apply_and_check, check_addition, check_fields, check_weight
from .common import json_response, mark, model_metadata, split_qualified, state

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _model(qualified: str) -> ModelSpec:
    mark("admin")
    st = state()
    prefix, name = split_qualified(qualified.strip("/"))
    return dispatch.resolve(st, st.models.find_model(qualified.strip("/")), prefix=prefix, name=name,
                            permission="manage")


def _body() -> object:
    dispatch.require_content_type(("application/json",))
    return jsonfast.loads(dispatch.read_body(state()))


def _summary(model: ModelSpec) -> dict:
    st = state()
    return model_metadata(st, st.models.find_model(model.qualified_name) or model)


def _commit(model: ModelSpec, mutate) -> Response:
    """Apply ``mutate(entry, traffic)`` under the state lock, then answer with the new model state."""
    st = state()
    with st.traffic_source.locked() as persisted:
        entry = persisted.setdefault("models", {}).setdefault(model.qualified_name, {})
        mutate(entry, st.traffic.models[model.qualified_name])
    return json_response(_summary(model))


@bp.get("/models")
def list_models() -> Response:
    """Every model the token may manage, with versions, stages, weights and load states."""
    mark("admin")
    st = state()
    out = []
    for model in st.models.models.values():
        try:
            dispatch.resolve(st, model, prefix=model.prefix, name=model.name, permission="manage")
        except Forbidden:
            continue
        out.append(model_metadata(st, model))
    return json_response({"models": out})


@bp.get("/models/<path:qualified>")
def show_model(qualified: str) -> Response:
    """One model's versions and traffic."""
    return json_response(_summary(_model(qualified)))


@bp.patch("/models/<path:qualified>/versions/<version>")
def change_version(qualified: str, version: str) -> Response:
    """Set stage, weight and/or draft of one version."""
    model = _model(qualified)
    change = check_fields(_body(), where=f"version {version}")

    def mutate(entry, traffic):
        if traffic.route(version) is None:
            raise VersionNotFound(model.qualified_name, version, known=[v.version for v in traffic.versions])
        apply_and_check(traffic, {version: change})
        entry.setdefault("versions", {}).setdefault(version, {}).update(change)

    return _commit(model, mutate)


@bp.put("/models/<path:qualified>/weights")
def set_weights(qualified: str) -> Response:
    """Set several versions' weights as one atomic change (versions not named keep theirs)."""
    model = _model(qualified)
    body = _body()
    if not isinstance(body, dict) or not body:
        raise InvalidInput('Expected an object of version -> weight, e.g. {"1": 80, "2": 20}.')
    weights = {str(v): check_weight(w, where=f"version {v}") for v, w in body.items()}

    def mutate(entry, traffic):
        apply_and_check(traffic, {v: {"weight": w} for v, w in weights.items()})
        for v, w in weights.items():
            entry.setdefault("versions", {}).setdefault(v, {})["weight"] = w

    return _commit(model, mutate)


@bp.post("/models/<path:qualified>/versions")
def add_version(qualified: str) -> Response:
    """Add a version whose artifact is already on this server (path, URI or URL)."""
    model = _model(qualified)
    principal = g.get("principal")
    permissions = set(principal.permissions) if principal is not None else None

    def mutate(entry, traffic):
        existing = {v.version for v in traffic.versions}
        raw = check_addition(payload, model, existing, permissions)
        apply_and_check(traffic, {}, added={raw["version"]: raw})
        entry.setdefault("added", {})[raw["version"]] = raw
        removed = entry.get("removed", [])
        if raw["version"] in removed:
            removed.remove(raw["version"])

    payload = _body()
    response = _commit(model, mutate)
    response.status_code = 201
    return response


@bp.delete("/models/<path:qualified>/versions/<version>")
def remove_version(qualified: str, version: str) -> Response:
    """Remove a version (refused when it would leave the model without traffic)."""
    model = _model(qualified)

    def mutate(entry, traffic):
        if traffic.route(version) is None:
            raise VersionNotFound(model.qualified_name, version, known=[v.version for v in traffic.versions])
        if len(traffic.versions) == 1:
            raise InvalidInput(f"{version!r} is the only version of {model.qualified_name!r}.",
                               fix="Add another version first.")
        apply_and_check(traffic, {}, removed={version})
        entry.setdefault("removed", []).append(version)
        entry.get("added", {}).pop(version, None)
        entry.get("versions", {}).pop(version, None)

    return _commit(model, mutate)
