"""gunicorn's threaded worker, answering its own protocol errors as JSON.

gunicorn rejects malformed HTTP (request smuggling shapes, over-long request
lines, too many headers...) before any application code runs, and writes a
small HTML page. Veneer promises JSON errors everywhere, so this worker writes
``{"error": ..., "code": ...}`` instead; the classification follows gunicorn's.
"""

from __future__ import annotations

import json
import ssl

from gunicorn import glogging, util
from gunicorn.http import errors as http_errors
from gunicorn.workers import base
from gunicorn.workers.gthread import ThreadWorker

class AppAccessLogger(glogging.Logger):
    """gunicorn's logger without gunicorn's access log: veneer's app writes one JSON line per request.

    gunicorn's ``access()`` re-reads five settings through ``Config.__getattr__`` on
    every request just to learn that its access log is off (~3 % of a request's CPU).
    """

    @property
    def access_log_enabled(self) -> bool:  # noqa: D102 - the access log is the app's (access_log.py)
        return False

    def access(self, resp, req, environ, request_time) -> None:  # noqa: D102 - see the class docstring
        return None


_STATUS = [
    (http_errors.LimitRequestHeaders, 431, "Request Header Fields Too Large", "request_header_fields_too_large"),
    (http_errors.UnsupportedTransferCoding, 501, "Not Implemented", "unsupported_transfer_coding"),
    (http_errors.ExpectationFailed, 417, "Expectation Failed", "expectation_failed"),
    (http_errors.ForbiddenProxyRequest, 403, "Forbidden", "forbidden"),
    (http_errors.ConfigurationProblem, 500, "Internal Server Error", "internal"),
    (http_errors.LimitRequestLine, 414, "URI Too Long", "uri_too_long"),
    (http_errors.ParseException, 400, "Bad Request", "bad_request"),
    (http_errors.InvalidChunkSize, 400, "Bad Request", "bad_request"),
    (http_errors.ChunkMissingTerminator, 400, "Bad Request", "bad_request"),
    (http_errors.InvalidChunkExtension, 400, "Bad Request", "bad_request"),
    (ssl.SSLError, 403, "Forbidden", "forbidden"),
]


def classify(exc: BaseException) -> tuple[int, str, str]:
    """Status, reason phrase and veneer error code for an exception gunicorn raised."""
    for cls, status, reason, code in _STATUS:
        if isinstance(exc, cls):
            return status, reason, code
    return 500, "Internal Server Error", "internal"


def json_error(status: int, reason: str, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 response carrying a JSON error body."""
    body = json.dumps({"error": message, "code": code}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin1")
    return head + body


class VeneerThreadWorker(ThreadWorker):
    """``gthread`` worker whose pre-application errors are JSON, and whose shutdown is prompt.

    On SIGTERM gunicorn's threaded worker keeps idle keep-alive connections until
    the whole ``graceful_timeout`` has passed (its shutdown loop waits for events
    with the full remaining time), so one idle client pool delays every restart
    by 30 s. Idle connections carry no request: closing them at once is what
    HTTP allows, and in-flight requests still get the whole grace period.
    """

    def handle_exit(self, sig, frame):
        was_alive = self.alive
        super().handle_exit(sig, frame)
        if was_alive and hasattr(self, "method_queue"):
            self.method_queue.defer(self._close_idle_keepalive)

    def handle_quit(self, sig, frame):
        # gthread's handle_quit calls tpool.shutdown() from this signal handler, which runs on
        # the event-loop thread. When SIGQUIT (what the arbiter sends on SIGINT) lands while that
        # thread is inside tpool.submit(), submit holds the pool's non-reentrant _shutdown_lock and
        # shutdown() waits for it forever: the worker hangs until the arbiter SIGKILLs it after
        # graceful_timeout. The call is not needed: raising SystemExit unwinds submit (releasing
        # its locks) and concurrent.futures' exit hook stops the pool's threads.
        base.Worker.handle_quit(self, sig, frame)

    def _close_idle_keepalive(self) -> None:
        # runs on the worker's event-loop thread, the only one touching keepalived_conns
        while getattr(self, "keepalived_conns", None):
            conn = self.keepalived_conns.popleft()
            try:
                self.poller.unregister(conn.sock)
            except (OSError, KeyError, ValueError):
                pass
            self.nr_conns -= 1
            conn.close()

    def handle_error(self, req, client, addr, exc):
        status, reason, code = classify(exc)
        if status >= 500 and code == "internal":
            self.log.exception("Error handling request %s", getattr(req, "uri", "(no URI read)"))
            message = "Internal error before the request reached veneer."
        else:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
            message = f"{reason}: {exc}. The request is not valid HTTP/1.1; fix the client or proxy."
        try:
            util.write_nonblock(client, json_error(status, reason, code, message))
        except Exception:
            self.log.debug("Failed to send error message.")
