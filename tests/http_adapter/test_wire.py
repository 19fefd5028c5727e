"""The lean keep-alive client of plain-http upstreams, against a raw TCP server that answers scripted bytes.

The scripted ``ThreadingHTTPServer`` of the other tests always answers well-formed
HTTP; these answers are the ones a hand-written legacy service or a dying process
really sends: no Content-Length, gzip, a 100 Continue first, a cut-off body, bytes
that are not HTTP, and a keep-alive connection the service closed while it was idle.
"""

from __future__ import annotations

import gzip
import socket
import threading

import pytest

from veneer.adapters._http_wire import WirePool
from veneer.adapters.http import HttpAdapter
from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import UpstreamError
from veneer.wrapper.settings import VersionSpec

from tests.helpers.wait import wait_for


class RawUpstream:
    """Accepts connections on 127.0.0.1; for each request, sends ``answers[i]`` raw, then maybe closes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.answers: list[tuple[bytes, bool]] = []  # (bytes, close after)
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed = 0  # connections this server has closed
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._answer_all(conn)
        finally:
            conn.close()
            with self.lock:
                self.closed += 1

    def _answer_all(self, conn: socket.socket) -> None:
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, _, rest = buf.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(rest) < length:
                rest += conn.recv(65536)
            buf = rest[length:]
            with self.lock:
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                answer, close = self.answers.pop(0)
            conn.sendall(answer)
            if close:
                return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def raw():
    server = RawUpstream()
    yield server
    server.close()


def adapter(port: int, **options) -> HttpAdapter:
    a = HttpAdapter(VersionSpec(version="1", adapter="http", url=f"http://127.0.0.1:{port}/score",
                                options={"response": {"path": "predictions"}, "timeouts": {"read": 2},
                                         **options}))
    a.load()
    assert a.wire is not None  # plain http with the default transport takes the lean client
    return a


def ok(body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{head}".encode() + b"\r\n" + body


def one_row(a: HttpAdapter):
    return a.predict(Batch(columns=["x"], rows=[[1]], context={"request_id": "r-7"}))


def test_keep_alive_reuses_one_connection_and_sends_a_well_formed_request(raw) -> None:
    raw.answers = [(ok(b'{"predictions": [%d]}' % i, "Content-Length: 20"), False) for i in range(3)]
    a = adapter(raw.port)
    assert [one_row(a) for _ in range(3)] == [{"predictions": [i]} for i in range(3)]
    assert raw.connections == 1
    head, _, body = raw.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /score HTTP/1.1"
    assert f"Host: 127.0.0.1:{raw.port}".encode() in lines and b"X-Request-ID: r-7" in lines
    assert b"Content-Length: %d" % len(body) in lines and body == b'[{"x":1}]'
    a.unload()


def test_a_connection_the_service_closed_while_idle_is_replaced_without_an_error(raw) -> None:
    raw.answers = [(ok(b'{"predictions": [1]}', "Content-Length: 20"), True),
                   (ok(b'{"predictions": [2]}', "Content-Length: 20"), False)]
    a = adapter(raw.port)
    assert one_row(a) == {"predictions": [1]}
    wait_for(lambda: raw.closed == 1, timeout=5, what="the service to close the idle connection")
    assert one_row(a) == {"predictions": [2]}
    assert raw.connections == 2 and len(raw.requests) == 2  # the second request was sent once


@pytest.mark.parametrize("idempotent", [False, True])
def test_reused_connection_closed_without_an_answer_is_resent_only_when_idempotent(raw, idempotent) -> None:
    raw.answers = [(ok(b'{"predictions": [1]}', "Content-Length: 20"), False),
                   (b"", True),  # reads the second request, then closes without a byte
                   (ok(b'{"predictions": [2]}', "Content-Length: 20"), False)]
    a = HttpAdapter(VersionSpec(version="1", adapter="http", url=f"http://127.0.0.1:{raw.port}/score",
                                idempotent=idempotent,
                                options={"response": {"path": "predictions"}, "retries": {"attempts": 1}}))
    a.load()
    assert one_row(a) == {"predictions": [1]}
    if idempotent:
        assert one_row(a) == {"predictions": [2]}
        assert len(raw.requests) == 3 and raw.connections == 2
    else:
        with pytest.raises(UpstreamError) as info:  # the service may have acted on it: never sent twice
            one_row(a)
        assert info.value.details["reason"] == "connection_reset" and len(raw.requests) == 2


def test_answer_without_length_ends_with_the_connection(raw) -> None:
    raw.answers = [(ok(b'{"predictions": [5]}', "Connection: close"), True),
                   (ok(b'{"predictions": [6]}', "Content-Length: 20"), False)]
    a = adapter(raw.port)
    assert one_row(a) == {"predictions": [5]}
    assert one_row(a) == {"predictions": [6]}  # a new connection: the old one was not kept
    assert raw.connections == 2


def test_gzip_answer_is_decoded_and_its_decoded_size_is_capped(raw) -> None:
    small = gzip.compress(b'{"predictions": [0.5]}')
    bomb = gzip.compress(b'{"predictions": [' + b"0," * 500_000 + b"0]}")
    raw.answers = [(ok(small, "Content-Encoding: gzip", f"Content-Length: {len(small)}"), False),
                   (ok(bomb, "Content-Encoding: gzip", f"Content-Length: {len(bomb)}"), False)]
    a = adapter(raw.port, max_response_bytes=100_000)
    assert len(bomb) < 100_000
    assert one_row(a) == {"predictions": [0.5]}
    with pytest.raises(UpstreamError) as info:
        one_row(a)
    assert info.value.details["reason"] == "too_large"


def test_interim_100_continue_is_skipped(raw) -> None:
    raw.answers = [(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b'{"predictions": [3]}', "Content-Length: 20"), False)]
    assert one_row(adapter(raw.port)) == {"predictions": [3]}


def test_body_cut_off_mid_answer_is_502_incomplete(raw) -> None:
    raw.answers = [(ok(b'{"predictions"', "Content-Length: 20"), True)]
    with pytest.raises(UpstreamError) as info:
        one_row(adapter(raw.port))
    assert info.value.status == 502 and info.value.details["reason"] == "incomplete_answer"


@pytest.mark.parametrize("answer", [b"SSH-2.0-OpenSSH_9.2\r\n\r\n", b"HTTP/1.1 abc\r\n\r\n"])
def test_bytes_that_are_not_http_are_502(raw, answer) -> None:
    raw.answers = [(answer, True)]
    with pytest.raises(UpstreamError) as info:
        one_row(adapter(raw.port))
    assert info.value.status == 502 and info.value.details["reason"] == "connection_reset"


def test_closed_without_answering_is_502_and_not_resent_on_a_fresh_connection(raw) -> None:
    raw.answers = [(b"", True)]
    with pytest.raises(UpstreamError) as info:
        one_row(adapter(raw.port))
    assert info.value.details["reason"] == "connection_reset"
    assert len(raw.requests) == 1  # a new connection closed before answering: the service may have acted


def test_pool_keeps_at_most_maxsize_idle_connections(raw) -> None:
    pool = WirePool("127.0.0.1", raw.port, 1, {})
    raw.answers = [(ok(b"{}", "Content-Length: 2"), False) for _ in range(2)]
    first, _ = pool._checkout(1.0)
    second, _ = pool._checkout(1.0)
    pool._checkin(first)
    pool._checkin(second)  # surplus: closed
    assert second.fileno() == -1 and first.fileno() != -1
    answer = pool.exchange("GET", "/x", None, {}, connect=1, read=1, remaining=lambda: 1.0, cap=10)
    assert (answer.status_code, answer.body, answer.headers.get("CONTENT-TYPE")) == (200, b"{}", "application/json")
    assert b"content-length" not in raw.requests[-1].lower()  # a bare GET carries no length, as http.client
    pool.close()
    assert first.fileno() == -1


def test_header_with_a_line_break_is_refused_before_sending(raw) -> None:
    pool = WirePool("127.0.0.1", raw.port, 1, {})
    with pytest.raises(ValueError):
        pool.exchange("GET", "/x", None, {"X-A": "1\r\nX-Injected: yes"}, connect=1, read=1,
                      remaining=lambda: 1.0, cap=10)
    assert raw.requests == []
