"""A lean HTTP/1.1 keep-alive client for plain-``http://`` upstreams; httptools parses the answers.

urllib3 on top of ``http.client`` spends ~200 µs of CPU per call (header parsing through
the ``email`` package, pool and response bookkeeping): most of the 1 ms veneer may add
in front of a legacy service. This client writes the request head itself (one
``sendall``) and hands every answer to httptools (llhttp, the parser of Node.js, also
under uvicorn): ~50 µs per call (``bench/http_overhead.py``).

It does one thing: send one request on a pooled connection and read one whole answer,
each socket wait bounded by the read timeout and the request's deadline, the body
capped. It raises ``WireError`` with a ``kind`` the caller classifies; retries, the
breaker and the meaning of statuses stay in ``_http_calls``. TLS upstreams keep using
urllib3.
"""

from __future__ import annotations

import select
import socket
import threading
import zlib
from typing import Any, Callable

import httptools

_CHUNK = 64 * 1024
_METHODS_EXPECTING_BODY = frozenset(("PATCH", "POST", "PUT"))
#: kinds of WireError
DNS, REFUSED, CONNECT_TIMEOUT, READ_TIMEOUT, BROKEN, BAD_ANSWER, TOO_LARGE = (
    "dns", "refused", "connect_timeout", "read_timeout", "broken", "bad_answer", "too_large")


class WireError(Exception):
    """A failed exchange: ``kind`` is a module constant; ``in_body`` once the answer's head was read.

    ``unanswered`` marks a connection that closed before a single byte of answer, and
    ``unsent`` one that failed while the request was being written.
    """

    def __init__(self, kind: str, detail: str = "", *, in_body: bool = False, unanswered: bool = False,
                 unsent: bool = False) -> None:
        super().__init__(detail or kind)
        self.kind, self.in_body, self.unanswered, self.unsent = kind, in_body, unanswered, unsent


class Headers(dict):
    """Lower-cased header names; ``get`` takes any case, as ``requests`` and urllib3 headers do."""

    def get(self, key: str, default: Any = None) -> Any:  # noqa: D102 - dict.get, case-insensitive
        return dict.get(self, key.lower(), default)


class Answer:
    """One complete answer: status, lower-cased headers and the (decoded) body."""

    __slots__ = ("status_code", "headers", "body")

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status_code, self.headers, self.body = status, headers, body


class _Reader:
    """httptools callbacks collecting one answer (1xx interim answers are skipped)."""

    __slots__ = ("parser", "headers", "chunks", "size", "cap", "head_done", "done", "keep", "inflate")

    def __init__(self, cap: int) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers = Headers()
        self.chunks: list[bytes] = []
        self.size, self.cap = 0, cap
        self.head_done = self.done = self.keep = False
        self.inflate: Any = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        if self.parser.get_status_code() < 200:
            return
        self.head_done = True
        length = self.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.cap:
            raise WireError(TOO_LARGE)
        coding = self.headers.get("content-encoding", "identity").strip().lower()
        if coding in ("gzip", "deflate", "x-gzip"):
            self.inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, detected from the header
        elif coding not in ("identity", ""):
            raise WireError(BAD_ANSWER, f"unsupported Content-Encoding {coding!r}")

    def on_body(self, data: bytes) -> None:
        if self.inflate is not None:
            # decompress at most one byte past the cap: a small bomb must not fill memory
            data = self.inflate.decompress(data, self.cap - self.size + 1)
        self.size += len(data)
        if self.size > self.cap:
            raise WireError(TOO_LARGE)
        self.chunks.append(data)

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() < 200:  # 100 Continue and friends: the real answer follows
            self.headers = Headers()
            return
        # llhttp resets its keep-alive flag once the message is over: read it now
        self.done, self.keep = True, self.parser.should_keep_alive()

    def answer(self) -> Answer:
        return Answer(self.parser.get_status_code(), self.headers, b"".join(self.chunks))


def _valid(text: str) -> str:
    if "\r" in text or "\n" in text:
        raise ValueError(f"a header carries a line break: {text[:40]!r}")
    return text


class WirePool:
    """Keep-alive connections to one ``host:port``; at most ``maxsize`` idle ones are kept.

    Like urllib3 with ``block=False``, a call that finds no idle connection opens a new
    one, and a surplus connection is closed when its call ends. Not fork-safe: each
    worker builds its own (the adapter loads after fork).
    """

    def __init__(self, host: str, port: int, maxsize: int, base_headers: dict[str, str]) -> None:
        self.address = (host, port)
        self.maxsize = maxsize
        name = f"[{host}]" if ":" in host else host
        head = {"Host": name if port == 80 else f"{name}:{port}", **base_headers}
        self._base = "".join(f"{_valid(k)}: {_valid(str(v))}\r\n" for k, v in head.items()
                             if k.lower() not in ("content-length", "connection"))
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False

    def exchange(self, method: str, target: str, body: bytes | None, headers: dict[str, str], *,
                 connect: float, read: float, remaining: Callable[[], float], cap: int,
                 replayable: bool = False) -> Answer:
        """Send one request and read its whole answer (``remaining()`` is the deadline's time left).

        A reused connection the service closed while it sat idle is replaced once, on a
        fresh one: always when the request could not be written, and when it was written
        but nothing came back only if ``replayable`` (the service may have acted on it).
        """
        extra = "".join(f"{_valid(k)}: {_valid(v)}\r\n" for k, v in headers.items())
        payload = b"" if body is None else body
        if body is not None or method in _METHODS_EXPECTING_BODY:  # as http.client: no length on a bare GET
            extra += f"Content-Length: {len(payload)}\r\n"
        head = f"{method} {_valid(target)} HTTP/1.1\r\n{self._base}{extra}\r\n"
        message = head.encode("latin-1") + payload
        sock, reused = self._checkout(connect)
        try:
            try:
                answer, keep = self._roundtrip(sock, message, read, remaining, cap)
            except WireError as e:
                # a reused connection the service closed while it was idle (see the docstring)
                if not (reused and e.kind == BROKEN and (e.unsent or (e.unanswered and replayable))):
                    raise
                _close(sock)
                sock, reused = self._checkout(connect, fresh=True)
                answer, keep = self._roundtrip(sock, message, read, remaining, cap)
        except BaseException:
            _close(sock)
            raise
        if keep:
            self._checkin(sock)
        else:
            _close(sock)
        return answer

    def _roundtrip(self, sock: socket.socket, message: bytes, read: float, remaining: Callable[[], float],
                   cap: int) -> tuple[Answer, bool]:
        try:
            sock.settimeout(max(0.001, min(read, remaining())))
            sock.sendall(message)
        except socket.timeout:
            raise WireError(READ_TIMEOUT, "timed out sending the request") from None
        except OSError as e:
            raise WireError(BROKEN, f"the connection broke while sending ({e})", unsent=True,
                            unanswered=True) from e
        reader = _Reader(cap)
        parser = reader.parser
        received = False
        while not reader.done:
            left = remaining()
            if left <= 0:
                raise WireError(READ_TIMEOUT, "deadline", in_body=reader.head_done)
            sock.settimeout(min(read, left))
            try:
                data = sock.recv(_CHUNK)
            except socket.timeout:
                raise WireError(READ_TIMEOUT, "timed out", in_body=reader.head_done) from None
            except OSError as e:
                raise WireError(BROKEN, str(e) if received else "closed before answering",
                                in_body=reader.head_done, unanswered=not received) from e
            if not data:
                if reader.head_done and not _framed(reader.headers):
                    break  # an answer delimited by the end of the connection
                raise WireError(BROKEN, "the connection closed mid-answer" if received else
                                "closed before answering", in_body=reader.head_done, unanswered=not received)
            received = True
            try:
                parser.feed_data(data)
            except WireError:
                raise
            except httptools.HttpParserCallbackError as e:
                cause = e.__context__
                raise cause if isinstance(cause, WireError) else WireError(BAD_ANSWER, str(e)) from e
            except httptools.HttpParserError as e:
                raise WireError(BAD_ANSWER, f"not an HTTP answer ({e})") from e
        return reader.answer(), reader.keep

    def _checkout(self, connect: float, fresh: bool = False) -> tuple[socket.socket, bool]:
        while not fresh:
            with self._lock:
                if not self._idle:
                    break
                sock = self._idle.pop()
            if not _dropped(sock):
                return sock, True
            _close(sock)
        return _connect(self.address, connect), False

    def _checkin(self, sock: socket.socket) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.maxsize:
                self._idle.append(sock)
                return
        _close(sock)

    def close(self) -> None:
        """Close the idle connections; busy ones close when their call ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for sock in idle:
            _close(sock)


def _framed(headers: dict[str, str]) -> bool:
    return "content-length" in headers or "transfer-encoding" in headers


def _connect(address: tuple[str, int], timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection(address, timeout=max(0.001, timeout))
    except socket.gaierror as e:
        raise WireError(DNS, str(e)) from e
    except socket.timeout as e:
        raise WireError(CONNECT_TIMEOUT, str(e)) from e
    except OSError as e:
        raise WireError(REFUSED, str(e)) from e
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # the head and body go out in one write anyway
    return sock


def _dropped(sock: socket.socket) -> bool:
    """True when an idle connection has been closed (or sent something unasked) by the server."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
