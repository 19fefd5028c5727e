"""Capped exponential backoff with jitter, for retrying an unreachable registry.

"Equal jitter": the n-th delay is drawn from ``[d/2, d]`` with
``d = min(cap, base * 2**n)``, so retries of many instances spread out (no
thundering herd when a registry comes back) while each still waits at least
half the nominal delay.
"""

from __future__ import annotations

import random


class Backoff:
    """Delays for consecutive failures: ``next()`` grows to ``cap``; ``reset()`` after a success."""

    def __init__(self, base: float = 0.5, cap: float = 60.0, *, rng: random.Random | None = None) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"Backoff needs 0 < base <= cap, got base={base!r}, cap={cap!r}.")
        self.base, self.cap = float(base), float(cap)
        self.failures = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt, in seconds (counts one more failure)."""
        nominal = min(self.cap, self.base * (2 ** min(self.failures, 32)))
        self.failures += 1
        return nominal / 2 + self._rng.uniform(0, nominal / 2)

    def reset(self) -> None:
        """Start again from ``base`` (after a success)."""
        self.failures = 0
