"""Open Inference Protocol (V2) REST: model metadata, readiness and inference."""

from __future__ import annotations

from flask import Blueprint, Response

from veneer.wrapper.codecs import jsonfast, oip
from veneer.wrapper.errors import VersionNotFound

from .. import dispatch
from .common import can_answer, json_response, mark, resolve_named

bp = Blueprint("oip", __name__)


def _metadata(name: str, version: str | None) -> Response:
    mark("v2")
    st, model = resolve_named(name, "metadata")
    versions = st.models.of_model(model.qualified_name)
    if version is not None:
        chosen = st.models.get(model.qualified_name, version)
        if chosen is None:
            raise VersionNotFound(model.qualified_name, version, known=[lv.spec.version for lv in versions])
    else:
        traffic = st.traffic.models[model.qualified_name]
        target = traffic.latest
        chosen = st.models.get(model.qualified_name, target) if target else versions[0]
    meta = chosen.metadata
    body = oip.model_metadata(
        name=model.name, versions=[lv.spec.version for lv in versions],
        platform=meta.platform if meta else chosen.spec.adapter,
        inputs=[t.to_dict() for t in meta.inputs] if meta else [],
        outputs=[t.to_dict() for t in meta.outputs] if meta else [])
    return json_response(body)


@bp.get("/v2/models/<path:name>")
def model_metadata(name: str) -> Response:
    """OIP model metadata (of the latest version)."""
    return _metadata(name, None)


@bp.get("/v2/models/<path:name>/versions/<version>")
def version_metadata(name: str, version: str) -> Response:
    """OIP model metadata of one version."""
    return _metadata(name, version)


def _ready(name: str, version: str | None) -> Response:
    mark("v2", count=False)
    st, model = resolve_named(name, "metadata")
    if version is None:
        ok = can_answer(st, model.qualified_name)
    else:
        lv = st.models.get(model.qualified_name, version)
        if lv is None:
            raise VersionNotFound(model.qualified_name, version)
        ok = lv.ready
    return json_response({"name": model.name, "ready": ok}, 200 if ok else 503)


@bp.get("/v2/models/<path:name>/ready")
def model_ready(name: str) -> Response:
    """OIP model readiness."""
    return _ready(name, None)


@bp.get("/v2/models/<path:name>/versions/<version>/ready")
def version_ready(name: str, version: str) -> Response:
    """OIP readiness of one version."""
    return _ready(name, version)


def _infer(name: str, version: str | None) -> Response:
    mark("v2")
    st, model = resolve_named(name, "predict")
    dispatch.require_content_type(("application/json",))
    info_box = {}

    def decode(body: bytes, _ct: str):
        doc = jsonfast.loads(body)
        batch, info = oip.decode_infer_request(doc, max_rows=st.config.server.max_rows)
        info_box["info"] = info
        return batch

    def encode(outputs, served, batch):
        body = oip.encode_infer_response(model_name=model.name, model_version=served.version,
                                         outputs=outputs, info=info_box["info"])
        return jsonfast.dumps(body), "application/json"

    return dispatch.predict(st, model, version, decode, encode)


@bp.post("/v2/models/<path:name>/infer")
def infer(name: str) -> Response:
    """OIP inference; the version is chosen by weights, pins or routing key."""
    return _infer(name, None)


@bp.post("/v2/models/<path:name>/versions/<version>/infer")
def infer_version(name: str, version: str) -> Response:
    """OIP inference on one version."""
    return _infer(name, version)
