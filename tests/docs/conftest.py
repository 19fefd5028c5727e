"""Configs with toy models for the API docs tests (auth off, and auth on with a public and a private prefix)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import jwt
import pytest

from veneer.sidecar.protocols.docs import INSTALL_HINT, asset_files

TOY = "tests.fixtures.toy_adapters"
ISSUER = "https://idp.example.com"
SECRET = "docs-test-secret-0123456789abcdef-xyz"  # 37 bytes: HS256 needs at least 32
ENV = {"VENEER_JWT_SECRET": SECRET}


def write_config(folder: Path, *, auth: bool, query_token: bool = False) -> Path:
    """``risk`` (docs public) with ``sum`` v1/v2 and a broken draft v3; ``emea/credit`` with private docs."""
    auth_block = (f"auth: {{issuer: {ISSUER}, audience: veneer, secret_env: VENEER_JWT_SECRET, "
                  f"allow_query_token: {str(query_token).lower()}}}" if auth else "auth: none")
    path = folder / "veneer.yaml"
    path.write_text(f"""
prefix: risk
{auth_block}
registry: {{enabled: false}}
server: {{access_log: false, max_rows: 500, state_dir: {folder / 'state'}}}
prefixes:
  risk: {{docs_public: true}}
  emea/credit: {{docs_public: false}}
models:
  sum:
    description: Adds up the numbers of each row.
    versions:
      - {{version: "1", adapter: "{TOY}:SumAdapter", stage: production, weight: 90}}
      - {{version: "2", adapter: "{TOY}:SumAdapter", stage: staging, weight: 10,
          options: {{offset: 1000, marker: "{folder / 'secret-marker-file'}"}}}}
      - {{version: "3", adapter: "{TOY}:FailingAdapter", draft: true}}
  limit:
    prefix: emea/credit
    versions:
      - {{version: "1", adapter: "{TOY}:SumAdapter", stage: production}}
""")
    return path


def token(scope: list[str], perm: list[str], **over) -> str:
    """An HS256 token the configs above accept."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "veneer", "sub": "docs-reader", "iat": now, "exp": now + 600,
              "jti": uuid.uuid4().hex, "scope": scope, "perm": perm, **over}
    return jwt.encode(claims, SECRET, algorithm="HS256")


needs_assets = pytest.mark.skipif(asset_files() is None,
                                  reason=f"the Swagger UI / ReDoc files are not installed ({INSTALL_HINT})")
