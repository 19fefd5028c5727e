"""The ``http`` adapter: a legacy scoring service on some URL, called with its own payload format.

One ``requests.Session`` per adapter (per worker), pooled keep-alive connections,
no redirects, a capped response size, (connect, read) timeouts inside an overall
deadline, jittered retries only where a retry is safe and within a retry budget,
and a circuit breaker. Upstream trouble becomes ``UpstreamError`` (502),
``UpstreamUnavailable`` (503) or ``UpstreamTimeout`` (504) with a ``reason``;
upstream 4xx is the client's error and is passed on.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import ConfigError, UpstreamError, UpstreamUnavailable, VeneerError

from ._http_calls import Caller
from ._http_mapping import RequestMapping, ResponseMapping
from ._http_options import OPTIONS_SCHEMA, resolve_options
from ._http_resilience import OPEN, CircuitBreaker, RetryBudget
from .base import AdapterMetadata, BaseAdapter, TensorSpec

log = logging.getLogger("veneer.adapters.http")

#: Process-wide hook called with a metric reason (see ``metric_reason``) for every upstream
#: failure; the server connects it to ``veneer_upstream_errors_total{reason}``.
observer: Callable[[str], None] | None = None

_BAD_RESPONSE = frozenset(("invalid_json", "path_not_found", "count_mismatch", "too_large", "incomplete_answer"))
_AS_IS = frozenset(("connect_error", "connect_timeout", "read_timeout", "deadline", "circuit_open", "tls_error",
                    "dns_error", "redirect"))


def metric_reason(reason: str) -> str:
    """The bounded metric label of an error's detailed ``reason`` (``status_503`` → ``http_5xx``)."""
    if reason in _AS_IS:
        return reason
    if reason in _BAD_RESPONSE:
        return "bad_response"
    if reason.startswith("status_") and reason[7:8] in ("4", "5"):
        return f"http_{reason[7]}xx"
    if reason == "not_loaded":
        return "upstream_unavailable"
    return "upstream_error"

_IDENTITY = ("x-veneer-subject", "x-veneer-groups")
_NEVER_FORWARD = frozenset(("host", "connection", "keep-alive", "transfer-encoding", "te", "upgrade",
                            "content-length", "content-type", "content-encoding", "proxy-authorization",
                            "proxy-connection", "x-request-id", *_IDENTITY))


def _clean(value: Any) -> str:
    """Header-safe text: control characters would let a claim inject headers."""
    return "".join(ch for ch in str(value) if ch >= " " and ch != "\x7f")


def _claim(principal: Any, name: str) -> Any:
    if isinstance(principal, dict):
        return principal.get(name)
    return getattr(principal, name, None)


class HttpAdapter(BaseAdapter):
    """Front a legacy HTTP scoring service (``url:`` of the version; ``options:`` in ``OPTIONS_SCHEMA``).

    ``fork_safe`` is False: the session's pooled sockets must never be shared by
    forked workers, so ``load()`` runs in each worker.
    """

    fork_safe = False
    options_schema = OPTIONS_SCHEMA

    def __init__(self, spec: Any, transport: Any = None) -> None:
        super().__init__(spec)
        #: a ``requests.adapters.BaseAdapter`` to mount instead of the pooled HTTPAdapter (tests)
        self.transport = transport
        #: per-instance failure hook; falls back to the module-level ``observer``
        self.observer: Callable[[str], None] | None = None
        self.session: Any = None
        self.pool: Any = None
        #: the lean keep-alive client of plain-http upstreams (``_http_wire``); None for TLS or a transport
        self.wire: Any = None
        self._health_lock = threading.Lock()
        self._health_until = 0.0
        self._health_ok = False
        self._configure()

    def _configure(self) -> None:
        """Validate options and URL, compile mappings; no I/O (cheap enough for config checks)."""
        where = getattr(self.spec, "origin", "") or ""
        self.opts = o = resolve_options(self.options, where)
        url = getattr(self.spec, "url", None)
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"url {url!r} is not an http(s) URL.", file=where or None, path="url",
                              fix="Write the service's full address, e.g. http://127.0.0.1:9000/score.")
        self.url = url
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        netloc = host + (f":{parts.port}" if parts.port else "")
        #: the upstream without credentials, for metadata and messages
        self.upstream = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        inputs = [i if isinstance(i, str) else i["name"] for i in o["inputs"]]
        self.request_map = RequestMapping(o["request"], inputs or None)
        self.response_map = ResponseMapping(o["response"])
        self.breaker = CircuitBreaker(o["breaker"]["failures"], o["breaker"]["reset_seconds"],
                                      on_change=self._breaker_changed)
        r = o["retries"]
        self.budget = RetryBudget(r["budget_ratio"], r["budget_window"], r["min_retries"])
        self.idempotent = bool(getattr(self.spec, "idempotent", False))

    def _beside_config(self, file: str | None) -> str | None:
        """A relative TLS file is relative to the config file that named it (``spec.origin``)."""
        from pathlib import Path

        if not file or Path(file).is_absolute():
            return file
        origin = (getattr(self.spec, "origin", "") or "").rsplit(":", 1)[0]
        return str(Path(origin).parent / file) if origin and Path(origin).is_file() else file

    def _breaker_changed(self, old: str, new: str) -> None:
        log.warning("circuit breaker of %s: %s -> %s", self.upstream, old, new)

    def load(self) -> None:
        """Build the pooled session (no retries of its own, no proxies or netrc from the environment)."""
        import requests
        from requests.adapters import HTTPAdapter as PoolAdapter

        session = requests.Session()
        session.trust_env = False  # never pick up proxies or ~/.netrc credentials silently
        session.headers["User-Agent"] = "veneer-http-adapter"
        tls = {k: self._beside_config(v) for k, v in self.opts["tls"].items()}
        session.verify = tls["ca_bundle"] or True
        if tls["client_cert"]:
            session.cert = (tls["client_cert"], tls["client_key"]) if tls["client_key"] else tls["client_cert"]
        # pool_block=False: urllib3 would otherwise wait for a free connection with no
        # timeout at all; surplus connections are opened and closed instead. Two pools:
        # the upstream and a health URL that may live on another port.
        mounted = self.transport or PoolAdapter(pool_connections=2, pool_maxsize=self.opts["pool"]["maxsize"],
                                                max_retries=0, pool_block=False)
        session.mount("http://", mounted)
        session.mount("https://", mounted)
        self.session = session
        self.pool, self.base_headers, self.target = self._fast_path(session, mounted)
        parts = urlsplit(self.url)
        if self.pool is not None and parts.scheme == "http":
            from ._http_wire import WirePool

            self.wire = WirePool(parts.hostname, parts.port or 80, self.opts["pool"]["maxsize"], self.base_headers)
        self.caller = Caller(self)
        if self.opts["health"]["url"]:
            try:
                self.ready()
            except Exception as e:  # a down service must not stop veneer from starting
                log.warning("health check of %s failed at load: %s", self.upstream, e)

    def _fast_path(self, session: Any, mounted: Any) -> tuple[Any, dict[str, str], str]:
        """The urllib3 pool requests would use for ``url`` (TLS settings included), or None.

        Calling it directly skips Session.request's per-call merging of settings, hooks
        and cookies: ~0.25 ms of CPU per call, a quarter of the latency budget. An
        injected transport is always called through the session.
        """
        import requests
        from requests.adapters import HTTPAdapter as PoolAdapter

        parts = urlsplit(self.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = dict(session.headers)
        if parts.username is not None:  # what requests does with credentials in the URL
            from urllib.parse import unquote

            from urllib3.util import make_headers

            auth = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers.update(make_headers(basic_auth=auth))
        if type(mounted) is not PoolAdapter:
            return None, headers, target
        try:
            prepared = requests.Request("GET", self.url).prepare()
            pool = mounted.get_connection_with_tls_context(prepared, session.verify, cert=session.cert)
        except (AttributeError, requests.RequestException, OSError) as e:  # older requests: slow path
            log.info("http adapter fast path unavailable (%s); calling through requests", e)
            return None, headers, target
        return pool, headers, target

    def unload(self) -> None:
        """Close pooled connections."""
        session, self.session = self.session, None
        pool, self.pool = getattr(self, "pool", None), None
        wire, self.wire = self.wire, None
        if wire is not None:
            wire.close()
        if pool is not None:
            pool.close()
        if session is None:
            return
        # urllib3 2.x PoolManager.clear() only forgets its pools (closed whenever they are
        # garbage-collected); close them here so their sockets go away now.
        for mounted in {id(m): m for m in session.adapters.values()}.values():
            pools = getattr(getattr(mounted, "poolmanager", None), "pools", None)
            for key in list(pools.keys()) if pools is not None else ():
                pool = pools.get(key)
                if pool is not None:
                    pool.close()
        session.close()

    def _observe(self, reason: str) -> None:
        hook = self.observer or observer
        if hook is not None:
            try:
                hook(reason)
            except Exception:  # metrics must never break a prediction
                log.exception("upstream observer failed")

    def headers(self, batch: Batch) -> dict[str, str]:
        """Headers of every call: allowlisted client headers, static ones, then veneer's own."""
        ctx = batch.context or {}
        out: dict[str, str] = {}
        forward = self.opts["headers"]["forward"]
        if forward and ctx.get("headers"):
            given = {str(k).lower(): v for k, v in ctx["headers"].items()}
            for name in forward:
                low = name.lower()
                if low not in _NEVER_FORWARD and low in given:
                    out[name] = _clean(given[low])
        out.update(self.opts["headers"]["set"])
        for low in _IDENTITY:  # a static or forwarded copy must never impersonate a caller
            for key in [k for k in out if k.lower() == low]:
                del out[key]
        if ctx.get("request_id"):
            out["X-Request-ID"] = _clean(ctx["request_id"])
        principal = ctx.get("principal")
        if principal is not None:
            sub = _claim(principal, "sub")
            if sub:
                out["X-Veneer-Subject"] = _clean(sub)
            groups = _claim(principal, "groups")
            if groups:
                out["X-Veneer-Groups"] = _clean(",".join(map(str, groups)) if isinstance(groups, (list, tuple))
                                                else groups)
        return out

    def predict(self, batch: Batch) -> dict[str, list[Any]]:
        """Translate, call (once or once per row) within one deadline, translate back."""
        if self.session is None:
            raise UpstreamUnavailable("The http adapter is not loaded.", reason="not_loaded")
        try:
            calls = self.request_map.calls(batch)
            values = self.caller.run(calls, self.headers(batch), self.request_map.per_row)
            for name, found in values.items():
                if len(found) != batch.n_rows:
                    raise UpstreamError(f"The upstream answered {len(found)} values of {name!r} for "
                                        f"{batch.n_rows} rows.",
                                        fix="Check options.response: each output must select one value per row.",
                                        reason="count_mismatch")
        except VeneerError as e:
            reason = e.details.get("reason")
            if reason:
                self._observe(metric_reason(reason))
            raise
        return values

    def ready(self) -> bool:
        """True when the breaker is not open and the health URL (cached ``health.interval``) answers 2xx."""
        if self.session is None or self.breaker.state == OPEN:
            return False
        h = self.opts["health"]
        if not h["url"]:
            return True
        now = time.monotonic()
        if now < self._health_until:
            return self._health_ok
        if not self._health_lock.acquire(blocking=False):
            return self._health_ok  # another thread is probing: answer with what we know
        try:
            try:
                resp = self.session.get(h["url"], timeout=(h["timeout"], h["timeout"]), allow_redirects=False)
                ok = 200 <= resp.status_code < 300
                resp.close()
            except Exception as e:
                log.info("health check of %s failed: %s", h["url"], e)
                ok = False
            self._health_ok, self._health_until = ok, time.monotonic() + h["interval"]
            return ok
        finally:
            self._health_lock.release()

    def metadata(self) -> AdapterMetadata:
        """Platform ``http``; declared inputs; upstream address (never credentials) and breaker state."""
        inputs = [TensorSpec(i, "FP64") if isinstance(i, str) else TensorSpec(i["name"], i.get("datatype", "FP64"))
                  for i in self.opts["inputs"]]
        return AdapterMetadata(
            platform="http", inputs=inputs, outputs=[TensorSpec(n, "FP64") for n in self.response_map.names],
            extra={"upstream": self.upstream, "breaker": self.breaker.state,
                   "request_format": self.request_map.format, "response_format": self.response_map.format,
                   "per_row": self.request_map.per_row, "idempotent": self.idempotent})


__all__ = ["HttpAdapter", "observer"]
