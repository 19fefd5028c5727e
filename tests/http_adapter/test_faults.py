"""CASES section G (89-98): a misbehaving upstream the test controls, called through the adapter.

The upstream is a real HTTP server on 127.0.0.1 (``ScriptedUpstream``) whose answers
each test scripts; hits are counted on the server side.
"""

from __future__ import annotations

import email.utils
import time

import pytest

from tests.helpers.wait import wait_for
from veneer.adapters._http_resilience import CLOSED, HALF_OPEN, OPEN
from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import (BadRequest, InvalidInput, UpstreamError, UpstreamTimeout,
                                   UpstreamUnavailable)

from .conftest import Reply, make_adapter

ONE = {"path": "predictions"}


def batch(n: int = 1, **ctx) -> Batch:
    return Batch(columns=["x"], rows=[[i] for i in range(n)], context=ctx)


def fails(adapter, exc=UpstreamError):
    with pytest.raises(exc) as info:
        adapter.predict(batch())
    return info.value


# 89 -------------------------------------------------------------------------------------------
def test_port_closed_is_503_after_bounded_retries(closed_port_url) -> None:
    a = make_adapter(closed_port_url, response=ONE, retries={"attempts": 3, "backoff": 0.01},
                     timeouts={"deadline": 2.0})
    start = time.monotonic()
    err = fails(a, UpstreamUnavailable)
    assert time.monotonic() - start < 2.0
    assert err.status == 503 and err.code == "upstream_unavailable" and err.details["reason"] == "connect_error"
    assert "refuses connections" in str(err)


def test_connect_errors_stop_at_the_deadline(closed_port_url) -> None:
    a = make_adapter(closed_port_url, response=ONE, retries={"attempts": 50, "backoff": 0.1, "max_backoff": 0.1,
                                                             "min_retries": 100},
                     timeouts={"deadline": 0.5})
    start = time.monotonic()
    fails(a, UpstreamUnavailable)
    assert time.monotonic() - start < 0.5 + 0.2


# 90 -------------------------------------------------------------------------------------------
def test_never_answering_upstream_is_504_within_read_timeout(upstream) -> None:
    upstream.answer(Reply(hang=True))
    a = make_adapter(upstream.url, idempotent=True, response=ONE, timeouts={"read": 0.4, "deadline": 5})
    start = time.monotonic()
    err = fails(a, UpstreamTimeout)
    elapsed = time.monotonic() - start
    assert 0.35 < elapsed < 0.4 + 0.6
    assert err.status == 504 and err.details["reason"] == "read_timeout"
    assert len(upstream.hits) == 1  # a read timeout is never retried: the request may have run


def test_deadline_shorter_than_read_timeout_wins(upstream) -> None:
    upstream.answer(Reply(hang=True))
    a = make_adapter(upstream.url, response=ONE, timeouts={"read": 5, "deadline": 0.3})
    start = time.monotonic()
    err = fails(a, UpstreamTimeout)
    assert time.monotonic() - start < 0.3 + 0.4
    assert err.details["reason"] == "deadline"


def test_slow_but_timely_answer_succeeds(upstream) -> None:
    upstream.answer(Reply(delay=0.2, body=b'{"predictions": [0.42]}'))
    a = make_adapter(upstream.url, response=ONE, timeouts={"read": 1.0})
    assert a.predict(batch()) == {"predictions": [0.42]}


def test_slow_dripping_answer_is_cut_at_the_deadline(upstream) -> None:
    # a body trickling in keeps each read under the read timeout; the deadline still ends it
    upstream.answer(Reply(body=b'{"predictions": [1]}', drip=0.1))
    a = make_adapter(upstream.url, response=ONE, timeouts={"read": 0.3, "deadline": 0.6})
    start = time.monotonic()
    err = fails(a, UpstreamTimeout)
    assert time.monotonic() - start < 1.2 and err.status == 504


# 91 -------------------------------------------------------------------------------------------
def test_500_is_never_retried_even_when_idempotent(upstream) -> None:
    upstream.answer(Reply(status=500, body=b"Traceback: secret internals"))
    a = make_adapter(upstream.url, idempotent=True, response=ONE, retries={"attempts": 4, "backoff": 0})
    err = fails(a)
    assert type(err) is UpstreamError and err.status == 502 and err.details["reason"] == "status_500"
    assert "secret internals" not in str(err)  # upstream stack traces stay in veneer's log
    assert len(upstream.hits) == 1


@pytest.mark.parametrize("status,exc,answer", [(502, UpstreamError, 502), (503, UpstreamUnavailable, 503),
                                               (504, UpstreamTimeout, 504)])
def test_gateway_errors_not_retried_unless_idempotent(upstream, status, exc, answer) -> None:
    upstream.answer(Reply(status=status))
    a = make_adapter(upstream.url, response=ONE, retries={"attempts": 3, "backoff": 0})
    err = fails(a, exc)
    assert err.status == answer and len(upstream.hits) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_retried_when_idempotent_within_attempts_and_deadline(upstream, status) -> None:
    upstream.answer(Reply(status=status))
    a = make_adapter(upstream.url, idempotent=True, response=ONE,
                     retries={"attempts": 3, "backoff": 0.05, "max_backoff": 0.2}, timeouts={"deadline": 1.0})
    start = time.monotonic()
    fails(a)
    assert time.monotonic() - start <= 1.0
    assert len(upstream.hits) == 3


def test_retry_then_success_returns_the_answer(upstream) -> None:
    upstream.answer(Reply(status=503), Reply(status=502), Reply(body=b'{"predictions": [7]}'))
    a = make_adapter(upstream.url, idempotent=True, response=ONE, retries={"attempts": 3, "backoff": 0.01})
    assert a.predict(batch()) == {"predictions": [7]}
    assert len(upstream.hits) == 3


# 92 -------------------------------------------------------------------------------------------
def test_retry_after_beyond_deadline_is_not_waited_for(upstream) -> None:
    upstream.answer(Reply(status=503, headers={"Retry-After": "3600"}))
    a = make_adapter(upstream.url, idempotent=True, response=ONE, retries={"attempts": 3},
                     timeouts={"deadline": 5.0})
    start = time.monotonic()
    fails(a, UpstreamUnavailable)
    assert time.monotonic() - start < 1.0
    assert len(upstream.hits) == 1


def test_short_retry_after_is_honoured(upstream) -> None:
    upstream.answer(Reply(status=503, headers={"Retry-After": "1"}), Reply(body=b'{"predictions": [3]}'))
    a = make_adapter(upstream.url, idempotent=True, response=ONE, retries={"attempts": 2, "backoff": 0},
                     timeouts={"deadline": 3.0})
    assert a.predict(batch()) == {"predictions": [3]}
    gap = upstream.hits[1].at - upstream.hits[0].at
    assert 0.95 <= gap < 1.5


@pytest.mark.parametrize("value", ["soon", "-3", email.utils.formatdate(time.time() - 3600, usegmt=True)])
def test_garbage_or_past_retry_after_is_ignored(upstream, value) -> None:
    upstream.answer(Reply(status=503, headers={"Retry-After": value}))
    a = make_adapter(upstream.url, idempotent=True, response=ONE, retries={"attempts": 3, "backoff": 0.01})
    start = time.monotonic()
    fails(a, UpstreamUnavailable)
    assert time.monotonic() - start < 0.5 and len(upstream.hits) == 3


# 93 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status,exc", [(400, BadRequest), (422, InvalidInput), (409, BadRequest)])
def test_upstream_4xx_is_the_clients_error_not_retried_not_counted(upstream, status, exc) -> None:
    upstream.answer(Reply(status=status, body=b'{"message": "tenure must be >= 0"}'))
    a = make_adapter(upstream.url, idempotent=True, response=ONE, retries={"attempts": 3},
                     breaker={"failures": 2})
    for _ in range(4):
        err = fails(a, exc)
    assert err.status == status and "tenure must be >= 0" in str(err)
    assert err.details["upstream_status"] == status
    assert len(upstream.hits) == 4
    assert a.breaker.state == CLOSED


def test_upstream_auth_failure_is_veneers_problem_not_the_clients(upstream) -> None:
    upstream.answer(Reply(status=401, body=b"bad api key"))
    err = fails(make_adapter(upstream.url, response=ONE))
    assert type(err) is UpstreamError and err.status == 502 and "headers.set" in str(err)


# 94 -------------------------------------------------------------------------------------------
def test_redirect_is_not_followed(upstream) -> None:
    from .conftest import ScriptedUpstream

    elsewhere = ScriptedUpstream()
    try:
        upstream.answer(Reply(status=302, headers={"Location": f"{elsewhere.url}/steal"}))
        a = make_adapter(upstream.url, response=ONE, headers={"set": {"Authorization": "Bearer legacy-key"}})
        err = fails(a)
        assert err.status == 502 and err.details["reason"] == "redirect"
        assert f"127.0.0.1:{elsewhere.port}" in str(err) and "legacy-key" not in str(err)
        assert len(upstream.hits) == 1 and elsewhere.hits == []
    finally:
        elsewhere.stop()


# answers that are not usable ------------------------------------------------------------------
@pytest.mark.parametrize("body,reason", [(b"<html>Error</html>", "invalid_json"),
                                         (b'{"other": 1}', "path_not_found"),
                                         (b'{"predictions": [1, 2]}', "count_mismatch")])
def test_unusable_answers_are_502(upstream, body, reason) -> None:
    upstream.answer(Reply(body=body))
    a = make_adapter(upstream.url, response=ONE)
    seen = []
    a.observer = seen.append
    err = fails(a)
    assert type(err) is UpstreamError and err.status == 502 and err.details["reason"] == reason
    assert seen == ["bad_response"]


@pytest.mark.parametrize("chunked", [False, True])
def test_response_size_is_capped(upstream, chunked) -> None:
    big = b'{"predictions": [' + b"1," * 5000 + b"1]}"
    headers = {"Transfer-Encoding": "chunked"} if chunked else {}
    body = (b"%x\r\n" % len(big) + big + b"\r\n0\r\n\r\n") if chunked else big
    upstream.answer(Reply(body=body, headers=headers))
    err = fails(make_adapter(upstream.url, response=ONE, max_response_bytes=1000))
    assert err.status == 502 and err.details["reason"] == "too_large"


# 95 -------------------------------------------------------------------------------------------
def test_breaker_opens_refuses_without_hits_probes_once_and_closes(upstream) -> None:
    upstream.answer(Reply(status=500))
    a = make_adapter(upstream.url, response=ONE, breaker={"failures": 5, "reset_seconds": 0.4})
    for _ in range(5):
        fails(a)
    assert len(upstream.hits) == 5 and a.breaker.state == OPEN
    assert a.ready() is False
    start = time.monotonic()
    for _ in range(10):
        err = fails(a, UpstreamUnavailable)
    assert time.monotonic() - start < 0.5
    assert err.details["reason"] == "circuit_open" and int(err.headers["Retry-After"]) >= 1
    assert len(upstream.hits) == 5  # zero upstream hits while open
    wait_for(lambda: a.breaker.state == HALF_OPEN, timeout=2, what="half-open")
    upstream.answer(Reply(body=b'{"predictions": [1]}'))
    assert a.predict(batch()) == {"predictions": [1]}
    assert a.breaker.state == CLOSED and len(upstream.hits) == 6


def test_failed_half_open_probe_reopens(upstream) -> None:
    upstream.answer(Reply(status=503))
    a = make_adapter(upstream.url, response=ONE, breaker={"failures": 2, "reset_seconds": 0.3})
    fails(a), fails(a)
    wait_for(lambda: a.breaker.state == HALF_OPEN, timeout=2, what="half-open")
    fails(a, UpstreamUnavailable)
    assert len(upstream.hits) == 3 and a.breaker.state == OPEN
    assert fails(a, UpstreamUnavailable).details["reason"] == "circuit_open"
    assert len(upstream.hits) == 3


def test_half_open_admits_a_single_probe_under_concurrency(upstream) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    upstream.answer(Reply(status=500))
    a = make_adapter(upstream.url, response=ONE, breaker={"failures": 1, "reset_seconds": 0.2})
    fails(a)
    wait_for(lambda: a.breaker.state == HALF_OPEN, timeout=2, what="half-open")
    upstream.answer(Reply(delay=1.0, body=b'{"predictions": [1]}'))
    start = threading.Barrier(8)

    def call(_):
        start.wait(timeout=10)
        try:
            return a.predict(batch())
        except UpstreamUnavailable as e:
            return e.details["reason"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    assert results.count({"predictions": [1]}) == 1 and results.count("circuit_open") == 7
    assert len(upstream.hits) == 2 and a.breaker.state == CLOSED


# 96 -------------------------------------------------------------------------------------------
def test_retry_budget_bounds_upstream_load_under_total_failure(upstream) -> None:
    upstream.answer(Reply(status=503))
    a = make_adapter(upstream.url, idempotent=True, response=ONE,
                     retries={"attempts": 5, "backoff": 0, "budget_ratio": 0.2, "min_retries": 3},
                     breaker={"failures": 10_000})
    incoming = 200
    for _ in range(incoming):
        fails(a, UpstreamUnavailable)
    assert incoming < len(upstream.hits) <= 1.2 * incoming + 3  # without the budget: 5 x 200


# 97 -------------------------------------------------------------------------------------------
def _fds() -> int:
    import os

    return len(os.listdir("/proc/self/fd"))


def test_pool_saturation_leaks_no_sockets_and_latency_stays_bounded(upstream) -> None:
    from concurrent.futures import ThreadPoolExecutor

    upstream.answer(Reply(delay=0.05, body=b'{"predictions": [1]}'))
    a = make_adapter(upstream.url, response=ONE, pool={"maxsize": 10})
    a.predict(batch())
    before = _fds()

    def call(i):
        start = time.monotonic()
        assert a.predict(batch()) == {"predictions": [1]}
        return time.monotonic() - start

    with ThreadPoolExecutor(50) as pool:
        latencies = list(pool.map(call, range(50)))
    assert max(latencies) < 2.0
    # client and server ends of at most pool.maxsize kept-alive connections may stay open
    wait_for(lambda: _fds() <= before + 2 * 10, timeout=5, what="surplus sockets to close")
    a.unload()
    wait_for(lambda: _fds() <= before, timeout=5, what="pooled sockets to close after unload")


# 98 -------------------------------------------------------------------------------------------
def test_dns_failure_is_fast_and_classified(monkeypatch) -> None:
    # A fake: tests may not send DNS queries, so name resolution is made to fail in process.
    import socket

    real = socket.getaddrinfo

    def no_dns(host, *args, **kw):
        if host == "legacy-scoring.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    a = make_adapter("http://legacy-scoring.invalid:9000/score", response=ONE, retries={"attempts": 3})
    start = time.monotonic()
    err = fails(a, UpstreamUnavailable)
    assert time.monotonic() - start < 0.5 and err.details["reason"] == "dns_error"


def test_an_unexpected_error_during_the_probe_does_not_wedge_the_breaker(upstream, monkeypatch) -> None:
    upstream.answer(Reply(status=500))
    a = make_adapter(upstream.url, response=ONE, breaker={"failures": 1, "reset_seconds": 0.1})
    fails(a)
    wait_for(lambda: a.breaker.state == HALF_OPEN, timeout=2, what="half-open")
    real = a.caller._attempt
    monkeypatch.setattr(a.caller, "_attempt", lambda *args: (_ for _ in ()).throw(MemoryError("boom")))
    with pytest.raises(MemoryError):
        a.predict(batch())
    monkeypatch.setattr(a.caller, "_attempt", real)
    upstream.answer(Reply(body=b'{"predictions": [2]}'))
    assert a.predict(batch()) == {"predictions": [2]} and a.breaker.state == CLOSED


def test_several_outputs_are_checked_for_row_count_each(upstream) -> None:
    upstream.answer(Reply(body=b'{"s": [0.2, 0.8], "l": ["a"]}'))
    a = make_adapter(upstream.url, response={"outputs": {"score": "s", "label": "l"}})
    assert [t.name for t in a.metadata().outputs] == ["score", "label"]
    with pytest.raises(UpstreamError, match="1 values of 'label' for 2 rows"):
        a.predict(batch(2))
    upstream.answer(Reply(body=b'{"s": [0.2, 0.8], "l": ["a", "b"]}'))
    assert a.predict(batch(2)) == {"score": [0.2, 0.8], "label": ["a", "b"]}


def test_short_retry_after_of_a_final_503_is_passed_on_long_one_is_not(upstream) -> None:
    upstream.answer(Reply(status=503, headers={"Retry-After": "5"}))
    err = fails(make_adapter(upstream.url, response=ONE), UpstreamUnavailable)
    assert err.headers == {"Retry-After": "5"}
    upstream.answer(Reply(status=503, headers={"Retry-After": "3600"}))
    assert fails(make_adapter(upstream.url, response=ONE), UpstreamUnavailable).headers == {}
