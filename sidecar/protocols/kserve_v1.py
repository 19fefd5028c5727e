"""KServe V1 (TF-Serving style): ``GET /v1/models/{m}``, ``POST /v1/models/{m}:predict``."""

from __future__ import annotations

from flask import Blueprint, Response

from veneer.wrapper.codecs import jsonfast, kserve_v1

from .. import dispatch
from .common import can_answer, json_response, mark, resolve_named

bp = Blueprint("kserve_v1", __name__)


@bp.get("/v1/models/<path:name>")
def status(name: str) -> Response:
    """V1 model status: name and readiness."""
    mark("v1", count=False)
    st, model = resolve_named(name, "metadata")
    return json_response({"name": model.name, "ready": can_answer(st, model.qualified_name)})


def _predict(name: str, version: str | None) -> Response:
    mark("v1")
    st, model = resolve_named(name, "predict")
    dispatch.require_content_type(("application/json",))

    def decode(body: bytes, _ct: str):
        return kserve_v1.decode_v1(jsonfast.loads(body), max_rows=st.config.server.max_rows)

    def encode(outputs, served, batch):
        return jsonfast.dumps(kserve_v1.encode_v1(outputs)), "application/json"

    return dispatch.predict(st, model, version, decode, encode)


@bp.post("/v1/models/<path:name>:predict")
def predict(name: str) -> Response:
    """V1 predict with ``instances`` or ``inputs``."""
    return _predict(name, None)


@bp.post("/v1/models/<path:name>/versions/<version>:predict")
def predict_version(name: str, version: str) -> Response:
    """V1 predict on one version."""
    return _predict(name, version)
