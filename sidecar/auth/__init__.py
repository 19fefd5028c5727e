"""Access tokens in the sidecar: verification (PyJWT) and authorization (prefix/model scopes).

Token claims (what ``veneer token create`` mints and the verifier expects):

=========  ============================================================================
``iss``    issuer, compared exactly with ``auth.issuer`` (required)
``aud``    audience, string or list; must contain ``auth.audience`` (required)
``sub``    owner (user or service), matched against access lists' ``users`` (required)
``exp``    expiry, a number; ``exp - iat`` at most ``max_lifetime_seconds`` (required)
``iat``    issued at, a number, not in the future beyond the leeway (required)
``nbf``    optional not-before
``jti``    token id, required when ``revocation_file`` is set (``veneer token revoke``)
``scope``  list of ``"prefix"`` / ``"prefix/model"`` (an OAuth space-delimited string is
           accepted too); a prefix entry reaches models only with ``cascade_prefix_tokens``
``perm``   list of permissions: ``predict`` (implies ``metadata``), ``metadata``, ``manage``,
           ``custom_code``, ``pin``; unknown values are ignored, none means no access
``groups`` list of groups, matched against access lists' ``groups``
``gid``    global id: must equal ``global_id`` or be in ``trusted_global_ids``; never widens scope
=========  ============================================================================

Any other claim passes through to ``Principal.claims`` (and to adapters via
``batch.context["principal"]``); ``extra_claims`` and ``--claim`` cannot set the
reserved names above. The header's ``typ`` (and ``typ``/``token_use`` claims) must
be an access-token type; ``crit`` is refused; ``jku``/``x5u``/``jwk``/``x5c`` are
ignored. Tokens come only from ``Authorization: Bearer`` (the query string only
with ``allow_query_token``) and are never logged.
"""

from __future__ import annotations

from veneer.wrapper.errors import Forbidden as Forbidden
from veneer.wrapper.errors import KeySourceUnavailable as KeySourceUnavailable
from veneer.wrapper.errors import Unauthorized as Unauthorized

from .authenticator import Authenticator as Authenticator
from .principal import PERMISSIONS as PERMISSIONS
from .principal import Principal as Principal
from .reasons import ALL_REASONS as ALL_REASONS
from .reasons import FORBIDDEN as FORBIDDEN_REASONS
from .reasons import UNAUTHORIZED as UNAUTHORIZED_REASONS
from .scope import normalize_scope_path as normalize_scope_path
from .settings import AuthSettings as AuthSettings

__all__ = ["ALL_REASONS", "Authenticator", "AuthSettings", "FORBIDDEN_REASONS", "Forbidden", "KeySourceUnavailable",
           "PERMISSIONS", "Principal", "UNAUTHORIZED_REASONS", "Unauthorized", "normalize_scope_path"]
