"""Resilience parts of the http adapter: deadline, jittered retries, retry budget, circuit breaker.

Each part is small, thread-safe (gunicorn threads share one adapter) and takes an
injectable clock so tests can drive it without sleeping. None of them does I/O.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections import deque
from typing import Callable

Clock = Callable[[], float]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Deadline:
    """An absolute end time for one veneer request, however many upstream attempts it takes."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self.end = clock() + seconds

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.end - self._clock())

    @property
    def expired(self) -> bool:
        """True once no time is left."""
        return self.remaining() <= 0.0


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full-jitter backoff (AWS architecture blog): uniform in [0, min(cap, base * 2**attempt)].

    Full jitter spreads the retries of many clients that failed together, so a
    recovering upstream does not see them arrive in synchronized waves.
    """
    ceiling = min(cap, base * (2 ** attempt))
    return (rng or random).uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    Garbage, negative values and dates in the past give ``None`` (ignored), per RFC 9110 §10.2.3.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return delta if delta > 0 else None


class RetryBudget:
    """Retries allowed only while they stay under ``ratio`` of requests in a sliding window.

    Envoy's retry budget (``budget_percent`` 20 %, ``min_retry_concurrency``): under a
    total outage, per-request retry counts would multiply load on the upstream; a
    budget caps the extra load at ``ratio`` whatever ``attempts`` says. ``min_retries``
    lets a quiet service still retry its first few failures.
    """

    def __init__(self, ratio: float = 0.2, window: float = 10.0, min_retries: int = 3,
                 clock: Clock = time.monotonic) -> None:
        self.ratio, self.window, self.min_retries = ratio, window, min_retries
        self._clock = clock
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()
        self._lock = threading.Lock()

    def _trim(self, now: float) -> None:
        edge = now - self.window
        for q in (self._requests, self._retries):
            while q and q[0] < edge:
                q.popleft()

    def record_request(self) -> None:
        """Count one incoming (first-attempt) request."""
        with self._lock:
            now = self._clock()
            self._trim(now)
            self._requests.append(now)

    def try_acquire(self) -> bool:
        """Take one retry from the budget; False when the budget is spent."""
        with self._lock:
            now = self._clock()
            self._trim(now)
            allowed = max(self.min_retries, self.ratio * len(self._requests))
            if len(self._retries) + 1 > allowed:
                return False
            self._retries.append(now)
            return True


class BreakerOpen(Exception):
    """Raised by ``CircuitBreaker.acquire`` when calls are refused; ``retry_after`` in seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"circuit open, retry in {retry_after:.1f}s")
        self.retry_after = retry_after


class CircuitBreaker:
    """Closed → open after ``failures`` consecutive failures → half-open single probe → closed or open.

    While open every call is refused without touching the upstream. After
    ``reset_seconds`` exactly one caller is let through as a probe; the others are
    still refused until that probe reports success (close) or failure (re-open).
    """

    def __init__(self, failures: int = 5, reset_seconds: float = 10.0,
                 clock: Clock = time.monotonic,
                 on_change: Callable[[str, str], None] | None = None) -> None:
        self.failures, self.reset_seconds = failures, reset_seconds
        self._clock = clock
        self._on_change = on_change
        self._state = CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._probe_out = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (an open breaker past its reset time reads half_open)."""
        with self._lock:
            if self._state == OPEN and self._clock() - self._opened_at >= self.reset_seconds:
                return HALF_OPEN
            return self._state

    def _set(self, state: str) -> None:
        old, self._state = self._state, state
        if old != state and self._on_change is not None:
            self._on_change(old, state)

    def acquire(self) -> bool:
        """Permission for one call; returns True if this call is the half-open probe.

        Raises ``BreakerOpen`` when the call must not reach the upstream.
        """
        with self._lock:
            if self._state == CLOSED:
                return False
            waited = self._clock() - self._opened_at
            if self._state == OPEN and waited >= self.reset_seconds:
                self._set(HALF_OPEN)
            if self._state == HALF_OPEN and not self._probe_out:
                self._probe_out = True
                return True
            return self._raise_open(waited)

    def _raise_open(self, waited: float) -> bool:
        raise BreakerOpen(max(0.0, self.reset_seconds - waited))

    def release(self, probe: bool) -> None:
        """A call that proved nothing either way (e.g. cancelled before sending) gives back its probe."""
        if probe:
            with self._lock:
                self._probe_out = False

    def record_success(self, probe: bool = False) -> None:
        """The upstream answered properly: reset the count; a successful probe closes the breaker."""
        with self._lock:
            self._consecutive = 0
            if probe or self._state == HALF_OPEN:
                self._probe_out = False
                self._set(CLOSED)

    def record_failure(self, probe: bool = False) -> None:
        """The upstream failed: count it; the threshold or a failed probe (re-)opens the breaker."""
        with self._lock:
            self._consecutive += 1
            if probe or self._state == HALF_OPEN or (
                    self._state == CLOSED and self._consecutive >= self.failures):
                self._probe_out = False
                self._opened_at = self._clock()
                self._set(OPEN)
