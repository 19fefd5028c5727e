"""Key sources: where the key that verifies a token comes from.

Three sources, one per config (``AuthSettings.key_source``):

- ``secret_env``: an HS shared secret (read once at start, at least 32 bytes);
- ``public_key_file``: one RSA or EC public key in PEM;
- ``jwks_url``: the issuer's JWKS endpoint (``jwks.JwksKeySource``).

Every source answers ``key_for(kid, alg)`` with a key PyJWT accepts; the
algorithm was already checked against the configured list, and the header's
``jku``/``x5u``/``jwk``/``x5c`` are never read (RFC 8725 §3.10: a token does
not get to name its own key).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Protocol

from veneer.wrapper.errors import ConfigError

_EC_ALG = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class KeySource(Protocol):
    """What the verifier asks for: the key for a token's ``kid`` and (allowed) ``alg``."""

    def key_for(self, kid: str | None, alg: str) -> Any:
        """A key object PyJWT verifies ``alg`` with; raises ``TokenRejected`` or ``KeySourceUnavailable``."""

    def describe(self) -> dict[str, Any]:
        """A safe summary (never secret material)."""

    def generation(self) -> Any:
        """An object identifying the current key material; None when it must be re-checked."""


class SecretKeySource:
    """An HS shared secret."""

    def __init__(self, secret: bytes, env_name: str) -> None:
        self._secret = secret
        self._env_name = env_name

    def key_for(self, kid: str | None, alg: str) -> bytes:
        """The secret (a ``kid`` is ignored: there is one)."""
        return self._secret

    def generation(self) -> Any:
        """The key material's identity (constant: a secret never changes while running)."""
        return self

    def describe(self) -> dict[str, Any]:
        """Names the variable, never its value."""
        return {"key_source": "secret_env", "secret_env": self._env_name}


class PublicKeySource:
    """One PEM public key loaded at start."""

    def __init__(self, key: Any, path: Path) -> None:
        self._key = key
        self._path = path

    def key_for(self, kid: str | None, alg: str) -> Any:
        """The key (a ``kid`` is ignored: there is one)."""
        return self._key

    def generation(self) -> Any:
        """The key material's identity (constant: the file is read once at start)."""
        return self

    def describe(self) -> dict[str, Any]:
        """Names the file."""
        return {"key_source": "public_key_file", "public_key_file": str(self._path)}


def load_public_key(path: Path, *, file: str | None = None) -> Any:
    """Load an RSA/EC/Ed25519 public key from PEM, refusing private keys and anything else."""
    from cryptography.hazmat.primitives import serialization

    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"public_key_file {str(path)!r} cannot be read: {e.strerror}.", file=file,
                          path="auth.public_key_file",
                          fix="Point it at the PEM public key (`veneer keys generate` writes public.pem).") from e
    if b"PRIVATE KEY" in data:
        raise ConfigError(f"public_key_file {str(path)!r} holds a PRIVATE key; the server needs only the "
                          "public half.", file=file, path="auth.public_key_file",
                          fix="Use public.pem and keep private.pem with whoever mints tokens.")
    try:
        return serialization.load_pem_public_key(data)
    except ValueError as e:
        raise ConfigError(f"public_key_file {str(path)!r} is not a PEM public key.", file=file,
                          path="auth.public_key_file",
                          fix="Expect '-----BEGIN PUBLIC KEY-----' (`veneer keys generate`).") from e


def algorithm_for_key(key: Any) -> str:
    """The natural algorithm of a public or private key: RS256, ES256/384/512 or EdDSA."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return "RS256"
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        try:
            return _EC_ALG[key.curve.name]
        except KeyError:
            raise ConfigError(f"EC curve {key.curve.name!r} is not supported.",
                              path="auth.public_key_file", fix="Use P-256 (ES256).") from None
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "EdDSA"
    raise ConfigError(f"unsupported key type {type(key).__name__}.", path="auth.public_key_file",
                      fix="Use an RSA (RS256) or EC P-256 (ES256) key.")


def check_key_matches(key: Any, algorithms: Iterable[str], *, file: str | None = None) -> None:
    """Refuse a config whose algorithms cannot be verified with ``key`` (e.g. RS256 with an EC key)."""
    from .settings import FAMILIES

    natural = algorithm_for_key(key)
    key_size = getattr(key, "key_size", None)
    if natural == "RS256" and key_size is not None and key_size < 2048:
        raise ConfigError(f"the RSA key in public_key_file has {key_size} bits; at least 2048 are needed.",
                          file=file, path="auth.public_key_file",
                          fix="Generate a new pair: `veneer keys generate --alg RS256`.")
    for alg in algorithms:
        ok = (FAMILIES[alg] == FAMILIES[natural]) and (FAMILIES[alg] != "EC" or alg == natural)
        if not ok:
            raise ConfigError(f"algorithm {alg} cannot be verified with the {natural} key in "
                              "public_key_file.", file=file, path="auth.algorithms",
                              fix=f"Use algorithms: [{natural}] or a matching key.")


def make_key_source(settings: Any, *, on_fetch: Any = None) -> KeySource:
    """The key source ``settings`` (an ``AuthSettings``) describes."""
    if settings.secret is not None:
        return SecretKeySource(settings.secret, settings.secret_env)
    if settings.public_key_file is not None:
        return PublicKeySource(load_public_key(settings.public_key_file), settings.public_key_file)
    from .jwks import JwksKeySource

    return JwksKeySource(settings.jwks_url, algorithms=settings.algorithms,
                         cache_seconds=settings.jwks_cache_seconds,
                         cooldown_seconds=settings.jwks_cooldown_seconds,
                         timeout_seconds=settings.jwks_timeout_seconds,
                         max_stale_seconds=settings.jwks_max_stale_seconds,
                         max_bytes=settings.jwks_max_bytes, on_fetch=on_fetch)
