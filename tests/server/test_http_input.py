"""HTTP input handling against a real two-worker server (CASES.md section C)."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from .conftest import raw_request

pytestmark = pytest.mark.slow

OIP = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]}


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def json_body(raw: bytes) -> dict:
    return json.loads(raw.partition(b"\r\n\r\n")[2])


def test_two_workers_answer_every_protocol(server):
    s = requests.Session()
    pids = set()
    for _ in range(40):
        r = s.post(server.url + "/v2/models/sum/versions/1/infer", json=OIP, timeout=5)
        assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [3.0]
    r = s.post(server.url + "/v1/models/sum:predict", json={"instances": [[1, 2]]},
               headers={"X-Veneer-Model-Version": "1"}, timeout=5)
    assert r.json() == {"predictions": [3.0]}
    r = s.post(server.url + "/models/risk/sum/v2/", data="a,b\n1,2\n", headers={"Content-Type": "text/csv"}, timeout=5)
    assert r.text.splitlines() == ["total", "1003.0"]
    r = s.post(server.url + "/invocations", json={"dataframe_split": {"columns": ["a"], "data": [[5]]}},
               headers={"X-Veneer-Model-Version": "1"}, timeout=5)
    assert r.json() == {"predictions": [{"total": 5.0}]}
    assert r.headers["X-Request-ID"]
    del pids


def test_body_over_limit_with_content_length_is_413(server):
    big = b'{"inputs": [' + b" " * 70_000 + b"]}"
    r = requests.post(server.url + "/v2/models/sum/infer", data=big,
                      headers={"Content-Type": "application/json"}, timeout=5)
    assert r.status_code == 413 and r.json()["code"] == "request_entity_too_large"


def test_body_shorter_than_its_content_length_is_400_and_the_server_keeps_serving(server):
    import socket

    body = b'{"instances": [[1, 2]]}'
    head = (f"POST /v1/models/sum:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-Veneer-Model-Version: 1\r\nContent-Length: {len(body) + 50}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(head + body)
        s.shutdown(socket.SHUT_WR)  # the client stops sending 50 bytes early
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    assert status_of(raw) == 400 and "error" in json_body(raw)
    r = requests.post(server.url + "/v1/models/sum:predict", json={"instances": [[1, 2]]},
                      headers={"X-Veneer-Model-Version": "1"}, timeout=5)
    assert r.json() == {"predictions": [3.0]}


def test_chunked_body_over_limit_is_413(server):
    def gen():
        for _ in range(80):
            yield b" " * 1000

    r = requests.post(server.url + "/v2/models/sum/infer", data=gen(),
                      headers={"Content-Type": "application/json"}, timeout=5)
    assert r.status_code == 413
    assert "error" in r.json()


def test_rows_over_limit_is_413(server):
    rows = [[1, 2]] * 501
    r = requests.post(server.url + "/v1/models/sum:predict", json={"instances": rows}, timeout=5)
    assert r.status_code == 413 and "501" in r.json()["error"]


def test_url_too_long_is_rejected_as_json(server):
    raw = raw_request(server.port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(raw) in (400, 414)
    assert "error" in json_body(raw)


@pytest.mark.parametrize("payload", [
    b"POST /v2/models/sum/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /v2/models/sum/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    b"POST /v2/models/sum/infer HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n",
    b"POST /v2/models/sum/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
    b"POST /v2/models/sum/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
], ids=["cl-and-te", "te-chunked-identity", "obs-fold", "chunk-plus", "chunk-minus"])
def test_smuggling_shapes_are_rejected(server, payload):
    raw = raw_request(server.port, payload)
    assert status_of(raw) in (400, 501), raw[:200]
    assert b"<html" not in raw.lower()


def test_too_many_headers_is_rejected(server):
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(120))
    raw = raw_request(server.port, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status_of(raw) in (400, 431)


def test_slow_client_does_not_block_health(server):
    """A client trickling headers holds one thread; health still answers (gthread)."""
    import socket

    slow = socket.create_connection(("127.0.0.1", server.port))
    try:
        slow.sendall(b"POST /v2/models/sum/infer HTTP/1.1\r\nHost: x\r\n")
        r = requests.get(server.url + "/v2/health/live", timeout=3)
        assert r.status_code == 200
    finally:
        slow.close()


def test_server_keeps_serving_after_bad_input(server):
    for body in (b"{", b"[1,2", b"null", b"NaN"):
        r = requests.post(server.url + "/v2/models/sum/infer", data=body,
                          headers={"Content-Type": "application/json"}, timeout=5)
        assert 400 <= r.status_code < 500
    r = requests.post(server.url + "/v2/models/sum/versions/1/infer", json=OIP, timeout=5)
    assert r.status_code == 200


def test_concurrent_requests_all_answer(server):
    errors = []

    def hit():
        s = requests.Session()
        for _ in range(25):
            r = s.post(server.url + "/v2/models/sum/versions/1/infer", json=OIP, timeout=10)
            if r.status_code != 200:
                errors.append(r.status_code)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
