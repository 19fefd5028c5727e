"""Token extraction and verification: from request headers to verified claims.

Order of checks (cheap and key-free first, so junk never reaches the key source):

1. the bearer value: only ``Authorization: Bearer <token>`` (the query string only
   when ``allow_query_token``), at most ``MAX_TOKEN_BYTES``;
2. shape: three base64url segments (no padding, no whitespace), JSON objects;
3. header: ``alg`` in the configured list (``none`` in any case never), no ``crit``,
   ``typ`` an access-token type, ``kid`` a short string; ``jku``/``x5u``/``jwk``/``x5c``
   are ignored;
4. the key for ``kid`` (may fetch the JWKS, within its limits);
5. PyJWT: signature, ``iss``, ``aud`` and the required claims (``options={"require": [...]}``);
6. veneer's own checks: ``exp``/``nbf``/``iat`` must be JSON numbers (PyJWT would ``int()``
   a string or a boolean) and are compared like PyJWT does (``exp <= now - leeway`` is
   expired, ``nbf``/``iat > now + leeway`` immature); lifetime ``exp - iat``;
   ``typ``/``token_use`` claims; the revocation list.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from typing import Any, Callable, Mapping

import jwt
from jwt import exceptions as jx

from .keys import KeySource
from .reasons import TokenRejected
from .settings import AuthSettings

#: the largest token accepted (gunicorn refuses header lines over 8190 bytes anyway)
MAX_TOKEN_BYTES = 8000
_SHAPE = re.compile(r"\A[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\Z")
_KID_OK = re.compile(r"\A[\x20-\x7e]{1,256}\Z")  # printable ASCII, short


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """``headers[name]`` case-insensitively (works for plain dicts and Werkzeug headers)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, val in headers.items():
            if key.lower() == lowered:
                return val
    return value


def extract_token(headers: Mapping[str, str], query: Mapping[str, str] | None,
                  settings: AuthSettings) -> str:
    """The bearer token of a request; raises ``TokenRejected`` (missing, malformed, multiple_tokens)."""
    value = header_value(headers, "Authorization")
    token = None
    if value is not None and value.strip():
        scheme, _, rest = value.partition(" ")
        if scheme.lower() != "bearer":
            raise TokenRejected("missing", "only the Bearer scheme is accepted")
        token = rest.lstrip(" ")
        if not token:
            raise TokenRejected("missing")
    if settings.allow_query_token and query is not None:
        from_query = query.get(settings.query_token_param)
        if from_query:
            if token is not None:
                raise TokenRejected("multiple_tokens")
            token = from_query
    if token is None:
        raise TokenRejected("missing")
    return token


def _b64json(segment: str) -> Any:
    raw_segment = segment.encode("ascii")
    try:
        raw = base64.urlsafe_b64decode(raw_segment + b"=" * (-len(raw_segment) % 4))
    except (binascii.Error, ValueError) as e:
        raise TokenRejected("malformed") from e
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != raw_segment:  # non-canonical encodings
        raise TokenRejected("malformed")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise TokenRejected("malformed") from e
    if not isinstance(value, dict):
        raise TokenRejected("malformed")
    return value


def split_token(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a well-formed token, unverified (raises ``TokenRejected``)."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenRejected("too_large", f"at most {MAX_TOKEN_BYTES} bytes")
    if not _SHAPE.match(token):
        raise TokenRejected("malformed")
    head, body, _sig = token.split(".")
    if len(head) % 4 == 1 or len(body) % 4 == 1 or len(_sig) % 4 == 1:
        raise TokenRejected("malformed")
    return _b64json(head), _b64json(body)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Verifier:
    """Verifies tokens against one ``AuthSettings`` and key source; returns the claims."""

    def __init__(self, settings: AuthSettings, key_source: KeySource, denylist: Any = None,
                 wallclock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.wallclock = wallclock
        self.key_source = key_source
        self.denylist = denylist
        self._jwt = jwt.PyJWT()
        # time claims are checked below, after their types (see the module docstring)
        self._options = {"require": list(settings.required_claims), "strict_aud": False,
                         "verify_signature": True, "enforce_minimum_key_length": True,
                         "verify_exp": False, "verify_nbf": False, "verify_iat": False}
        aud = settings.audiences
        self._audience = aud[0] if len(aud) == 1 else list(aud)
        # a tuple, never a bare string: "iss in 'https://idp...'" would be a substring test
        self._issuer = settings.issuers[0] if len(settings.issuers) == 1 else tuple(settings.issuers)

    def check_header(self, header: Mapping[str, Any]) -> tuple[str, str | None]:
        """``(alg, kid)`` of an acceptable header (raises ``TokenRejected``)."""
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.settings.algorithms:
            raise TokenRejected("bad_algorithm", f"accepted: {', '.join(self.settings.algorithms)}")
        if "crit" in header or "b64" in header:
            raise TokenRejected("crit_unsupported")
        typ = header.get("typ")
        if typ is not None and not self._type_ok(typ):
            raise TokenRejected("bad_type", "typ header")
        kid = header.get("kid")
        if "kid" in header and (not isinstance(kid, str) or not _KID_OK.match(kid)):
            raise TokenRejected("bad_kid")
        return alg, kid

    def _type_ok(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        value = value.lower()
        value = value[len("application/"):] if value.startswith("application/") else value
        return value in self.settings.token_types

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token`` (raises ``TokenRejected`` or ``KeySourceUnavailable``)."""
        header, _ = split_token(token)
        alg, kid = self.check_header(header)
        key = self.key_source.key_for(kid, alg)
        try:
            decoded = self._jwt.decode_complete(
                token, key=key, algorithms=[alg], options=self._options, audience=self._audience,
                issuer=self._issuer, leeway=self.settings.leeway)
        except jx.PyJWTError as e:
            raise TokenRejected(*_reason_of(e)) from e
        claims = decoded["payload"]
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        for name in ("exp", "iat", "nbf"):
            if name in claims and not _is_number(claims[name]):
                raise TokenRejected("bad_claim", f"{name} must be a number")
        for name in ("sub", "iss", "jti"):
            if name in claims and (not isinstance(claims[name], str) or not claims[name]):
                raise TokenRejected("bad_claim", f"{name} must be a non-empty string")
        now, leeway = self.wallclock(), self.settings.leeway
        if claims["iat"] > now + leeway or ("nbf" in claims and claims["nbf"] > now + leeway):
            raise TokenRejected("immature")
        if claims["exp"] <= now - leeway:
            raise TokenRejected("expired")
        if claims["exp"] - claims["iat"] > self.settings.max_lifetime_seconds:
            raise TokenRejected("lifetime_exceeded", f"at most {self.settings.max_lifetime_seconds}s")
        if claims["exp"] < claims["iat"]:
            raise TokenRejected("bad_claim", "exp before iat")
        for name in ("typ", "token_use"):
            if name in claims and not self._type_ok(claims[name]):
                raise TokenRejected("bad_type", f"{name} claim")
        if self.denylist is not None and self.denylist.is_revoked(claims.get("jti")):
            raise TokenRejected("revoked")


def _reason_of(e: jx.PyJWTError) -> tuple[str, str | None]:
    """PyJWT's exception tree -> (reason, safe detail). Order matters: subclasses first."""
    if isinstance(e, jx.InvalidSignatureError):
        return "bad_signature", None
    if isinstance(e, jx.InvalidAlgorithmError):
        return "bad_algorithm", None
    if isinstance(e, jx.InvalidKeyError):
        return "bad_algorithm", "the key cannot verify this algorithm"
    if isinstance(e, jx.ExpiredSignatureError):
        return "expired", None
    if isinstance(e, jx.ImmatureSignatureError):
        return "immature", None
    if isinstance(e, jx.MissingRequiredClaimError):
        return "missing_claim", e.claim if e.claim.isidentifier() else None
    if isinstance(e, jx.InvalidIssuerError):
        return "bad_issuer", None
    if isinstance(e, jx.InvalidAudienceError):
        return "bad_audience", None
    if isinstance(e, (jx.InvalidIssuedAtError, jx.InvalidSubjectError, jx.InvalidJTIError)):
        return "bad_claim", None
    if isinstance(e, jx.DecodeError):
        # shape and JSON were checked before; what is left is a claim of the wrong type
        return "bad_claim", None
    return "malformed", None
