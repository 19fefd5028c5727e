"""The I/O-free resilience parts, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import email.utils
import random
import time

import pytest

from veneer.adapters._http_resilience import (CLOSED, HALF_OPEN, OPEN, BreakerOpen, CircuitBreaker, Deadline,
                                              RetryBudget, backoff_delay, parse_retry_after)


class Clock:
    """A manual clock: tests advance it explicitly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_consecutive_failures_only() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=3, reset_seconds=10, clock=clock)
    b.record_failure(b.acquire())
    b.record_failure(b.acquire())
    b.record_success(b.acquire())  # a success in between resets the count
    b.record_failure(b.acquire())
    b.record_failure(b.acquire())
    assert b.state == CLOSED
    b.record_failure(b.acquire())
    assert b.state == OPEN
    with pytest.raises(BreakerOpen) as info:
        b.acquire()
    assert info.value.retry_after == pytest.approx(10.0)


def test_breaker_half_open_lets_exactly_one_probe_then_closes_on_success() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=1, reset_seconds=5, clock=clock)
    b.record_failure(b.acquire())
    clock.now += 4.9
    with pytest.raises(BreakerOpen):
        b.acquire()
    clock.now += 0.2
    assert b.state == HALF_OPEN
    assert b.acquire() is True           # the probe
    with pytest.raises(BreakerOpen):      # everyone else still refused while it runs
        b.acquire()
    b.record_success(True)
    assert b.state == CLOSED
    assert b.acquire() is False


def test_breaker_failed_probe_reopens_for_a_full_period() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=2, reset_seconds=5, clock=clock)
    b.record_failure(b.acquire())
    b.record_failure(b.acquire())
    clock.now += 6
    probe = b.acquire()
    assert probe is True
    b.record_failure(probe)
    assert b.state == OPEN
    clock.now += 4
    with pytest.raises(BreakerOpen):
        b.acquire()
    clock.now += 1.5
    assert b.acquire() is True


def test_breaker_released_probe_can_be_taken_again() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=1, reset_seconds=1, clock=clock)
    b.record_failure(b.acquire())
    clock.now += 2
    b.release(b.acquire())
    assert b.acquire() is True


def test_breaker_reports_transitions() -> None:
    clock, seen = Clock(), []
    b = CircuitBreaker(failures=1, reset_seconds=1, clock=clock, on_change=lambda o, n: seen.append((o, n)))
    b.record_failure(b.acquire())
    clock.now += 2
    b.record_success(b.acquire())
    assert seen == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_retry_budget_caps_retries_at_ratio_of_requests_in_window() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.2, window=10, min_retries=3, clock=clock)
    granted = 0
    for _ in range(100):
        budget.record_request()
        granted += budget.try_acquire()
    assert granted == 20
    clock.now += 11  # the window slides: old requests and retries no longer count
    budget.record_request()
    assert [budget.try_acquire() for _ in range(4)] == [True, True, True, False]


def test_deadline_counts_down_and_never_goes_negative() -> None:
    clock = Clock()
    d = Deadline(2.0, clock=clock)
    clock.now += 0.5
    assert d.remaining() == pytest.approx(1.5)
    clock.now += 5
    assert d.remaining() == 0.0 and d.expired


def test_full_jitter_backoff_stays_within_exponential_cap() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(3, 0.1, 0.5, rng) for _ in range(2000)]
    assert 0.0 <= min(delays) and max(delays) <= 0.5
    assert max(delays) > 0.45 and min(delays) < 0.05  # really jittered over the whole range
    assert all(backoff_delay(0, 0.1, 5, rng) <= 0.1 for _ in range(100))


@pytest.mark.parametrize("value,expected", [
    ("3", 3.0), ("0", 0.0), (" 12 ", 12.0), ("soon", None), ("-5", None), ("", None), (None, None),
    ("1.5", None), ("Wed, 21 Oct 2015 07:28:00 GMT", None),
])
def test_retry_after_values(value, expected) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date_in_the_future() -> None:
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= parse_retry_after(future) <= 31
