"""Reason codes of refused tokens and requests, with a fixed public description each.

Descriptions are constant strings: nothing from the token (let alone the token)
ever reaches a message, a header, a log line or a metric label.
"""

from __future__ import annotations

#: 401 reasons (``Unauthorized.code``)
UNAUTHORIZED = {
    "missing": "No bearer token: send 'Authorization: Bearer <token>'.",
    "multiple_tokens": "The token was sent more than once (header and query); send it once.",
    "malformed": "The bearer value is not a well-formed JWT (three base64url segments).",
    "too_large": "The token is larger than the accepted maximum.",
    "bad_algorithm": "The token's algorithm is not the one this server accepts for its key.",
    "crit_unsupported": "The token has critical header extensions ('crit') this server does not support.",
    "bad_type": "The token is not an access token (typ / token_use); refresh and ID tokens are refused.",
    "bad_kid": "The token's key id ('kid') is not a short string.",
    "unknown_key": "No key with the token's key id is published by the issuer.",
    "bad_signature": "The token's signature does not verify.",
    "expired": "The token has expired.",
    "immature": "The token is not valid yet (nbf / iat in the future).",
    "missing_claim": "The token lacks a required claim.",
    "bad_claim": "A claim of the token has the wrong type or value.",
    "bad_issuer": "The token was issued by an issuer this server does not trust.",
    "bad_audience": "The token is not meant for this server (aud).",
    "lifetime_exceeded": "The token lives longer than the accepted maximum (exp - iat).",
    "revoked": "The token has been revoked.",
}

#: 403 reasons (``Forbidden.code``)
FORBIDDEN = {
    "out_of_scope": "The token's scope does not include this prefix or model.",
    "cascade_off": "A prefix token does not reach this model (cascade_prefix_tokens is off); "
                   "ask for a model token.",
    "no_permission": "The token lacks the permission this route needs.",
    "not_in_access_list": "The token's user and groups are not on this prefix's or model's access list.",
    "untrusted_global_id": "The token's global id (gid) is not trusted by this deployment.",
    "global_id_required": "This deployment only accepts tokens carrying a global id (gid).",
}

#: every reason code an auth failure may carry (metrics label values)
ALL_REASONS = frozenset(UNAUTHORIZED) | frozenset(FORBIDDEN) | {"key_source_unavailable", "bad_path"}

#: key source trouble (503)
UNAVAILABLE = "The token keys cannot be fetched and no usable copy is cached; retry shortly."


class TokenRejected(Exception):
    """Internal: a token check failed with ``reason`` (mapped to ``Unauthorized`` by the authenticator)."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        assert reason in UNAUTHORIZED, reason
        super().__init__(reason)
        self.reason = reason
        #: extra safe detail (a claim name, an algorithm name), never token data
        self.detail = detail

    @property
    def description(self) -> str:
        """The public description, plus the safe detail."""
        text = UNAUTHORIZED[self.reason]
        return f"{text} ({self.detail})" if self.detail else text
