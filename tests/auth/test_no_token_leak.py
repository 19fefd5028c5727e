"""CASES.md A.26: no token (``eyJ``...) and no Authorization value in logs, errors or headers."""

from __future__ import annotations

import logging
import time

import jwt
import pytest

from veneer.sidecar.auth import Forbidden, KeySourceUnavailable, Unauthorized
from veneer.sidecar.auth.revocation import revoke

from .conftest import DROP, bearer, claims, hs_token, make_auth
from tests.helpers.server import free_port


def test_no_token_anywhere_across_every_failure(tmp_path, caplog, rsa_key):
    caplog.set_level(logging.DEBUG)  # every logger, every level
    revoked_file = tmp_path / "revoked.json"
    auth = make_auth(revocation_file=str(revoked_file))
    revoke(revoked_file, "gone", time.time() + 600)
    now = int(time.time())
    tokens = [hs_token(), hs_token(exp=now - 100, iat=now - 200), hs_token(aud="x"), hs_token(iss="evil"),
              hs_token(jti="gone"), hs_token(sub=DROP), hs_token(secret="wrong-secret-wrong-secret-wrong-secret"),
              hs_token(exp=2 ** 62), hs_token(headers={"crit": ["x"]}), hs_token(headers={"typ": "refresh"}),
              hs_token(pad="x" * 9000), hs_token()[:-1] + "=", hs_token().replace(".", "..", 1)]
    errors = []
    for token in tokens:
        for headers in (bearer(token), {"Authorization": f"Basic {token}"}, {"authorization": f"bearer  {token}"}):
            try:
                principal = auth.authenticate(headers)
                auth.authorize(principal, prefix="finance", model="x", model_spec=None, permission="manage")
            except (Unauthorized, Forbidden) as e:
                errors.append((token, e))
    jwks = make_auth(jwks_url=f"http://127.0.0.1:{free_port()}/jwks.json", jwks_timeout_seconds=1)
    rs = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(KeySourceUnavailable) as info:
        jwks.authenticate(bearer(rs))
    errors.append((rs, info.value))

    assert len(errors) >= 3 * len(tokens)
    for token, e in errors:
        rendered = " ".join([str(e), repr(e), repr(e.to_dict()), repr(e.headers)])
        assert token not in rendered and "eyJ" not in rendered
        if isinstance(e, Unauthorized):
            assert e.__cause__ is None and e.__suppress_context__  # no chained PyJWT text either
    assert caplog.records, "expected some auth log lines (refusals at DEBUG, JWKS failure at WARNING)"
    assert "eyJ" not in caplog.text
    assert "Bearer " not in caplog.text and "Basic " not in caplog.text
