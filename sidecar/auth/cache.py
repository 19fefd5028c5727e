"""A small cache of verified tokens, so a client reusing its token skips the signature check.

Why: verifying costs 0.1-0.5 ms (PyJWT decoding plus HMAC/RSA/ECDSA), more than a small
model's prediction. A hit costs a SHA-256 and a dict lookup. Safety rules:

- the key is the SHA-256 of the whole token: an entry is only ever reused for the
  byte-identical token that passed every check;
- an entry is dropped when the token expires (same ``exp <= now - leeway`` rule), after
  ``ttl`` seconds (30 s), and whenever the key material it was verified with is no longer
  current (a JWKS refresh, or a set past its freshness, sends it back to full verification);
- revocation is checked on every hit, so the denylist bound is unchanged;
- failures are never cached; the cache holds at most ``max_entries`` (LRU-ish eviction).
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any, Callable

from .principal import Principal


class VerifiedCache:
    """token digest -> (principal, exp, key generation, stored at)."""

    def __init__(self, *, ttl: float = 30.0, max_entries: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[bytes, tuple[Principal, float, Any, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def digest(token: str) -> bytes:
        """The cache key of ``token``."""
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()

    def get(self, digest: bytes, *, generation: Any, now: float, leeway: float) -> Principal | None:
        """The principal of a still-valid entry, or None (a miss; the caller verifies in full)."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        principal, exp, gen, stored = entry
        if generation is None or gen is not generation or exp <= now - leeway or \
                self.clock() - stored > self.ttl:
            self._entries.pop(digest, None)
            return None
        return principal

    def put(self, digest: bytes, principal: Principal, *, exp: float, generation: Any) -> None:
        """Remember a token that passed every check."""
        if generation is None:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                # drop the oldest tenth: amortised O(1), and a flood of fresh tokens cannot pin memory
                for key in list(self._entries)[: max(1, self.max_entries // 10)]:
                    self._entries.pop(key, None)
            self._entries[digest] = (principal, exp, generation, self.clock())

    def __len__(self) -> int:
        return len(self._entries)
