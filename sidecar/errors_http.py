"""Render any error as JSON in the shape of the protocol that was called.

V1, V2 and native callers get ``{"error": "...", "code": "..."}``; MLflow
scoring callers get MLflow's ``{"error_code": "...", "message": "..."}``.
Never an HTML page, and never a traceback in a body.
"""

from __future__ import annotations

import logging

from flask import Response, g, request
from werkzeug.exceptions import HTTPException

from veneer.wrapper.codecs.jsonfast import dumps
from veneer.wrapper.errors import VeneerError

log = logging.getLogger("veneer.errors")

MLFLOW_CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "RESOURCE_DOES_NOT_EXIST", 413: "INVALID_PARAMETER_VALUE",
                415: "INVALID_PARAMETER_VALUE", 422: "INVALID_PARAMETER_VALUE",
                429: "REQUEST_LIMIT_EXCEEDED", 500: "INTERNAL_ERROR", 502: "TEMPORARILY_UNAVAILABLE",
                503: "TEMPORARILY_UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}

_HTTP_HINTS = {404: "See GET /v2 and the README for the routes veneer serves.",
               405: "Check the HTTP method: predictions are POST, metadata and health are GET.",
               413: "Send a smaller body or raise server.max_request_bytes.",
               414: "Shorten the URL."}


def protocol_of_request() -> str:
    """The protocol of the current request (set by its view, else guessed from the path)."""
    proto = g.get("protocol")
    if proto:
        return proto
    path = request.path
    if path.endswith("/invocations") or path in ("/ping", "/health", "/version"):
        return "mlflow"
    if path.startswith("/v2"):
        return "v2"
    if path.startswith("/v1/"):
        return "v1"
    return "native"


def render(status: int, message: str, code: str, extra: dict | None = None,
           headers: dict | None = None) -> Response:
    """The JSON error response for the current request's protocol."""
    if protocol_of_request() == "mlflow":
        body = {"error_code": MLFLOW_CODES.get(status, "INTERNAL_ERROR"), "message": message}
    else:
        body = {"error": message, "code": code}
        if extra:
            body.update(extra)
    rid = g.get("request_id")
    if rid:
        body["request_id"] = rid
    response = Response(dumps(body), status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


def handle_veneer_error(err: VeneerError) -> Response:
    """Flask error handler for the veneer error tree."""
    if int(err.status) >= 500:
        log.warning("%s %s -> %d %s: %s", request.method, request.path, int(err.status), err.code, err)
    extra = {k: v for k, v in err.details.items() if v is not None and k != "model"} or None
    return render(int(err.status), str(err), err.code, extra, err.headers)


def handle_http_exception(err: HTTPException) -> Response:
    """Werkzeug's own errors (routing 404/405, 413 from the body limit...) as JSON."""
    status = err.code or 500
    message = err.description or err.name
    hint = _HTTP_HINTS.get(status)
    if hint:
        message = f"{message} {hint}"
    headers = {}
    if status == 405 and getattr(err, "valid_methods", None):
        headers["Allow"] = ", ".join(err.valid_methods)
    code = err.name.lower().replace(" ", "_")
    return render(status, message, code, headers=headers)


def handle_unexpected(err: Exception) -> Response:
    """Anything else: 500 with the request id, full traceback in the log only."""
    log.exception("unexpected error on %s %s (request %s)", request.method, request.path, g.get("request_id"))
    return render(500, "Internal error while answering this request; the server log has the details "
                       "under this request id.", "internal")
