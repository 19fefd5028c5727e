"""The one prediction path every protocol blueprint calls.

Order matters: authenticate and authorize before revealing whether a model or
version exists (an unauthorised caller gets 403, not 404); pick the version
from the current traffic snapshot; decode, predict, encode; stamp the version
headers. Nothing here reads files, parses config or imports modules.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from flask import Response, g, request
from werkzeug.exceptions import ClientDisconnected

from veneer.wrapper.batch import Batch, normalize_outputs
from veneer.wrapper.codecs.media import parse_content_type
from veneer.wrapper.errors import (BadRequest, InvalidInput, ModelNotFound, ModelNotReady,
                                   PayloadTooLarge, UnsupportedMediaType, VeneerError)
from veneer.wrapper.settings import ModelSpec

from .model_store import LoadedVersion
from .routing import Pick
from .state import ServerState

VERSION_HEADER = "X-Veneer-Model-Version"
ROUTING_KEY_HEADER = "X-Veneer-Routing-Key"
Decoder = Callable[[bytes, str], Batch]
Encoder = Callable[[dict, "Served", Batch], tuple[bytes, str]]


class Served:
    """The model/version that answers one request (handed to encoders)."""

    __slots__ = ("model", "loaded", "pick")

    def __init__(self, model: ModelSpec, loaded: LoadedVersion, pick: Pick) -> None:
        self.model, self.loaded, self.pick = model, loaded, pick

    @property
    def version(self) -> str:
        """The version id that answered."""
        return self.pick.version


def principal_for(state: ServerState, *, prefix: str, model_name: str | None, model: ModelSpec | None,
                  permission: str) -> Any:
    """Authenticate and authorize; returns the principal (None when auth is off)."""
    auth = state.auth
    if auth is None or not auth.enabled:
        return None
    principal = auth.authenticate(request.headers, request.args)
    auth.authorize(principal, prefix=prefix, model=model_name, model_spec=model, permission=permission)
    g.principal = principal
    return principal


def resolve(state: ServerState, model: ModelSpec | None, *, prefix: str, name: str,
            permission: str) -> ModelSpec:
    """Check access, then return the model (404 only for callers allowed to know)."""
    principal_for(state, prefix=prefix, model_name=name, model=model, permission=permission)
    if model is None:
        raise ModelNotFound(f"{prefix}/{name}" if prefix else name)
    g.model = model.qualified_name
    return model


def choose(state: ServerState, model: ModelSpec, url_version: str | None) -> tuple[LoadedVersion, Pick]:
    """Pick the version (URL pin, header pin, sticky key or weights) and check it is loaded."""
    traffic = state.traffic.models[model.qualified_name]
    environ = request.environ  # direct WSGI keys: the hot path avoids Headers' case-insensitive scans
    header_pin = environ.get("HTTP_X_VENEER_MODEL_VERSION")
    routing_key = environ.get("HTTP_X_VENEER_ROUTING_KEY")
    pick = state.router.pick(traffic, url_version=url_version, header_pin=header_pin,
                             routing_key=routing_key, may_pin_outside=_may_pin_outside(state))
    g.version = pick.version
    loaded = state.models.get(model.qualified_name, pick.version)
    if loaded is None:  # removed at run time between the snapshot and now
        raise ModelNotReady(f"Version {pick.version!r} of {model.qualified_name!r} was just removed.",
                            fix="Retry the request.", headers={"Retry-After": "1"})
    if loaded.state != "ready":
        reason = loaded.reason or "it is still loading"
        raise ModelNotReady(f"Version {pick.version!r} of {model.qualified_name!r} is not loaded: {reason}",
                            fix="Pin another version, or fix the artifact and restart.",
                            version=pick.version, reason_code=loaded.reason_code)
    return loaded, pick


def _may_pin_outside(state: ServerState) -> bool:
    policy = state.config.server.header_pinning
    if policy == "any":
        return True
    if policy == "traffic":
        return False
    principal = g.get("principal")
    if principal is None:
        return state.auth is None or not state.auth.enabled
    return bool({"pin", "manage"} & set(principal.permissions))


def predict(state: ServerState, model: ModelSpec, url_version: str | None, decode: Decoder,
            encode: Encoder, *, content_type: str | None = None) -> Response:
    """Decode the body, run the chosen version, encode the answer with version headers."""
    loaded, pick = choose(state, model, url_version)
    req = request._get_current_object()  # one proxy lookup instead of one per attribute
    body = read_body(state, req)
    batch = decode(body, content_type if content_type is not None else req.environ.get("CONTENT_TYPE", ""))
    ctx = g._get_current_object()
    ctx.rows = batch.n_rows
    if batch.n_rows > state.config.server.max_rows:
        raise PayloadTooLarge(f"{batch.n_rows} rows exceed the limit of {state.config.server.max_rows}.",
                              fix="Split the request into smaller batches.")
    batch.context = {"request_id": ctx.request_id, "principal": getattr(ctx, "principal", None),
                     "headers": req.headers}
    metrics = state.metrics
    start = time.perf_counter()
    with state.watchdog.guard(f"{model.qualified_name} v{pick.version}"):
        if metrics is None:
            outputs = run_predict(loaded, batch)
        else:
            with metrics.in_flight(model.qualified_name):
                outputs = run_predict(loaded, batch)
    elapsed = time.perf_counter() - start
    if metrics is not None:
        metrics.observe_predict(model=model.qualified_name, version=pick.version, seconds=elapsed)
    served = Served(model, loaded, pick)
    payload, mimetype = encode(outputs, served, batch)
    # headers built as one list: cheaper than setting them one by one on a Response
    return Response(payload, status=200, headers=version_headers(served, req.environ),
                    content_type=mimetype)  # encoders give the full type


def run_predict(loaded: LoadedVersion, batch: Batch) -> dict:
    """Call the adapter; a legacy model's complaint about its input is the client's error (422)."""
    try:
        result = loaded.adapter.predict(batch)
    except VeneerError:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise InvalidInput(f"The model rejected the input: {type(e).__name__}: {e}",
                           fix="Check the columns and types against the model's metadata "
                               "(GET the model URL with ?get_meta=true).") from e
    outputs = normalize_outputs(result)
    for name, arr in outputs.items():
        if arr.ndim and arr.shape[0] != batch.n_rows and batch.n_rows:
            # legacy code sometimes returns one summary value; say so rather than mis-align rows
            raise InvalidInput(f"The model returned {arr.shape[0]} values in {name!r} for {batch.n_rows} rows.")
    return outputs


def version_headers(served: Served, environ: dict) -> list[tuple[str, str]]:
    """The model, version, stage and engine that answered, and the routing key echo."""
    engine = getattr(served.loaded.adapter, "engine", None)
    if callable(engine):
        engine = engine()
    meta = served.loaded.metadata
    headers = [("X-Veneer-Model", served.model.qualified_name), (VERSION_HEADER, served.pick.version),
               ("X-Veneer-Model-Stage", served.pick.stage or "none"),
               ("X-Veneer-Engine", engine or (meta.platform if meta else served.loaded.spec.adapter))]
    key = environ.get("HTTP_X_VENEER_ROUTING_KEY")
    if key:
        headers.append((ROUTING_KEY_HEADER, key[:256]))
    return headers


def read_body(state: ServerState, req=None) -> bytes:
    """The request body, after the encoding, charset and size checks."""
    req = req if req is not None else request._get_current_object()
    environ = req.environ
    encoding = environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not accepted.",
                                   fix="Send the body uncompressed (Content-Encoding: identity).")
    if "charset" in environ.get("CONTENT_TYPE", ""):
        parse_content_type(environ["CONTENT_TYPE"])  # 415 for anything but UTF-8
    limit = state.config.server.max_request_bytes
    length = environ.get("CONTENT_LENGTH", "")
    size = int(length) if length.isdigit() else -1
    if 0 <= size <= limit:
        # the common case read straight from the server's stream: Werkzeug's wrapping costs ~10 us
        data = environ["wsgi.input"].read(size) if size else b""
        if len(data) < size:
            raise ClientDisconnected()  # what Werkzeug's LimitedStream says of a short body (400)
        return data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    data = req.get_data(cache=False)  # Werkzeug refuses a Content-Length over the limit (413)
    if not environ.get("CONTENT_LENGTH") and len(data) >= limit:
        # a chunked body is cut at the limit without an error by Werkzeug; reaching it means too large
        raise PayloadTooLarge(f"The chunked request body exceeds {limit} bytes.",
                              fix="Send a smaller body or raise server.max_request_bytes.")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data


def require_content_type(allowed: tuple[str, ...]) -> str:
    """The request's media type if it is one of ``allowed`` (a missing type counts as JSON; UTF-8 only)."""
    mimetype, _params = parse_content_type(request.content_type or "application/json")
    if mimetype not in allowed:
        raise UnsupportedMediaType(f"Content-Type {mimetype!r} is not accepted here.",
                                   fix=f"Use one of: {', '.join(allowed)}.")
    return mimetype


def bad_path(message: str) -> BadRequest:
    """A 400 for paths that try to escape their prefix."""
    return BadRequest(message, fix="Use /models/<prefix>/<model>/ without '.', '..' or empty segments.")
