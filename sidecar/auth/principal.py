"""``Principal``: who a verified token says the caller is, and what it may do.

Permissions a token may carry in its ``perm`` claim:

- ``predict``: call the model (any protocol); implies ``metadata`` for the same scope,
  because a client that may score a model needs its input/output description;
- ``metadata``: read model metadata and docs only (``GET`` metadata, ``?get_meta=true``);
- ``manage``: the admin API (weights, stages, versions); does **not** imply ``predict``;
- ``custom_code``: may deploy models that run Python code (pyfunc with code, python adapter);
  checked on top of ``manage``;
- ``pin``: may pin a version outside the traffic set with a header (``manage`` implies it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

PERMISSIONS = ("predict", "metadata", "manage", "custom_code", "pin")

#: permission asked for -> permissions in a token that satisfy it
SATISFIED_BY: Mapping[str, frozenset[str]] = MappingProxyType({
    "predict": frozenset({"predict"}),
    "metadata": frozenset({"metadata", "predict", "manage"}),
    "manage": frozenset({"manage"}),
    "custom_code": frozenset({"custom_code"}),
    "pin": frozenset({"pin", "manage"}),
})


@dataclass(frozen=True)
class Principal:
    """The verified identity behind a request (built only from a token that passed every check)."""

    sub: str
    groups: tuple[str, ...] = ()
    permissions: frozenset[str] = frozenset()
    #: "prefix" or "prefix/model" entries, normalised (no empty, "." or ".." segments)
    scopes: tuple[str, ...] = ()
    gid: str | None = None
    jti: str | None = None
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    def has(self, permission: str) -> bool:
        """True when the token's permissions satisfy ``permission`` (see ``SATISFIED_BY``)."""
        return bool(SATISFIED_BY.get(permission, frozenset({permission})) & self.permissions)


def _str_list(claims: Mapping[str, Any], name: str, *, split_string: bool = False) -> tuple[str, ...]:
    from .reasons import TokenRejected

    value = claims.get(name)
    if value is None:
        return ()
    if isinstance(value, str) and split_string:
        value = value.split()  # OAuth style: space-delimited (RFC 9068)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TokenRejected("bad_claim", f"{name} must be a list of strings")
    return tuple(value)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Build the principal of verified ``claims`` (raises ``TokenRejected`` for ill-typed veneer claims)."""
    from .reasons import TokenRejected
    from .scope import split_segments

    scopes = []
    for entry in _str_list(claims, "scope", split_string=True):
        if split_segments(entry) is None:
            raise TokenRejected("bad_claim", "scope entries are 'prefix' or 'prefix/model'")
        scopes.append(entry)
    gid = claims.get("gid")
    if gid is not None and (not isinstance(gid, str) or not gid):
        raise TokenRejected("bad_claim", "gid must be a string")
    return Principal(sub=claims["sub"], groups=_str_list(claims, "groups"),
                     permissions=frozenset(_str_list(claims, "perm")) & frozenset(PERMISSIONS),
                     scopes=tuple(scopes), gid=gid, jti=claims.get("jti"),
                     claims=MappingProxyType(dict(claims)))
