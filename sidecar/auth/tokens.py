"""Minting tokens (``veneer token create``, tests and the demo) with the claims veneer verifies.

Extra claims come from ``--claim key=value``: the value is JSON when it parses as
JSON, else a plain string; a value that *looks* structured (``{``, ``[``, ``"``)
but is not valid JSON is refused. Nothing is ever ``eval``-ed.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from typing import Any, Iterable, Mapping

from veneer.wrapper.errors import ConfigError
from veneer.wrapper.schema.auth import RESERVED_CLAIMS

from .principal import PERMISSIONS
from .scope import split_segments

_DURATION = re.compile(r"\A(\d+)([smhdw]?)\Z")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """Seconds in ``30d``, ``12h``, ``15m``, ``3600s`` or ``3600``."""
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) <= 0:
        raise ConfigError(f"duration {text!r} is not understood.", fix="Use e.g. 30d, 12h, 15m or 3600s.")
    return int(m.group(1)) * _UNITS[m.group(2)]


def parse_claim(text: str) -> tuple[str, Any]:
    """``key=value`` -> (key, JSON value or string); reserved keys and pseudo-JSON are refused."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"claim {text!r} is not key=value.", fix="Write e.g. --claim team=fraud.")
    check_extra_claims({key: None})
    try:
        value = json.loads(raw)
    except ValueError:
        if raw.lstrip()[:1] in ("{", "[", '"'):
            raise ConfigError(f"claim {key!r}: the value looks like JSON but does not parse as JSON; "
                              "it is never evaluated as code.", fix="Write valid JSON, or a plain string.") from None
        value = raw
    return key, value


def check_extra_claims(claims: Mapping[str, Any]) -> None:
    """Refuse extra claims that would override a reserved one (iss, aud, exp, sub, gid, scope...)."""
    clash = sorted(set(claims) & set(RESERVED_CLAIMS))
    if clash:
        raise ConfigError(f"extra claims may not set reserved claims {clash}.", path="claims",
                          fix="Use another name; reserved: " + ", ".join(RESERVED_CLAIMS) + ".")


def key_id(public_key: Any) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key: a stable ``kid``."""
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm
    from jwt.utils import base64url_encode
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(public_key, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
        members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    else:
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
        members = {k: jwk[k] for k in ("e", "kty", "n")}
    digest = hashlib.sha256(json.dumps(members, sort_keys=True, separators=(",", ":")).encode()).digest()
    return base64url_encode(digest).decode()


def build_claims(*, issuer: str, audience: str | list[str], owner: str, scopes: Iterable[str],
                 permissions: Iterable[str] = ("predict",), lifetime: int, groups: Iterable[str] = (),
                 global_id: str | None = None, extra: Mapping[str, Any] | None = None,
                 now: float | None = None, jti: str | None = None) -> dict[str, Any]:
    """The payload of a veneer token (validates scopes, permissions and extra claims)."""
    scopes = list(scopes)
    if not scopes:
        raise ConfigError("a token needs at least one scope.", fix="Pass --prefix (and --model).")
    for entry in scopes:
        if split_segments(entry) is None:
            raise ConfigError(f"scope {entry!r} is not 'prefix' or 'prefix/model'.")
    perms = list(dict.fromkeys(permissions))
    unknown = [p for p in perms if p not in PERMISSIONS]
    if unknown:
        raise ConfigError(f"unknown permission(s) {unknown}.", fix=f"Known: {', '.join(PERMISSIONS)}.")
    extra = dict(extra or {})
    check_extra_claims(extra)
    now = int(time.time() if now is None else now)
    claims: dict[str, Any] = {**extra, "iss": issuer, "aud": audience, "sub": owner, "iat": now,
                              "exp": now + int(lifetime), "jti": jti or uuid.uuid4().hex,
                              "scope": scopes, "perm": perms}
    if groups:
        claims["groups"] = list(groups)
    if global_id:
        claims["gid"] = global_id
    return claims


def sign(claims: Mapping[str, Any], key: Any, algorithm: str, *, kid: str | None = None) -> str:
    """Encode ``claims`` as a JWT with ``typ: JWT`` (and ``kid`` when given)."""
    import jwt

    headers = {"kid": kid} if kid else None
    return jwt.encode(dict(claims), key, algorithm=algorithm, headers=headers)
