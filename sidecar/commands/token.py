"""Mint, inspect and revoke access tokens (create | inspect | revoke).

``veneer token create --owner alice --prefix risk --model churn`` prints a token
signed with the configured key (HS: the secret in ``auth.secret_env``; RS/ES:
``--private-key``), and nothing else on stdout, so ``TOKEN=$(veneer token create ...)``
works. ``veneer token inspect TOKEN`` shows the header and claims and whether this
server would accept the token, and why not. ``veneer token revoke JTI`` (or the
token itself) adds it to ``auth.revocation_file``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from veneer.wrapper.errors import ConfigError, VeneerError


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the create / inspect / revoke subcommands."""
    sub = parser.add_subparsers(dest="token_command", metavar="{create,inspect,revoke}")
    sub.required = True

    create = sub.add_parser("create", help="print a new signed token")
    create.add_argument("--owner", required=True, help="the token's subject (sub): a user or service")
    create.add_argument("--prefix", help="prefix the token reaches (e.g. risk)")
    create.add_argument("--model", action="append", default=[],
                        help="limit the token to this model of --prefix (repeatable)")
    create.add_argument("--scope", action="append", default=[],
                        help="extra scope entry 'prefix' or 'prefix/model' (repeatable)")
    create.add_argument("--permission", action="append", default=[],
                        help="predict (default), metadata, manage, custom_code, pin (repeatable)")
    create.add_argument("--group", action="append", default=[], help="group claim value (repeatable)")
    create.add_argument("--expires", default=None,
                        help="lifetime, e.g. 30d, 12h, 15m (default 30d, capped at auth.max_lifetime_seconds)")
    create.add_argument("--claim", action="append", default=[],
                        help="extra claim key=value; value is JSON or a plain string (repeatable)")
    create.add_argument("--global-id", help="gid claim: the global id the token is minted for")
    create.add_argument("--private-key", help="PEM private key for RS*/ES* configs "
                                              "(default: $VENEER_JWT_PRIVATE_KEY)")
    create.add_argument("--kid", help="key id header (default: the key's RFC 7638 thumbprint)")
    _config_arg(create)

    inspect = sub.add_parser("inspect", help="show a token's claims and whether this server accepts it")
    inspect.add_argument("token", help="the token, or - to read it from stdin")
    _config_arg(inspect)

    revoke = sub.add_parser("revoke", help="refuse a token from now on (needs auth.revocation_file)")
    revoke.add_argument("jti", help="the token's jti, or the token itself, or - for stdin")
    revoke.add_argument("--until", type=float, default=None,
                        help="Unix time after which the entry may be dropped (default: the token's exp, "
                             "or now + max_lifetime_seconds)")
    _config_arg(revoke)


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="veneer.yaml (default: ./veneer.yaml)")


def run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; 0 on success, 1 when refused, 2 on bad input."""
    try:
        return {"create": _create, "inspect": _inspect, "revoke": _revoke}[args.token_command](args)
    except VeneerError as e:
        print(f"veneer token: {e}", file=sys.stderr)
        return 2


def _settings(path: str | None, *, required: bool = True):
    from veneer.sidecar.auth.settings import parse_settings

    file = Path(path) if path else Path("veneer.yaml")
    if not file.exists():
        if required or path:
            raise ConfigError(f"config file {str(file)!r} does not exist.", fix="Pass --config veneer.yaml.")
        return None, None
    from veneer.wrapper.config import load_config

    config = load_config(file)
    if config.auth is None:
        if required:
            raise ConfigError("auth is off in this config (auth: none): there is no key to sign with.",
                              file=str(file), path="auth", fix="Configure an auth section first.")
        return None, config
    return parse_settings(config.auth, base_dir=config.base_dir, file=str(file)), config


def _signing_key(settings: Any, args: argparse.Namespace) -> tuple[Any, str, str | None]:
    if settings.family == "HS":
        return settings.secret, settings.algorithms[0], args.kid
    path = args.private_key or os.environ.get("VENEER_JWT_PRIVATE_KEY")
    if not path:
        raise ConfigError(f"{settings.algorithms[0]} tokens are signed with a private key.",
                          fix="Pass --private-key private.pem (from `veneer keys generate`).")
    from cryptography.hazmat.primitives import serialization

    from veneer.sidecar.auth.keys import algorithm_for_key
    from veneer.sidecar.auth.tokens import key_id

    try:
        private = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError(f"private key {path!r} cannot be loaded: {type(e).__name__}.",
                          fix="Pass an unencrypted PEM private key.") from e
    alg = algorithm_for_key(private)
    alg = alg if alg in settings.algorithms else settings.algorithms[0]
    if settings.public_key_file is not None:
        from veneer.sidecar.auth.keys import load_public_key

        configured = load_public_key(settings.public_key_file)
        if configured.public_numbers() != private.public_key().public_numbers():
            raise ConfigError(f"private key {path!r} is not the pair of {str(settings.public_key_file)!r}; "
                              "its tokens would not verify.", fix="Use the matching private.pem.")
    return private, alg, args.kid or key_id(private.public_key())


def _create(args: argparse.Namespace) -> int:
    from veneer.sidecar.auth.tokens import build_claims, parse_claim, parse_duration, sign

    settings, _ = _settings(args.config)
    if args.model and not args.prefix:
        raise ConfigError("--model needs --prefix.", fix="Pass --prefix risk --model churn.")
    scopes = [f"{args.prefix}/{m}" for m in args.model] or ([args.prefix] if args.prefix else [])
    scopes += args.scope
    if args.expires is None:
        lifetime = min(parse_duration("30d"), settings.max_lifetime_seconds)
    else:
        lifetime = parse_duration(args.expires)
    if lifetime > settings.max_lifetime_seconds:
        raise ConfigError(f"--expires {args.expires} exceeds auth.max_lifetime_seconds "
                          f"({settings.max_lifetime_seconds}s); the server would refuse the token.")
    extra = dict(settings.extra_claims)
    extra.update(parse_claim(c) for c in args.claim)
    claims = build_claims(issuer=settings.issuers[0], audience=settings.audiences[0], owner=args.owner,
                          scopes=scopes, permissions=args.permission or ["predict"], lifetime=lifetime,
                          groups=args.group, extra=extra,
                          # a global-only deployment refuses gid-less tokens: mint for its own id
                          global_id=args.global_id or (settings.global_id if settings.require_global_id else None))
    key, alg, kid = _signing_key(settings, args)
    print(sign(claims, key, alg, kid=kid))
    print(f"token for {args.owner}: scope {scopes}, permissions {claims['perm']}, jti {claims['jti']}, "
          f"expires {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime(claims['exp']))}", file=sys.stderr)
    return 0


def _read_token(value: str) -> str:
    return sys.stdin.readline().strip() if value == "-" else value.strip()


def _inspect(args: argparse.Namespace) -> int:
    from veneer.sidecar.auth import Authenticator
    from veneer.sidecar.auth.reasons import TokenRejected
    from veneer.sidecar.auth.verify import split_token

    token = _read_token(args.token)
    try:
        header, claims = split_token(token)
    except TokenRejected as e:
        print(json.dumps({"accepted": False, "reason": e.reason, "description": e.description}, indent=2))
        return 1
    report: dict[str, Any] = {"header": header, "claims": claims}
    for name in ("iat", "exp", "nbf"):
        if isinstance(claims.get(name), (int, float)) and not isinstance(claims[name], bool):
            try:
                report[f"{name}_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims[name]))
            except (OverflowError, ValueError, OSError):
                report[f"{name}_utc"] = "out of range"
    settings, config = _settings(args.config, required=False)
    code = 0
    if config is None:
        report["accepted"] = None
        report["note"] = "no config given: the signature and claims were not checked"
    else:
        auth = Authenticator.from_config(config)
        try:
            principal = auth.authenticate({"Authorization": f"Bearer {token}"})
            report["accepted"] = True
            if principal is not None:
                report["scopes"], report["permissions"] = list(principal.scopes), sorted(principal.permissions)
        except VeneerError as e:
            report.update(accepted=False, reason=e.code, description=e.message)
            code = 1
    print(json.dumps(report, indent=2, default=str))
    return code


def _revoke(args: argparse.Namespace) -> int:
    from veneer.sidecar.auth.reasons import TokenRejected
    from veneer.sidecar.auth.revocation import revoke
    from veneer.sidecar.auth.verify import split_token

    settings, _ = _settings(args.config)
    if settings.revocation_file is None:
        raise ConfigError("auth.revocation_file is not set, so nothing can be revoked.",
                          path="auth.revocation_file", fix="Set revocation_file: revoked.json and restart.")
    value = _read_token(args.jti)
    until = args.until
    if value.count(".") == 2:  # a whole token: take its jti and exp
        try:
            _, claims = split_token(value)
        except TokenRejected as e:
            raise ConfigError(f"the token cannot be read ({e.reason}).") from None
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise ConfigError("the token has no jti, so it cannot be revoked by id.")
        exp = claims.get("exp")
        if until is None and isinstance(exp, (int, float)) and not isinstance(exp, bool):
            until = float(exp) + settings.leeway
    else:
        jti = value
    if until is None:
        until = time.time() + settings.max_lifetime_seconds + settings.leeway
    count = revoke(settings.revocation_file, jti, until)
    print(f"revoked jti {jti} (entry kept until {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime(until))}); "
          f"every worker refuses it within {settings.revocation_check_seconds:g}s. "
          f"{count} live entr{'y' if count == 1 else 'ies'} in {settings.revocation_file}.")
    return 0
