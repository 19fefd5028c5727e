"""``AuthSettings``: the validated ``auth:`` section, with the rules JSON Schema cannot say.

Checked once at start (never per request), each failure a ``ConfigError`` naming
the key: one algorithm family per issuer (no HS mixed with RS/ES, no ``none``),
exactly one key source, an HS secret of at least 32 bytes, leeway at most 300 s,
an audience, and extra claims that do not touch reserved ones.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from veneer.wrapper.errors import ConfigError
from veneer.wrapper.schema.auth import AUTH_OBJECT, BASE_REQUIRED_CLAIMS, RESERVED_CLAIMS

MIN_SECRET_BYTES = 32
# PyJWT's enforce_minimum_key_length: an HMAC key at least as long as the digest
_HS_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
MAX_LEEWAY = 300

#: algorithm -> family; a config's algorithms must all share one family
FAMILIES = {**{f"HS{n}": "HS" for n in (256, 384, 512)},
            **{f"{p}{n}": "RSA" for p in ("RS", "PS") for n in (256, 384, 512)},
            **{f"ES{n}": "EC" for n in (256, 384, 512)}, "EdDSA": "OKP"}


@dataclass(frozen=True)
class AuthSettings:
    """Everything the verifier needs, resolved (paths absolute, secret read, defaults filled)."""

    issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...]
    family: str
    secret: bytes | None = field(default=None, repr=False)
    secret_env: str | None = None
    public_key_file: Path | None = None
    jwks_url: str | None = None
    jwks_cache_seconds: float = 300
    jwks_cooldown_seconds: float = 30
    jwks_timeout_seconds: float = 2
    jwks_max_stale_seconds: float = 3600
    jwks_max_bytes: int = 1 << 20
    leeway: float = 30
    max_lifetime_seconds: int = 7776000
    required_claims: tuple[str, ...] = tuple(BASE_REQUIRED_CLAIMS)
    token_types: frozenset[str] = frozenset()
    allow_query_token: bool = False
    query_token_param: str = "access_token"
    revocation_file: Path | None = None
    revocation_check_seconds: float = 1.0
    global_id: str | None = None
    trusted_global_ids: tuple[str, ...] = ()
    require_global_id: bool = False
    extra_claims: Mapping[str, Any] = field(default_factory=dict)
    public_health: bool = True
    public_metrics: bool = True
    realm: str = "veneer"

    @property
    def key_source(self) -> str:
        """Which key source is configured: secret_env, public_key_file or jwks_url."""
        if self.secret_env:
            return "secret_env"
        return "public_key_file" if self.public_key_file else "jwks_url"

    @property
    def accepted_global_ids(self) -> frozenset[str]:
        """``global_id`` plus ``trusted_global_ids``."""
        return frozenset(((self.global_id,) if self.global_id else ()) + self.trusted_global_ids)


def with_defaults(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with every omitted key filled from the schema's defaults."""
    out = dict(raw)
    for name, prop in AUTH_OBJECT["properties"].items():
        if name not in out and "default" in prop:
            out[name] = copy.deepcopy(prop["default"])
    return out


def parse_settings(raw: Mapping[str, Any], *, base_dir: Path | None = None,
                   env: Mapping[str, str] | None = None, file: str | None = None) -> AuthSettings:
    """Validate the ``auth:`` mapping and build ``AuthSettings`` (raises ``ConfigError``)."""
    env = os.environ if env is None else env
    base_dir = base_dir or Path.cwd()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"'auth' must be 'none' or a mapping, not {raw!r}.", file=file, path="auth",
                          fix="Write 'auth: none' to switch tokens off, or give issuer and a key source.")
    _check_early(raw, file)
    _schema_check(raw, file)
    data = with_defaults(raw)

    sources = [k for k in ("secret_env", "public_key_file", "jwks_url") if data.get(k)]
    if len(sources) != 1:
        found = ", ".join(sources) or "none"
        raise ConfigError(f"exactly one key source is needed; found: {found}.", file=file, path="auth",
                          fix="Set one of secret_env (HS256), public_key_file or jwks_url (RS256/ES256).")

    public_key = None
    secret = None
    pkf = None
    if data["public_key_file"]:
        pkf = Path(data["public_key_file"])
        pkf = pkf if pkf.is_absolute() else (base_dir / pkf)
        from .keys import load_public_key  # cryptography only when a key file is used
        public_key = load_public_key(pkf, file=file)
    if data["secret_env"]:
        secret = _read_secret(data["secret_env"], env, file)

    algorithms = _algorithms(data, public_key, file)
    family = FAMILIES[algorithms[0]]
    if family == "HS" and not data["secret_env"]:
        raise ConfigError(f"algorithms {list(algorithms)} need a shared secret (secret_env).", file=file,
                          path="auth.algorithms",
                          fix="Use RS256/ES256 with public_key_file or jwks_url, or set secret_env.")
    if family == "HS" and secret is not None:
        needed = max(_HS_MIN_BYTES[a] for a in algorithms)
        if len(secret) < needed:
            raise ConfigError(f"{'/'.join(algorithms)} needs a secret of at least {needed} bytes; the one in "
                              f"{data['secret_env']} is {len(secret)}.", file=file, path="auth.secret_env",
                              fix="Use a longer random secret, or HS256.")
    if family != "HS" and data["secret_env"]:
        raise ConfigError(f"algorithms {list(algorithms)} are asymmetric but the key source is a shared "
                          "secret.", file=file, path="auth.algorithms",
                          fix="Use algorithms: [HS256] with secret_env.")

    revocation = data["revocation_file"]
    if revocation:
        revocation = Path(revocation)
        revocation = revocation if revocation.is_absolute() else base_dir / revocation
    required = tuple(dict.fromkeys([*BASE_REQUIRED_CLAIMS, *data["required_claims"],
                                    *(["jti"] if revocation else [])]))
    issuers = (data["issuer"],) if isinstance(data["issuer"], str) else tuple(data["issuer"])
    audience = data["audience"]
    audiences = (audience,) if isinstance(audience, str) else tuple(audience or ())
    if not audiences:
        raise ConfigError("'audience' is missing or empty.", file=file, path="auth.audience",
                          fix="Set the audience your tokens carry in 'aud' (e.g. audience: veneer).")
    return AuthSettings(
        issuers=issuers, audiences=audiences, algorithms=algorithms, family=family,
        secret=secret, secret_env=data["secret_env"], public_key_file=pkf, jwks_url=data["jwks_url"],
        jwks_cache_seconds=data["jwks_cache_seconds"], jwks_cooldown_seconds=data["jwks_cooldown_seconds"],
        jwks_timeout_seconds=data["jwks_timeout_seconds"],
        jwks_max_stale_seconds=data["jwks_max_stale_seconds"], jwks_max_bytes=data["jwks_max_bytes"],
        leeway=data["leeway"], max_lifetime_seconds=data["max_lifetime_seconds"], required_claims=required,
        token_types=frozenset(t.lower() for t in data["token_types"]),
        allow_query_token=data["allow_query_token"], query_token_param=data["query_token_param"],
        revocation_file=revocation, revocation_check_seconds=data["revocation_check_seconds"],
        global_id=data["global_id"], trusted_global_ids=tuple(data["trusted_global_ids"]),
        require_global_id=data["require_global_id"], extra_claims=dict(data["extra_claims"]),
        public_health=data["public_health"], public_metrics=data["public_metrics"], realm=data["realm"])


def _check_early(raw: Mapping[str, Any], file: str | None) -> None:
    """The checks whose message is clearer than the generic schema error."""
    algs = raw.get("algorithms")
    if isinstance(algs, list):
        if not algs:
            raise ConfigError("'algorithms' is empty: no token could ever verify.", file=file,
                              path="auth.algorithms", fix="List one family, e.g. [RS256] or [HS256].")
        if any(isinstance(a, str) and a.lower() == "none" for a in algs):
            raise ConfigError("algorithm 'none' accepts unsigned tokens and is never allowed.", file=file,
                              path="auth.algorithms", fix="Remove 'none'.")
    leeway = raw.get("leeway")
    if isinstance(leeway, (int, float)) and not isinstance(leeway, bool) and not 0 <= leeway <= MAX_LEEWAY:
        raise ConfigError(f"leeway {leeway!r} is outside 0..{MAX_LEEWAY} seconds.", file=file,
                          path="auth.leeway", fix="Fix the clocks (NTP) instead; 30 is the default.")
    if "audience" in raw and not raw["audience"]:
        raise ConfigError("'audience' is missing or empty.", file=file, path="auth.audience",
                          fix="Set the audience your tokens carry in 'aud' (e.g. audience: veneer).")
    extra = raw.get("extra_claims")
    if isinstance(extra, Mapping):
        clash = sorted(set(extra) & set(RESERVED_CLAIMS))
        if clash:
            raise ConfigError(f"extra_claims may not set reserved claims {clash}.", file=file,
                              path=f"auth.extra_claims.{clash[0]}",
                              fix="Rename the claim; reserved: " + ", ".join(RESERVED_CLAIMS) + ".")


def _schema_check(raw: Mapping[str, Any], file: str | None) -> None:
    import jsonschema  # start-up only; keeps `import veneer.sidecar.auth` light

    validator = jsonschema.Draft202012Validator(AUTH_OBJECT)
    errors = sorted(validator.iter_errors(dict(raw)), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        path = ".".join(["auth", *map(str, err.absolute_path)])
        raise ConfigError(err.message, file=file, path=path)


def _read_secret(name: str, env: Mapping[str, str], file: str | None) -> bytes:
    value = env.get(name)
    if value is None:
        raise ConfigError(f"environment variable {name} (auth.secret_env) is not set.", file=file,
                          path="auth.secret_env",
                          fix=f"Export {name} with a random secret of at least {MIN_SECRET_BYTES} bytes "
                              "(`veneer keys generate --alg HS256` makes one).")
    secret = value.encode("utf-8")
    if len(secret) < MIN_SECRET_BYTES:
        # the length is safe to say; the value never is
        raise ConfigError(f"the secret in {name} is {len(secret)} bytes; at least {MIN_SECRET_BYTES} "
                          "are needed.", file=file, path="auth.secret_env",
                          fix="Use a longer random secret (`veneer keys generate --alg HS256`).")
    return secret


def _algorithms(data: Mapping[str, Any], public_key: Any, file: str | None) -> tuple[str, ...]:
    algs = data["algorithms"]
    if algs is None:
        if data["secret_env"]:
            return ("HS256",)
        if public_key is not None:
            from .keys import algorithm_for_key, check_key_matches

            natural = (algorithm_for_key(public_key),)
            check_key_matches(public_key, natural, file=file)
            return natural
        return ("RS256",)
    algs = tuple(dict.fromkeys(algs))
    families = sorted({FAMILIES[a] for a in algs})
    if len(families) > 1:
        raise ConfigError(f"algorithms {list(algs)} mix families {families}: one issuer uses one family "
                          "(mixing HS and RS lets a public key be used as an HMAC secret).", file=file,
                          path="auth.algorithms", fix="Keep only one family, e.g. [RS256].")
    if public_key is not None:
        from .keys import check_key_matches
        check_key_matches(public_key, algs, file=file)
    return algs
