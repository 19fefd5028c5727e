"""The call loop of the http adapter: one upstream call with timeouts, retries, budget and breaker.

Every failure is classified once here into the veneer error the client sees, a
``reason`` (for metrics and logs), whether a retry is safe, and what it means to
the circuit breaker (a failure, a sign of life, or nothing).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

import orjson

from veneer.wrapper.errors import (BadRequest, InvalidInput, PayloadTooLarge, UpstreamError, UpstreamTimeout,
                                   UpstreamUnavailable, VeneerError)

from . import _http_wire as wire
from ._http_resilience import BreakerOpen, Deadline, backoff_delay, parse_retry_after

log = logging.getLogger("veneer.adapters.http")

FAILURE, ALIVE, NOTHING = "failure", "alive", "nothing"
_RETRY_STATUSES = (502, 503, 504)
_NOT_THE_CLIENTS = (401, 403, 404, 405, 407)  # about veneer's own address or credentials


@dataclass(eq=False)
class _Failure(Exception):
    error: VeneerError
    retriable: bool = False
    breaker: str = FAILURE
    retry_after: float | None = None


def _cause(exc: BaseException) -> Any:
    """The urllib3 reason inside a requests ConnectionError."""
    arg = exc.args[0] if exc.args else None
    return getattr(arg, "reason", arg)


def _message(content: bytes) -> str:
    """A short, header-safe message from an upstream error body (JSON error/message/detail, or text)."""
    text = content[:2000].decode("utf-8", "replace")
    try:
        doc = orjson.loads(content)
        if isinstance(doc, dict):
            for key in ("message", "error", "detail", "error_message"):
                if doc.get(key):
                    text = str(doc[key])
                    break
    except orjson.JSONDecodeError:
        pass
    text = " ".join(text.split())
    return text[:300]


class _Answer:
    """A urllib3 answer seen through the three parts of ``requests.Response`` the reader uses."""

    __slots__ = ("raw", "status_code", "headers")

    def __init__(self, raw: Any) -> None:
        self.raw, self.status_code, self.headers = raw, raw.status, raw.headers

    def close(self) -> None:
        """A fully read answer already gave its connection back; a partly read one is closed."""
        if self.raw.connection is not None:
            self.raw.close()
            self.raw.release_conn()


class Caller:
    """Runs the calls of one batch for an ``HttpAdapter`` within one deadline."""

    def __init__(self, adapter: Any) -> None:
        self.a = adapter
        self.t = adapter.opts["timeouts"]
        self.r = adapter.opts["retries"]
        self.cap = adapter.opts["max_response_bytes"]

    def run(self, calls: list[Any], headers: dict[str, str], single: bool) -> dict[str, list[Any]]:
        """Send every call (in order) and collect the predictions of their answers."""
        deadline = Deadline(self.t["deadline"])
        values: dict[str, list[Any]] = {name: [] for name in self.a.response_map.names}
        for call in calls:
            content = self.send(call, headers, deadline)
            for name, found in self.a.response_map.values(content, single).items():
                values[name].extend(found)
        return values

    def send(self, call: Any, headers: dict[str, str], deadline: Deadline) -> bytes:
        """One call with retries: returns the body of a 2xx answer or raises the classified error."""
        a = self.a
        a.budget.record_request()
        attempt = 1
        while True:
            try:
                probe = a.breaker.acquire()
            except BreakerOpen as e:
                raise UpstreamUnavailable(
                    f"The upstream {a.upstream} is failing; its circuit breaker is open.",
                    fix="Retry later; veneer probes the service again when the breaker half-opens.",
                    headers={"Retry-After": str(max(1, math.ceil(e.retry_after)))},
                    reason="circuit_open") from None
            try:
                content = self._attempt(call, headers, deadline)
            except _Failure as f:
                if f.breaker == FAILURE:
                    a.breaker.record_failure(probe)
                elif f.breaker == ALIVE:
                    a.breaker.record_success(probe)
                else:
                    a.breaker.release(probe)
                if f.retriable and attempt < self.r["attempts"]:
                    delay = backoff_delay(attempt - 1, self.r["backoff"], self.r["max_backoff"])
                    if f.retry_after is not None:
                        delay = max(delay, f.retry_after)
                    # never sleep past the deadline, whatever Retry-After asks for
                    if delay < deadline.remaining() and a.budget.try_acquire():
                        log.info("retrying %s after %s (attempt %d, %.3fs)", a.upstream,
                                 f.error.details.get("reason"), attempt + 1, delay)
                        time.sleep(delay)
                        attempt += 1
                        continue
                raise f.error from f.__cause__
            except BaseException:
                a.breaker.release(probe)  # an unexpected error must not leave the probe taken forever
                raise
            a.breaker.record_success(probe)
            return content

    def _attempt(self, call: Any, headers: dict[str, str], deadline: Deadline) -> bytes:
        a = self.a
        remaining = deadline.remaining()
        if remaining <= 0:
            raise _Failure(self._deadline_error(), breaker=NOTHING)
        connect, read = min(self.t["connect"], remaining), min(self.t["read"], remaining)
        h = headers if call.content_type is None else {**headers, "Content-Type": call.content_type}
        if a.wire is not None:
            return self._answer(self._exchange(call, h, connect, read, deadline), deadline)
        if a.pool is not None:
            resp: Any = _Answer(self._urlopen(call, h, connect, read))
        else:
            resp = self._request(call, h, connect, read)
        try:
            return self._answer(resp, deadline)
        finally:
            resp.close()

    def _target(self, call: Any) -> str:
        """The path and query of the version's url, plus the call's own query parameters."""
        target = self.a.target
        if call.params:
            target += ("&" if "?" in target else "?") + urlencode(call.params)
        return target

    def _exchange(self, call: Any, headers: dict[str, str], connect: float, read: float,
                  deadline: Deadline) -> wire.Answer:
        """The hot path for plain-http upstreams: one exchange on a pooled keep-alive socket."""
        a = self.a
        try:
            return a.wire.exchange(call.method, self._target(call), call.body, headers, connect=connect, read=read,
                                   remaining=deadline.remaining, cap=self.cap, replayable=a.idempotent)
        except wire.WireError as e:
            raise self._wire_failure(e, connect, read) from e
        except ValueError as e:  # a header value with a line break
            raise _Failure(UpstreamError(f"Calling {a.upstream} failed: {e}.", reason="request_error"),
                           breaker=NOTHING) from e

    def _wire_failure(self, e: wire.WireError, connect: float, read: float) -> _Failure:
        """The same classification as the urllib3 path gives the same failure."""
        kind = e.kind
        if kind == wire.DNS:
            return self._dns_failure()
        if kind == wire.REFUSED:
            return self._refused()
        if kind == wire.CONNECT_TIMEOUT:
            return self._connect_timeout(connect)
        if kind == wire.TOO_LARGE:
            return _Failure(self._too_large(), breaker=ALIVE)
        if kind == wire.READ_TIMEOUT:
            return _Failure(self._deadline_error()) if e.in_body or str(e) == "deadline" else self._read_timeout(read)
        return _Failure(self._cut_off(e)) if e.in_body else self._reset(e)

    def _cut_off(self, e: Exception) -> UpstreamError:
        return UpstreamError(f"The answer of {self.a.upstream} was cut off ({e}).", reason="incomplete_answer")

    def _urlopen(self, call: Any, headers: dict[str, str], connect: float, read: float) -> Any:
        """TLS upstreams: straight to the urllib3 pool requests mounted (half the CPU of Session.request)."""
        import urllib3
        from urllib3 import exceptions as u3

        a = self.a
        try:
            return a.pool.urlopen(call.method, self._target(call), body=call.body, headers={**a.base_headers, **headers},
                                  retries=False, redirect=False, assert_same_host=False,
                                  timeout=urllib3.Timeout(connect=connect, read=read),
                                  preload_content=False, decode_content=True)
        except u3.SSLError as e:
            raise self._tls_failure(e) from e
        except u3.NameResolutionError as e:
            raise self._dns_failure() from e
        except u3.NewConnectionError as e:  # a ConnectTimeoutError subclass: test it first
            raise self._refused() from e
        except u3.ConnectTimeoutError as e:
            raise self._connect_timeout(connect) from e
        except u3.ReadTimeoutError as e:
            raise self._read_timeout(read) from e
        except u3.ProtocolError as e:
            raise self._reset(e) from e
        except u3.HTTPError as e:
            raise _Failure(UpstreamError(f"Calling {a.upstream} failed: {e}.", reason="request_error"),
                           breaker=NOTHING) from e

    def _request(self, call: Any, headers: dict[str, str], connect: float, read: float) -> Any:
        """Through ``requests`` (an injected transport adapter is mounted on the session)."""
        import requests

        a = self.a
        try:
            return a.session.request(call.method, a.url, data=call.body, params=call.params, headers=headers,
                                     timeout=(connect, read), allow_redirects=False, stream=True)
        except requests.exceptions.SSLError as e:
            raise self._tls_failure(_cause(e)) from e
        except requests.exceptions.ConnectTimeout as e:
            raise self._connect_timeout(connect) from e
        except requests.exceptions.ReadTimeout as e:
            raise self._read_timeout(read) from e
        except requests.exceptions.ConnectionError as e:
            raise self._connection_failure(e) from e
        except requests.exceptions.RequestException as e:
            raise _Failure(UpstreamError(f"Calling {a.upstream} failed: {e}.", reason="request_error"),
                           breaker=NOTHING) from e

    def _tls_failure(self, cause: Any) -> _Failure:
        return _Failure(UpstreamUnavailable(
            f"TLS to {self.a.upstream} failed: the certificate is not trusted ({cause}).",
            fix="Set options.tls.ca_bundle to the CA that signed the service's certificate.", reason="tls_error"))

    def _connect_timeout(self, connect: float) -> _Failure:
        err = self._deadline_error() if connect < self.t["connect"] else UpstreamUnavailable(
            f"Connecting to {self.a.upstream} timed out after {connect:.2f}s.",
            fix="Check that the service is up, or raise options.timeouts.connect.", reason="connect_timeout")
        return _Failure(err, retriable=True)

    def _read_timeout(self, read: float) -> _Failure:
        if read < self.t["read"]:  # the deadline, not the read timeout, cut this wait short
            return _Failure(self._deadline_error())
        return _Failure(UpstreamTimeout(f"The upstream {self.a.upstream} did not answer within {read:.2f}s.",
                                        fix="Raise options.timeouts.read if the service is just slow.",
                                        reason="read_timeout"))

    def _deadline_error(self) -> UpstreamTimeout:
        return UpstreamTimeout(f"The upstream {self.a.upstream} did not answer within the "
                               f"{self.t['deadline']}s deadline.",
                               fix="Raise options.timeouts.deadline, or make the service faster.",
                               reason="deadline")

    def _connection_failure(self, e: Exception) -> _Failure:
        from urllib3.exceptions import NameResolutionError, NewConnectionError

        cause = _cause(e)
        if isinstance(cause, NameResolutionError):
            return self._dns_failure()
        if isinstance(cause, NewConnectionError):
            return self._refused()
        return self._reset(cause)

    def _dns_failure(self) -> _Failure:
        return _Failure(UpstreamUnavailable(f"The host of {self.a.upstream} cannot be resolved.",
                                            fix="Check the host name in the version's url.", reason="dns_error"))

    def _refused(self) -> _Failure:
        return _Failure(UpstreamUnavailable(f"The upstream {self.a.upstream} refuses connections.",
                                            fix="Check that the service runs and listens on that port.",
                                            reason="connect_error"), retriable=True)

    def _reset(self, cause: Any) -> _Failure:
        # the request may have reached the service: only an idempotent one is sent again
        return _Failure(UpstreamError(f"The connection to {self.a.upstream} broke before an answer ({cause}).",
                                      reason="connection_reset"), retriable=self.a.idempotent)

    def _read(self, resp: Any, deadline: Deadline, cap: int) -> bytes:
        """The body, counted against ``cap`` and cut at the deadline even if it trickles in."""
        if isinstance(resp, wire.Answer):  # read whole (within cap and deadline) by the exchange
            return resp.body[:cap]
        import requests
        from urllib3.exceptions import HTTPError as Urllib3Error

        length = resp.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > cap:
            raise _Failure(self._too_large(), breaker=ALIVE)
        from urllib3.response import BaseHTTPResponse

        raw = resp.raw
        if not isinstance(raw, BaseHTTPResponse):  # an injected transport's body: no socket to watch
            return self._read_chunks(resp, deadline, cap)
        read1 = raw.read1
        conn = getattr(raw, "connection", None)
        buf = bytearray()
        try:
            while True:
                remaining = deadline.remaining()
                if remaining <= 0:
                    raise _Failure(self._deadline_error())
                # each read may only wait for what is left of the deadline; once the body is
                # complete urllib3 has released the connection (maybe to another thread): hands off
                if conn is not None and raw.connection is conn and conn.sock is not None:
                    conn.sock.settimeout(min(self.t["read"], remaining))
                chunk = read1(64 * 1024, decode_content=True)
                if not chunk:
                    return bytes(buf)
                buf += chunk
                if len(buf) > cap:
                    raise _Failure(self._too_large(), breaker=ALIVE)
        except (Urllib3Error, requests.exceptions.RequestException, OSError) as e:
            timeout = "timed out" in str(e).lower() or "timeout" in type(e).__name__.lower()
            raise _Failure(self._deadline_error() if timeout else self._cut_off(e)) from e

    def _read_chunks(self, resp: Any, deadline: Deadline, cap: int) -> bytes:
        buf = bytearray()
        for chunk in resp.iter_content(64 * 1024):
            buf += chunk
            if len(buf) > cap:
                raise _Failure(self._too_large(), breaker=ALIVE)
            if deadline.expired:
                raise _Failure(self._deadline_error())
        return bytes(buf)

    def _too_large(self) -> UpstreamError:
        return UpstreamError(f"The answer of {self.a.upstream} exceeds {self.cap} bytes.",
                             fix="Raise options.max_response_bytes if such answers are expected.",
                             reason="too_large")

    def _answer(self, resp: Any, deadline: Deadline) -> bytes:
        status, up = resp.status_code, self.a.upstream
        if 200 <= status < 300:
            return self._read(resp, deadline, self.cap)
        body = self._read(resp, deadline, 64 * 1024) if status >= 400 else b""
        reason = f"status_{status}"
        if 300 <= status < 400:
            target = resp.headers.get("Location", "")
            host = target.split("/")[2] if target.count("/") >= 2 and "://" in target else "a relative path"
            raise _Failure(UpstreamError(f"The upstream {up} answered a {status} redirect to {host}; "
                                         "veneer does not follow redirects.",
                                         fix="Set the version's url to the final address.",
                                         reason="redirect"), breaker=ALIVE)
        if status >= 500:
            log.warning("upstream %s answered %d: %s", up, status, _message(body))
            retry_after = parse_retry_after(resp.headers.get("Retry-After")) if status == 503 else None
            cls = {503: UpstreamUnavailable, 504: UpstreamTimeout}.get(status, UpstreamError)
            # a short Retry-After is passed on: the client should wait as the service asked
            hdr = {"Retry-After": str(math.ceil(retry_after))} if retry_after and retry_after <= 300 else None
            raise _Failure(cls(f"The upstream {up} answered {status}.", reason=reason, upstream_status=status,
                               headers=hdr),
                           retriable=status in _RETRY_STATUSES and self.a.idempotent, retry_after=retry_after)
        msg = _message(body)
        if status == 429:
            ra = parse_retry_after(resp.headers.get("Retry-After"))
            hdr = {"Retry-After": str(math.ceil(ra))} if ra and ra < 3600 else None
            raise _Failure(UpstreamUnavailable(f"The upstream {up} is overloaded (429): {msg}", headers=hdr,
                                               reason=reason, upstream_status=status), breaker=ALIVE)
        if status in _NOT_THE_CLIENTS:
            raise _Failure(UpstreamError(f"The upstream {up} answered {status}: {msg}",
                                         fix="Check the version's url and options.headers.set (credentials).",
                                         reason=reason, upstream_status=status), breaker=ALIVE)
        cls = {400: BadRequest, 413: PayloadTooLarge, 422: InvalidInput}.get(status, BadRequest)
        err = cls(f"The model rejected the input ({status}): {msg}", reason=reason, upstream_status=status)
        if cls is BadRequest and status != 400:
            err.status = HTTPStatus(status) if status in HTTPStatus._value2member_map_ else err.status
        raise _Failure(err, breaker=ALIVE)
