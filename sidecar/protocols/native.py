"""The hosting platform's native routes under ``/models/``.

``POST /models/{prefix}/{model}/`` and ``/models/{prefix}/{model}/v{version}/``
take JSON (any shape MLflow or KServe clients send, auto-detected) or CSV and
answer in the same format; ``GET`` with ``?get_meta=true`` gives metadata;
``/models/{prefix}/{model}/invocations`` speaks MLflow scoring. A prefix may
contain ``/``, so the path is resolved against the served models here rather
than by URL rules.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from veneer.wrapper.codecs import tabular

from .. import dispatch
from .common import json_response, mark, model_metadata, state
from .docs import maybe_serve as docs_answer
from .mlflow_scoring import invoke

bp = Blueprint("native", __name__)
MEDIA_TYPES = ("application/json", "text/csv")


def parse(rest: str):
    """Split the path into ``(prefix, model, version, action)`` without trusting it."""
    segments = rest.split("/")
    if segments and segments[-1] == "":
        segments = segments[:-1]  # the canonical trailing slash
    if not segments or any(s in ("", ".", "..") for s in segments):
        raise dispatch.bad_path(f"Path /models/{rest} has empty, '.' or '..' segments.")
    st = state()
    action = None
    if segments[-1] == "invocations":
        action, segments = "invocations", segments[:-1]
    known = st.models.models
    if len(segments) >= 3 and segments[-1].startswith("v") and "/".join(segments[:-1]) in known:
        return segments[:-2], segments[-2], segments[-1][1:], action
    if len(segments) >= 2:
        return segments[:-1], segments[-1], None, action
    return segments, None, None, action


@bp.route("/models/<path:rest>", methods=["GET", "POST"])
def models(rest: str) -> Response:
    """Predict, metadata or MLflow scoring for one model (see the module docstring)."""
    docs = docs_answer(rest)  # /models/{prefix}/docs/, /redoc/, /openapi.json (see protocols/docs.py)
    if docs is not None:
        return docs
    mark("native")
    prefix_parts, name, version, action = parse(rest)
    prefix = "/".join(prefix_parts)
    st = state()
    if name is None:
        dispatch.resolve(st, None, prefix=prefix, name="", permission="metadata")
    qualified = f"{prefix}/{name}"
    model = st.models.find_model(qualified)
    if request.method == "GET":
        model = dispatch.resolve(st, model, prefix=prefix, name=name, permission="metadata")
        if version is not None and st.models.get(model.qualified_name, version) is None:
            from veneer.wrapper.errors import VersionNotFound

            raise VersionNotFound(model.qualified_name, version)
        return json_response(model_metadata(st, model, version))
    model = dispatch.resolve(st, model, prefix=prefix, name=name, permission="predict")
    if action == "invocations":
        return invoke(st, model, version)
    dispatch.require_content_type(MEDIA_TYPES)
    max_rows = st.config.server.max_rows
    formats = {}

    def decode(body: bytes, content_type: str):
        batch, fmt = tabular.decode_native(body, content_type, max_rows=max_rows)
        formats["fmt"] = fmt
        return batch

    def encode(outputs, served, batch):
        return tabular.encode_native(outputs, formats["fmt"], batch)

    return dispatch.predict(st, model, version, decode, encode)
