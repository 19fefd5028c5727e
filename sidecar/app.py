"""``create_app(config)``: the Flask app serving every protocol for every model.

No app exists at import time. Each feature keeps its state in
``app.extensions["veneer"]`` (a ``ServerState``); the request hooks here give
every response a request id, count it in the metrics and write one access-log
line, including rejected requests.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from veneer.wrapper.errors import VeneerError
from veneer.wrapper.settings import Config

from . import errors_http
from .model_store import ModelStore
from .routing import Router
from .state import ServerState
from .traffic_store import TrafficStore
from .watchdog import Watchdog

log = logging.getLogger("veneer.app")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def create_app(config: Config, *, store: ModelStore | None = None, load: bool = True,
               traffic: TrafficStore | None = None) -> Flask:
    """Build the app for ``config``; loads the models unless ``store`` or ``load=False`` says otherwise."""
    app = Flask("veneer")
    app.config["MAX_CONTENT_LENGTH"] = config.server.max_request_bytes
    apply_string_dtype(config.server.string_dtype)
    app.json.sort_keys = False
    metrics = _make_metrics(config)
    if store is None:
        store = ModelStore(config, observer=_load_observer(metrics), metrics=metrics)
    traffic = traffic or TrafficStore(config)
    store.sync(traffic.specs, load_now=False)
    if load:
        store.load()
    traffic.listener = store.sync
    auth = _make_auth(config)
    if auth is not None and metrics is not None:
        auth.observer = metrics.observe_auth_failure
        auth.jwks_observer = metrics.observe_jwks_fetch
    state = ServerState(config=config, models=store, router=Router(), traffic_source=traffic,
                        auth=auth, metrics=metrics, watchdog=Watchdog(config.server.timeout))
    app.extensions["veneer"] = state
    _install_hooks(app, state)
    from .protocols import register_all

    register_all(app)
    return app


def apply_string_dtype(choice: str) -> None:
    """Make pandas build text columns as ``object`` (pandas < 3) or ``str`` (pandas 3's default).

    Legacy models were fitted, and legacy ``predict(df)`` code written, when text was
    ``object``; pandas 3 infers Arrow-backed ``str`` instead, which their encoders turn
    back into objects on every call (~0.3 ms of a 4 ms scikit-learn pipeline). The
    option is process-wide and set once, before any request: never toggled per frame
    (pandas options are not thread-local).
    """
    import pandas as pd

    want = choice == "str"
    try:
        if pd.get_option("future.infer_string") != want:
            pd.set_option("future.infer_string", want)
    except (KeyError, pd.errors.OptionError):  # pandas < 2.1: text is always object
        if want:
            log.warning("server.string_dtype: str needs pandas >= 2.1; text columns stay object")


def _make_auth(config: Config):
    if config.auth is None:  # "auth: none": the start-up log and /v2 say so
        return None
    from .auth import Authenticator

    return Authenticator.from_config(config)


def _make_metrics(config: Config):
    if not config.server.metrics:
        return None
    from .metrics import Metrics

    known = [m.qualified_name for m in config.models]
    return Metrics(known_models=known)


def _load_observer(metrics):
    if metrics is None:
        return None

    def observe(lv) -> None:
        spec = lv.spec
        if lv.state == "ready":
            saved = (lv.metadata.extra.get("saved_with") if lv.metadata else None) or None
            metrics.observe_model_load(model=spec.qualified_name, version=spec.version, adapter=spec.adapter,
                                       seconds=lv.load_seconds or 0.0, sha256=spec.sha256,
                                       saved_with=_flat(saved))
        else:
            metrics.observe_load_failure(model=spec.qualified_name, version=spec.version,
                                         reason=lv.reason_code or "load_error")
    return observe


def _flat(saved) -> str | None:
    if isinstance(saved, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(saved.items())) or None
    return saved


def _install_hooks(app: Flask, state: ServerState) -> None:
    access_log = state.config.server.access_log
    metrics = state.metrics
    if access_log:
        from .access_log import log_request
    else:
        log_request = None

    @app.before_request
    def start() -> None:
        ctx = g._get_current_object()
        ctx.start = time.perf_counter()
        rid = request.environ.get("HTTP_X_REQUEST_ID")
        ctx.request_id = rid if rid and _REQUEST_ID.match(rid) else uuid.uuid4().hex

    @app.after_request
    def finish(response):
        ctx = g._get_current_object()  # one proxy lookup; attributes below are plain reads
        rid = getattr(ctx, "request_id", None) or uuid.uuid4().hex
        response.headers.add("X-Request-ID", rid)  # add: nothing set it before, no scan needed
        if not getattr(ctx, "count", True):
            return response
        elapsed = time.perf_counter() - getattr(ctx, "start", time.perf_counter())
        model = getattr(ctx, "model", None)
        version = getattr(ctx, "version", None)
        protocol = getattr(ctx, "protocol", None) or errors_http.protocol_of_request()
        if metrics is not None:
            metrics.observe_request(model=model or "_none", version=version or "_none", protocol=protocol,
                                    status=response.status_code, seconds=elapsed, rows=getattr(ctx, "rows", None))
        if log_request is not None:
            req = request._get_current_object()
            log_request(request_id=rid, method=req.method, path=req.path, model=model, version=version,
                        status=response.status_code, seconds=elapsed, protocol=protocol, remote=req.remote_addr)
        return response

    app.register_error_handler(VeneerError, errors_http.handle_veneer_error)
    app.register_error_handler(HTTPException, errors_http.handle_http_exception)
    app.register_error_handler(Exception, errors_http.handle_unexpected)
