"""A JWKS client that fails safe: cached, rate-limited, time-boxed, size-capped, no redirects.

Why not ``jwt.PyJWKClient``: it has no size cap, no whole-fetch deadline and no
bounded last-known-good cache (it either serves a set forever or refetches in the
request path on every miss after its cooldown). This client keeps:

- a key set that is *fresh* for ``cache_seconds``; after that it is refetched, so a
  key removed upstream stops verifying within ``cache_seconds``;
- the last good set while the endpoint is down, usable until ``cache_seconds +
  max_stale_seconds`` after it was fetched; then every token fails closed (503);
- at most one fetch per ``cooldown_seconds`` triggered by an unknown ``kid`` or
  retried after a failure (a flood of random ``kid`` values cannot hammer the IdP);
- one fetch in flight at a time: while a usable set exists, other threads keep
  verifying with it instead of queueing behind the fetch;
- a deadline of ``timeout_seconds`` for the whole fetch (connect, headers, body),
  a body cap of ``max_bytes``, and redirects refused (a 302 is a failed fetch).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from veneer.wrapper.errors import KeySourceUnavailable

from .reasons import UNAVAILABLE, TokenRejected
from .settings import FAMILIES

log = logging.getLogger("veneer.auth")

_KTY = {"RSA": "RSA", "EC": "EC", "OKP": "OKP"}
MAX_KID = 256


class JwksFetchError(Exception):
    """A fetch failed; the message says why (status, size, parse), never token data."""


@dataclass(frozen=True)
class _KeySet:
    #: kid -> {alg: PyJWK}
    keys: dict[str, dict[str, Any]]
    fetched_at: float
    kids: tuple[str, ...] = field(default=())


class JwksKeySource:
    """Keys of one JWKS URL; see the module docstring for the caching rules."""

    def __init__(self, url: str, *, algorithms: tuple[str, ...], cache_seconds: float = 300,
                 cooldown_seconds: float = 30, timeout_seconds: float = 2, max_stale_seconds: float = 3600,
                 max_bytes: int = 1 << 20, on_fetch: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import requests

        self.url = url
        self.algorithms = algorithms
        self.family = FAMILIES[algorithms[0]]
        self.cache_seconds = cache_seconds
        self.cooldown_seconds = cooldown_seconds
        self.timeout_seconds = timeout_seconds
        self.max_stale_seconds = max_stale_seconds
        self.max_bytes = max_bytes
        #: called with "ok" or "error" after every fetch (the metrics counter)
        self.on_fetch = on_fetch
        self.clock = clock
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy from the environment between us and the IdP
        self._set: _KeySet | None = None
        self._last_failure: float | None = None
        self._last_attempt: float | None = None
        self._lock = threading.Lock()

    # -- the request path -------------------------------------------------
    def key_for(self, kid: str | None, alg: str) -> Any:
        """The key for ``kid`` bound to ``alg``; refetches when stale or unknown, within the limits."""
        if not kid:
            raise TokenRejected("bad_kid", "a JWKS issuer's tokens must name their key")
        now = self.clock()
        current = self._set
        if current is None or now - current.fetched_at >= self.cache_seconds:
            self._refresh(now, current, unknown_kid=False)
        elif kid not in current.keys:
            self._refresh(now, current, unknown_kid=True)
        current = self._set
        if current is None or self.clock() - current.fetched_at > self.cache_seconds + self.max_stale_seconds:
            raise KeySourceUnavailable(UNAVAILABLE, code="key_source_unavailable",
                                       headers={"Retry-After": str(max(1, int(self.cooldown_seconds)))})
        by_alg = current.keys.get(kid)
        if by_alg is None:
            raise TokenRejected("unknown_key")
        key = by_alg.get(alg)
        if key is None:
            # the published key is bound to another algorithm (CVE-2026-48523 shape)
            raise TokenRejected("bad_algorithm", f"key is bound to {', '.join(sorted(by_alg))}")
        return key

    def generation(self) -> Any:
        """The current key set while it is fresh, else None (verified-token cache entries then expire)."""
        current = self._set
        if current is None or self.clock() - current.fetched_at >= self.cache_seconds:
            return None
        return current

    def _refresh(self, now: float, seen: _KeySet | None, *, unknown_kid: bool) -> None:
        last = self._last_attempt if unknown_kid else self._last_failure
        if last is not None and now - last < self.cooldown_seconds:
            return
        usable = seen is not None and now - seen.fetched_at <= self.cache_seconds + self.max_stale_seconds
        # with a usable set, never queue behind another thread's fetch
        if not self._lock.acquire(blocking=not usable, timeout=-1 if usable else self.timeout_seconds + 1):
            return
        try:
            if self._set is not seen:  # another thread refreshed meanwhile
                return
            last = self._last_attempt if unknown_kid else self._last_failure
            if last is not None and self.clock() - last < self.cooldown_seconds:
                return  # another thread just tried (and failed, or the kid is still unknown)
            self._last_attempt = self.clock()
            try:
                self._set = self.fetch()
                self._last_failure = None
                self._notify("ok")
            except JwksFetchError as e:
                self._last_failure = self.clock()
                self._notify("error")
                log.warning("JWKS fetch from %s failed: %s", self.url, e)
        finally:
            self._lock.release()

    def _notify(self, result: str) -> None:
        if self.on_fetch is not None:
            try:
                self.on_fetch(result)
            except Exception:  # a metrics bug must not break auth
                log.exception("JWKS fetch observer failed")

    # -- fetching ---------------------------------------------------------
    def fetch(self) -> _KeySet:
        """Fetch and parse the key set now (raises ``JwksFetchError``)."""
        body = self._download()
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as e:
            raise JwksFetchError("the body is not JSON") from e
        return self._parse(data)

    def _download(self) -> bytes:
        import requests

        deadline = self.clock() + self.timeout_seconds
        try:
            with self._session.get(self.url, timeout=(self.timeout_seconds, self.timeout_seconds),
                                   allow_redirects=False, stream=True,
                                   headers={"Accept": "application/json", "Accept-Encoding": "identity"}) as r:
                if r.is_redirect or 300 <= r.status_code < 400:
                    raise JwksFetchError(f"HTTP {r.status_code} redirect refused (redirects are never followed)")
                if r.status_code != 200:
                    raise JwksFetchError(f"HTTP {r.status_code}")
                declared = r.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise JwksFetchError(f"body of {declared} bytes exceeds jwks_max_bytes={self.max_bytes}")
                buf = bytearray()
                while True:
                    if self.clock() > deadline:
                        raise JwksFetchError(f"no complete answer within {self.timeout_seconds}s")
                    # read1: at most one socket read, so the deadline is checked between reads
                    chunk = r.raw.read1(65536)
                    if not chunk:
                        break
                    buf += chunk
                    if len(buf) > self.max_bytes:
                        raise JwksFetchError(f"body exceeds jwks_max_bytes={self.max_bytes}")
                return bytes(buf)
        except requests.RequestException as e:
            raise JwksFetchError(f"{type(e).__name__} within {self.timeout_seconds}s") from e
        except OSError as e:  # raw socket trouble surfacing through urllib3
            raise JwksFetchError(type(e).__name__) from e

    def _parse(self, data: Any) -> _KeySet:
        from jwt import PyJWK
        from jwt.exceptions import PyJWTError

        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise JwksFetchError("the body is not a JWK Set (an object with a 'keys' list)")
        keys: dict[str, dict[str, Any]] = {}
        for jwk in data["keys"]:
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue
            kid = jwk.get("kid")
            if not isinstance(kid, str) or not kid or len(kid) > MAX_KID:
                continue
            if jwk.get("kty") != _KTY.get(self.family):
                continue
            bound = jwk.get("alg")
            candidates = [bound] if isinstance(bound, str) else list(self.algorithms)
            for alg in candidates:
                try:
                    keys.setdefault(kid, {})[alg] = PyJWK(jwk, alg)
                except (PyJWTError, ValueError, TypeError, KeyError):
                    continue
            if not keys.get(kid):
                keys.pop(kid, None)
        if not any(alg in self.algorithms for by_alg in keys.values() for alg in by_alg):
            raise JwksFetchError(f"no usable signing key for {list(self.algorithms)} in the set")
        return _KeySet(keys=keys, fetched_at=self.clock(), kids=tuple(keys))

    def describe(self) -> dict[str, Any]:
        """Source summary and cache state."""
        current = self._set
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.url)  # never show credentials or query secrets of the URL
        shown = urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else ""),
                            parts.path, "", ""))
        return {"key_source": "jwks_url", "jwks_url": shown,
                "jwks_keys": list(current.kids) if current else [],
                "jwks_age_seconds": round(self.clock() - current.fetched_at, 1) if current else None}
