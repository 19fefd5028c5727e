"""Generate a signing key pair (RS256, ES256) or an HS256 shared secret.

``veneer keys generate --alg RS256 --out keys/`` writes ``private.pem`` (mode 0600,
for whoever mints tokens), ``public.pem`` (for ``auth.public_key_file``) and
``jwks.json`` (to publish as ``auth.jwks_url``; ``kid`` is the RFC 7638 thumbprint,
the same one ``veneer token create`` puts in the header). ``--alg HS256`` writes a
random 48-byte ``secret`` (0600) to export as the ``auth.secret_env`` variable.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

_FILES = {"HS256": ("secret",), "RS256": ("private.pem", "public.pem", "jwks.json"),
          "ES256": ("private.pem", "public.pem", "jwks.json")}


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``generate`` subcommand."""
    sub = parser.add_subparsers(dest="keys_command", metavar="{generate}")
    sub.required = True
    gen = sub.add_parser("generate", help="write a new key pair (or HS secret) to a folder")
    gen.add_argument("--alg", choices=sorted(_FILES), default="RS256", help="algorithm (default RS256)")
    gen.add_argument("--out", required=True, help="folder to write the files to (created if missing)")
    gen.add_argument("--bits", type=int, default=3072, help="RSA key size (default 3072, at least 2048)")
    gen.add_argument("--force", action="store_true", help="overwrite existing files")


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)  # O_CREAT's mode does not apply to an existing file


def run(args: argparse.Namespace) -> int:
    """Write the files; 0 on success, 2 when they exist (without --force) or the input is bad."""
    out = Path(args.out)
    targets = [out / name for name in _FILES[args.alg]]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not args.force:
        print(f"veneer keys: refusing to overwrite {', '.join(existing)}; pass --force.", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    if args.alg == "HS256":
        _write(out / "secret", secrets.token_urlsafe(48).encode(), 0o600)
        print(f"wrote {out / 'secret'} (0600). Serve with:\n"
              f"  export VENEER_JWT_SECRET=\"$(cat {out / 'secret'})\"\n"
              "  auth: {issuer: ..., secret_env: VENEER_JWT_SECRET}")
        return 0
    if args.bits < 2048:
        print("veneer keys: --bits must be at least 2048.", file=sys.stderr)
        return 2
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    from veneer.sidecar.auth.tokens import key_id

    if args.alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=args.bits)
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    kid = key_id(private.public_key())
    jwk.update(kid=kid, alg=args.alg, use="sig")
    _write(out / "private.pem", private.private_bytes(serialization.Encoding.PEM,
                                                      serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()), 0o600)
    _write(out / "public.pem", private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
    _write(out / "jwks.json", json.dumps({"keys": [jwk]}, indent=2).encode(), 0o644)
    print(f"wrote {out / 'private.pem'} (0600, keep it with whoever mints tokens), {out / 'public.pem'} and "
          f"{out / 'jwks.json'}; kid {kid}.\n"
          f"  auth: {{issuer: ..., public_key_file: {out / 'public.pem'}}}\n"
          f"  veneer token create --private-key {out / 'private.pem'} --owner ... --prefix ...")
    return 0
