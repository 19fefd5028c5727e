"""Health, server metadata and metrics: ``/v2/health/*``, ``/v2``, ``/ping``, ``/health``, ``/version``, ``/metrics``."""

from __future__ import annotations

from flask import Blueprint, Response, request

from veneer._version import __version__

from ..state import ServerState
from .common import answering_versions, json_response, mark, state

bp = Blueprint("health", __name__)
EXTENSIONS = ["model_repository_readonly", "version_headers", "traffic_weights"]


def _gate(st: ServerState, kind: str) -> None:
    """Health and metrics answer without a token unless the server or auth config makes them private."""
    if st.auth is not None and st.auth.enabled and not st.auth.is_public(kind):
        st.auth.authenticate(request.headers, request.args)


def readiness(st: ServerState) -> tuple[bool, dict]:
    """Ready when every model has a loaded version to answer its traffic."""
    details = {}
    ready = True
    for name in st.traffic.models:
        states = answering_versions(st, name)
        ok = any(lv is not None and lv.ready for lv in states.values())
        ready &= ok
        if not ok:
            details[name] = {v: (lv.reason or lv.state) if lv else "unknown" for v, lv in states.items()}
    return ready, details


@bp.get("/v2/health/live")
def live() -> Response:
    """The process answers (KServe/OIP liveness)."""
    mark("v2", count=False)
    _gate(state(), "health")
    return json_response({"live": True})


def _readiness_answer(body: dict, ok: bool, details: dict) -> Response:
    if details:
        body["not_ready"] = details
    return json_response(body, 200 if ok else 503)


def _checked_readiness() -> tuple[bool, dict]:
    st = state()
    _gate(st, "health")
    return readiness(st)


@bp.get("/v2/health/ready")
def ready() -> Response:
    """Every model can answer (OIP readiness); 503 lists what is not ready and why."""
    mark("v2", count=False)
    ok, details = _checked_readiness()
    return _readiness_answer({"ready": ok}, ok, details)


@bp.get("/ping")
@bp.get("/health")
def ping() -> Response:
    """MLflow scoring server health: 200 when ready."""
    mark("mlflow", count=False)
    ok, details = _checked_readiness()
    return _readiness_answer({"status": "ok" if ok else "not ready"}, ok, details)


@bp.get("/version")
def version() -> Response:
    """Veneer's version (MLflow's /version route)."""
    mark("mlflow", count=False)
    _gate(state(), "health")
    return Response(__version__, mimetype="text/plain")


@bp.get("/v2")
@bp.get("/v2/")
def server_metadata() -> Response:
    """OIP server metadata, plus whether auth is on."""
    mark("v2", count=False)
    st = state()
    _gate(st, "health")
    auth = st.auth.describe() if st.auth is not None else {"auth": "off"}
    return json_response({"name": "veneer", "version": __version__, "extensions": EXTENSIONS, "auth": auth})


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition, aggregated across workers."""
    mark("metrics", count=False)
    st = state()
    _gate(st, "metrics")
    if st.metrics is None:
        return json_response({"error": "metrics are off (server.metrics: false)", "code": "not_found"}, 404)
    from ..metrics import render_metrics

    payload, content_type = render_metrics()
    return Response(payload, content_type=content_type)
