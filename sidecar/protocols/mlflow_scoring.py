"""MLflow scoring server: ``POST /invocations`` (and ``/models/{prefix}/{model}/invocations``).

Accepts everything MLflow 2/3 accepts (``dataframe_split``, ``dataframe_records``,
``instances``, ``inputs``, ``params``, CSV) and the MLflow 1.x payloads MLflow 2
started rejecting, so old clients keep working. Errors use MLflow's
``{"error_code", "message"}`` shape.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from veneer.wrapper.codecs import jsonfast, mlflow_payloads
from veneer.wrapper.errors import NotFound
from veneer.wrapper.settings import ModelSpec

from .. import dispatch
from ..state import ServerState
from .common import mark, state

bp = Blueprint("mlflow_scoring", __name__)
MEDIA_TYPES = ("application/json", "text/csv", "application/json-numpy-split")


def invoke(st: ServerState, model: ModelSpec, version: str | None) -> Response:
    """Score one MLflow-style request on ``model`` (already authorized)."""
    mark("mlflow")
    mimetype = dispatch.require_content_type(MEDIA_TYPES)
    query = request.args
    raw_type = request.content_type or mimetype

    formats = {}

    def decode(body: bytes, _ct: str):
        batch, formats["fmt"] = mlflow_payloads.decode_request(body, raw_type, query,
                                                               max_rows=st.config.server.max_rows)
        return batch

    def encode(outputs, served, batch):
        # MLflow 1.x clients get the bare predictions their server answered, 2.x+ the wrapped form
        return jsonfast.dumps(mlflow_payloads.encode(outputs, formats.get("fmt"))), "application/json"

    return dispatch.predict(st, model, version, decode, encode)


def default_model(st: ServerState) -> ModelSpec:
    """The model bare ``/invocations`` answers: the only one, or ``server.default_model``."""
    name = st.config.server.default_model
    if name:
        model = st.models.find_model(name) or st.models.find_by_short_name(name)
        if model is not None:
            return model
    if len(st.models.models) == 1:
        return next(iter(st.models.models.values()))
    paths = ", ".join(f"/models/{q}/invocations" for q in sorted(st.models.models))
    raise NotFound("Several models are served, so /invocations does not know which one to call.",
                   fix=f"Call a model's own path ({paths}) or set server.default_model.")


@bp.post("/invocations")
def invocations() -> Response:
    """MLflow ``/invocations`` for the default model."""
    mark("mlflow")
    st = state()
    model = default_model(st)
    dispatch.resolve(st, model, prefix=model.prefix, name=model.name, permission="predict")
    return invoke(st, model, None)
