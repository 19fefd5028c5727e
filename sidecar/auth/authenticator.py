"""``Authenticator``: the one object the dispatcher calls (authenticate, authorize, is_public).

Built once per process from the validated config (``from_config``); the request
path does no file reads, no config parsing and no imports (the JWKS source may
fetch, within its cache/cooldown/timeout limits; the revocation list is
``stat``-ed at most once per ``revocation_check_seconds``).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

from veneer.wrapper.errors import ConfigError, Unauthorized
from veneer.wrapper.settings import Config, ModelSpec

from . import scope as _scope
from .principal import Principal, principal_from_claims
from .reasons import TokenRejected
from .settings import AuthSettings, parse_settings

log = logging.getLogger("veneer.auth")

OFF_WARNING = ("auth is OFF (auth: none): every model is reachable without a token. "
               "Use this for local work only.")


class Authenticator:
    """Verifies bearer tokens and decides access; ``enabled`` is False for ``auth: none``."""

    def __init__(self, settings: AuthSettings | None, *, config: Config | None = None,
                 key_source: Any = None, denylist: Any = None) -> None:
        self.settings = settings
        self.enabled = settings is not None
        self.prefixes = dict(config.prefixes) if config is not None else {}
        self._server = config.server if config is not None else None
        #: called with the reason code of every refused request (metrics count them)
        self.observer: Callable[[str], None] | None = None
        #: called with "ok"/"error" after every JWKS fetch
        self.jwks_observer: Callable[[str], None] | None = None
        self.key_source = key_source
        self.denylist = denylist
        self._verifier = None
        if settings is not None:
            from .verify import Verifier

            if key_source is None:
                from .keys import make_key_source

                self.key_source = make_key_source(settings, on_fetch=self._on_fetch)
            if denylist is None and settings.revocation_file is not None:
                from .revocation import Denylist

                self.denylist = Denylist(settings.revocation_file, check_seconds=settings.revocation_check_seconds)
            self._verifier = Verifier(settings, self.key_source, self.denylist)
            from .cache import VerifiedCache

            self._cache = VerifiedCache()

    @classmethod
    def from_config(cls, config: Config, *, env: Mapping[str, str] | None = None) -> "Authenticator":
        """Build from a loaded config; ``config.auth`` None means ``auth: none`` (logged loudly)."""
        if config.auth is None:
            log.warning(OFF_WARNING)
            return cls(None, config=config)
        file = str(config.source) if config.source else None
        settings = parse_settings(config.auth, base_dir=config.base_dir, env=env, file=file)
        _check_unambiguous(config, file)
        return cls(settings, config=config)

    def update_config(self, config: Config) -> None:
        """Follow a reloaded config's prefix access lists (models come with each ``authorize`` call)."""
        self.prefixes = dict(config.prefixes)
        self._server = config.server

    # -- authentication ---------------------------------------------------
    def authenticate(self, headers: Mapping[str, str],
                     query: Mapping[str, str] | None = None) -> Principal | None:
        """The principal of the request's bearer token; None only when auth is off.

        Raises ``Unauthorized`` (401, ``code`` = reason, ``WWW-Authenticate`` set) or
        ``KeySourceUnavailable`` (503).
        """
        if not self.enabled:
            return None
        from .verify import extract_token

        try:
            token = extract_token(headers, query, self.settings)
            cache, verifier = self._cache, self._verifier
            digest = cache.digest(token)
            generation = self.key_source.generation()
            principal = cache.get(digest, generation=generation, now=verifier.wallclock(),
                                  leeway=self.settings.leeway)
            if principal is not None:
                if self.denylist is not None and self.denylist.is_revoked(principal.jti):
                    raise TokenRejected("revoked")
                return principal
            claims = verifier.verify(token)
            principal = principal_from_claims(claims)
            cache.put(digest, principal, exp=claims["exp"], generation=generation)
            return principal
        except TokenRejected as e:
            raise self._unauthorized(e) from None  # the cause may quote token-derived text
        except Exception as e:
            if getattr(e, "code", None) == "key_source_unavailable":
                self._count("key_source_unavailable")
            raise

    def _unauthorized(self, e: TokenRejected) -> Unauthorized:
        self._count(e.reason)
        log.debug("token refused: %s", e.reason)
        realm = self.settings.realm
        if e.reason == "missing":
            challenge = f'Bearer realm="{realm}"'  # RFC 6750 §3.1: no error code without credentials
        else:
            challenge = f'Bearer realm="{realm}", error="invalid_token", error_description="{e.description}"'
        return Unauthorized(f"Token refused: {e.description}", code=e.reason,
                            headers={"WWW-Authenticate": challenge})

    def _count(self, reason: str) -> None:
        if self.observer is not None:
            try:
                self.observer(reason)
            except Exception:
                log.exception("auth failure observer failed")

    def _on_fetch(self, result: str) -> None:
        if self.jwks_observer is not None:
            self.jwks_observer(result)

    # -- authorization ----------------------------------------------------
    def authorize(self, principal: Principal | None, *, prefix: str, model: str | None,
                  model_spec: ModelSpec | None, permission: str) -> None:
        """Raise ``Forbidden`` (403) unless ``principal`` may use ``permission`` on ``prefix/model``.

        ``model_spec`` None means the model is not served: 403 unless the token covers
        the whole prefix (then the caller answers 404). A no-op when auth is off.
        """
        if not self.enabled:
            if prefix:
                _scope.normalize_scope_path(prefix, model or None)  # still refuse '..' and friends
            return
        if principal is None:
            raise Unauthorized("Token refused: no principal.", code="missing",
                               headers={"WWW-Authenticate": f'Bearer realm="{self.settings.realm}"'})
        try:
            _scope.authorize(principal, prefix=prefix, model=model, model_spec=model_spec,
                             permission=permission, prefixes=self.prefixes,
                             accepted_gids=self.settings.accepted_global_ids,
                             require_gid=self.settings.require_global_id)
        except Exception as e:
            self._count(getattr(e, "code", "forbidden"))
            raise

    def authorize_deploy(self, principal: Principal | None, *, prefix: str, model: str,
                         model_spec: ModelSpec | None, custom_code: bool) -> None:
        """The admin API's check for registering a model: ``manage``, plus ``custom_code`` for code models."""
        self.authorize(principal, prefix=prefix, model=model, model_spec=model_spec, permission="manage")
        if custom_code:
            self.authorize(principal, prefix=prefix, model=model, model_spec=model_spec,
                           permission="custom_code")

    def is_public(self, route_kind: str) -> bool:
        """Whether ``route_kind`` ("health", "metrics", "docs:<prefix>") needs no token."""
        if not self.enabled:
            return True
        server = self._server
        if route_kind == "health":
            return self.settings.public_health and (server is None or server.public_health)
        if route_kind == "metrics":
            return self.settings.public_metrics and (server is None or server.public_metrics)
        if route_kind.startswith("docs:"):
            spec = self.prefixes.get(route_kind[len("docs:"):])
            return bool(spec is not None and spec.docs_public)
        return False

    def describe(self) -> dict[str, Any]:
        """A safe summary for ``/v2`` metadata and the start-up log (never a secret)."""
        if not self.enabled:
            return {"auth": "off", "warning": OFF_WARNING}
        s = self.settings
        out: dict[str, Any] = {
            "auth": "on", "issuer": list(s.issuers), "audience": list(s.audiences),
            "algorithms": list(s.algorithms), "leeway_seconds": s.leeway,
            "max_lifetime_seconds": s.max_lifetime_seconds, "required_claims": list(s.required_claims),
            "query_token": s.allow_query_token, "global_id": s.global_id,
            "trusted_global_ids": list(s.trusted_global_ids),
            "revocation": ({"file": str(s.revocation_file), "bound_seconds": s.revocation_check_seconds}
                           if s.revocation_file else None),
        }
        out.update(self.key_source.describe() if hasattr(self.key_source, "describe") else {})
        return out


def _check_unambiguous(config: Config, file: str | None) -> None:
    """A model ``p/m`` whose name is also a prefix would make scope ``p/m`` mean two things."""
    prefixes = set(config.prefixes) | {m.prefix for m in config.models}
    for m in config.models:
        if m.qualified_name in prefixes:
            raise ConfigError(f"model {m.qualified_name!r} has the same path as a prefix, so a token scope "
                              f"{m.qualified_name!r} would be ambiguous.", file=file,
                              path=f"models.{m.name}", fix="Rename the model or the prefix.")
