"""CASES.md A.6, A.18-A.23: a JWKS key source against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import time

import jwt
import pytest

from veneer.sidecar.auth import KeySourceUnavailable
from veneer.sidecar.auth.jwks import JwksKeySource
from veneer.wrapper.settings import Config

from .conftest import FakeClock, JwksServer, bearer, claims, jwk_of, make_auth, refused
from tests.helpers.server import free_port


def rs_token(key, kid="k1", alg="RS256", **over):
    return jwt.encode(claims(**over), key, algorithm=alg, headers={"kid": kid} if kid else None)


def jwks_auth(url, clock=None, fetches=None, **opts):
    """An Authenticator on ``url``; ``clock`` drives the cache, ``fetches`` collects ok/error."""
    settings = dict(jwks_cache_seconds=60, jwks_cooldown_seconds=10, jwks_timeout_seconds=1,
                    jwks_max_stale_seconds=120, jwks_max_bytes=64 * 1024)
    settings.update(opts)
    source = JwksKeySource(url, algorithms=tuple(opts.get("algorithms", ["RS256"])),
                           cache_seconds=settings["jwks_cache_seconds"],
                           cooldown_seconds=settings["jwks_cooldown_seconds"],
                           timeout_seconds=settings["jwks_timeout_seconds"],
                           max_stale_seconds=settings["jwks_max_stale_seconds"],
                           max_bytes=settings["jwks_max_bytes"], clock=clock or time.monotonic,
                           on_fetch=fetches.append if fetches is not None else None)
    return make_auth(jwks_url=url, key_source=source, **settings)


def unavailable(auth, token):
    with pytest.raises(KeySourceUnavailable) as info:
        auth.authenticate(bearer(token))
    assert info.value.status == 503 and info.value.code == "key_source_unavailable"
    return info.value


def test_from_config_builds_a_working_jwks_source(jwks_server, rsa_key):
    jwks_server.keys = [jwk_of(rsa_key, "k1")]
    auth = make_auth(jwks_url=jwks_server.url)
    assert auth.authenticate(bearer(rs_token(rsa_key))).sub == "alice"
    assert auth.describe()["jwks_keys"] == ["k1"]


# 6
def test_key_bound_to_another_algorithm_is_refused(jwks_server, rsa_key):
    jwks_server.keys = [jwk_of(rsa_key, "k1", alg="RS512"), jwk_of(rsa_key, "k2", alg="RS256")]
    auth = jwks_auth(jwks_server.url)
    assert refused(auth, bearer(rs_token(rsa_key, kid="k1"))).code == "bad_algorithm"
    assert refused(auth, bearer(rs_token(rsa_key, kid="k1", alg="RS512"))).code == "bad_algorithm"
    assert auth.authenticate(bearer(rs_token(rsa_key, kid="k2"))).sub == "alice"


def test_key_without_alg_binds_to_the_configured_one(jwks_server, rsa_key):
    jwks_server.keys = [jwk_of(rsa_key, "k1", alg=None)]
    auth = jwks_auth(jwks_server.url, algorithms=["RS256"])
    assert auth.authenticate(bearer(rs_token(rsa_key))).sub == "alice"
    assert refused(auth, bearer(rs_token(rsa_key, alg="PS256"))).code == "bad_algorithm"


# 7, 17 with a JWKS
def test_unknown_signer_with_known_kid_and_odd_kids(jwks_server, rsa_key, rsa_key2):
    jwks_server.keys = [jwk_of(rsa_key, "k1")]
    auth = jwks_auth(jwks_server.url)
    assert refused(auth, bearer(rs_token(rsa_key2, kid="k1"))).code == "bad_signature"
    hits = jwks_server.hits
    for kid in ("../../etc/passwd", "' OR 1=1--", "k" * 256):
        assert refused(auth, bearer(rs_token(rsa_key, kid=kid))).code == "unknown_key"
    assert jwks_server.hits == hits  # inside the cooldown: an unknown kid fetches nothing
    assert refused(auth, bearer(rs_token(rsa_key, kid=None))).code == "bad_kid"


def test_jku_header_is_never_fetched(jwks_server, rsa_key, rsa_key2):
    attacker = JwksServer()
    try:
        attacker.keys = [jwk_of(rsa_key2, "evil")]
        jwks_server.keys = [jwk_of(rsa_key, "k1")]
        auth = jwks_auth(jwks_server.url)
        token = jwt.encode(claims(), rsa_key2, algorithm="RS256",
                           headers={"kid": "evil", "jku": attacker.url, "x5u": attacker.url})
        assert refused(auth, bearer(token)).code == "unknown_key"
        assert attacker.hits == 0
    finally:
        attacker.stop()


# 18
def test_jwks_down_at_cold_start_is_503_and_counted(rsa_key):
    fetches = []
    auth = jwks_auth(f"http://127.0.0.1:{free_port()}/jwks.json", fetches=fetches)
    err = unavailable(auth, rs_token(rsa_key))
    assert err.headers["Retry-After"] == "10"
    unavailable(auth, rs_token(rsa_key))  # within the cooldown: no second attempt
    assert fetches == ["error"]
    assert auth.is_public("health")


# 19
def test_warm_cache_survives_outage_until_max_stale(jwks_server, rsa_key):
    clock, fetches = FakeClock(), []
    jwks_server.keys = [jwk_of(rsa_key, "k1")]
    auth = jwks_auth(jwks_server.url, clock=clock, fetches=fetches)
    token = rs_token(rsa_key)
    assert auth.authenticate(bearer(token)).sub == "alice"
    jwks_server.mode = "error"
    clock.now += 100                                    # stale (cache 60 s) and the IdP is down
    assert auth.authenticate(bearer(token)).sub == "alice"
    clock.now += 5                                      # within the 10 s cooldown: no refetch
    assert auth.authenticate(bearer(token)).sub == "alice"
    assert fetches == ["ok", "error"]
    clock.now = 1000 + 60 + 120 + 1                     # past cache + max_stale: fail closed
    unavailable(auth, token)
    jwks_server.mode = "ok"                             # the IdP is back
    clock.now += 11
    assert auth.authenticate(bearer(token)).sub == "alice"
    assert fetches[-1] == "ok"


def test_stopped_server_after_warm_cache(rsa_key):
    server, clock = JwksServer(), FakeClock()
    server.keys = [jwk_of(rsa_key, "k1")]
    auth = jwks_auth(server.url, clock=clock)
    assert auth.authenticate(bearer(rs_token(rsa_key))).sub == "alice"
    server.stop()
    clock.now += 61
    assert auth.authenticate(bearer(rs_token(rsa_key))).sub == "alice"
    clock.now += 120
    unavailable(auth, rs_token(rsa_key))


# 20
def test_slow_jwks_is_abandoned_at_the_timeout(jwks_server, rsa_key):
    jwks_server.keys = [jwk_of(rsa_key, "k1")]
    jwks_server.mode = "slow"
    fetches = []
    auth = jwks_auth(jwks_server.url, fetches=fetches, jwks_timeout_seconds=1)
    start = time.monotonic()
    unavailable(auth, rs_token(rsa_key))
    elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 3.5, elapsed  # the 1 s deadline, plus slack for a loaded CI machine
    start = time.monotonic()
    unavailable(auth, rs_token(rsa_key))                # cooldown: answered at once
    assert time.monotonic() - start < 0.5
    assert fetches == ["error"]


# 21
@pytest.mark.parametrize("mode", ["html", "array", "empty", "enc", "unknown_kty", "huge", "huge_chunked"])
def test_bad_jwks_bodies_are_handled(jwks_server, rsa_key, mode, caplog):
    jwks_server.keys = [jwk_of(rsa_key, "k1")]
    jwks_server.mode = mode
    fetches = []
    auth = jwks_auth(jwks_server.url, fetches=fetches)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="veneer.auth"):
        unavailable(auth, rs_token(rsa_key))
    assert time.monotonic() - start < 3.0
    assert fetches == ["error"]
    if mode.startswith("huge"):
        assert "exceeds jwks_max_bytes=65536" in caplog.text


def test_bad_body_after_warm_cache_keeps_last_good_set(jwks_server, rsa_key):
    clock = FakeClock()
    jwks_server.keys = [jwk_of(rsa_key, "k1")]
    auth = jwks_auth(jwks_server.url, clock=clock)
    assert auth.authenticate(bearer(rs_token(rsa_key))).sub == "alice"
    jwks_server.mode = "empty"
    clock.now += 61
    assert auth.authenticate(bearer(rs_token(rsa_key))).sub == "alice"


# 22
def test_redirect_is_not_followed(jwks_server, rsa_key):
    target = JwksServer()
    try:
        target.keys = [jwk_of(rsa_key, "k1")]
        jwks_server.mode = "redirect"
        jwks_server.redirect_to = target.url.replace("127.0.0.1", "localhost")
        fetches = []
        auth = jwks_auth(jwks_server.url, fetches=fetches)
        unavailable(auth, rs_token(rsa_key))
        assert (jwks_server.hits, target.hits, fetches) == (1, 0, ["error"])
    finally:
        target.stop()


# 23
def test_key_rotation(jwks_server, rsa_key, rsa_key2):
    clock = FakeClock()
    jwks_server.keys = [jwk_of(rsa_key, "k1")]
    auth = jwks_auth(jwks_server.url, clock=clock)
    old, new = rs_token(rsa_key, kid="k1"), rs_token(rsa_key2, kid="k2")
    assert auth.authenticate(bearer(old)).sub == "alice"
    assert jwks_server.hits == 1
    jwks_server.keys = [jwk_of(rsa_key, "k1"), jwk_of(rsa_key2, "k2")]   # the IdP adds k2
    clock.now += 11                                                      # past the cooldown
    assert auth.authenticate(bearer(new)).sub == "alice"                 # one refresh
    assert jwks_server.hits == 2
    assert auth.authenticate(bearer(old)).sub == "alice"                 # overlap window
    jwks_server.keys = [jwk_of(rsa_key2, "k2")]                          # the IdP drops k1
    assert auth.authenticate(bearer(old)).sub == "alice"                 # until the cache expires
    clock.now += 60
    assert refused(auth, bearer(old)).code == "unknown_key"
    assert auth.authenticate(bearer(new)).sub == "alice"
    assert jwks_server.hits == 3


def test_unknown_kid_flood_costs_one_fetch_per_cooldown(jwks_server, rsa_key):
    clock = FakeClock()
    jwks_server.keys = [jwk_of(rsa_key, "k1")]
    auth = jwks_auth(jwks_server.url, clock=clock)
    auth.authenticate(bearer(rs_token(rsa_key)))
    clock.now += 11
    for i in range(50):
        assert refused(auth, bearer(rs_token(rsa_key, kid=f"random-{i}"))).code == "unknown_key"
    assert jwks_server.hits == 2


def test_jwks_config_refuses_hs_and_non_http():
    from veneer.wrapper.errors import ConfigError

    with pytest.raises(ConfigError, match="auth.algorithms"):
        make_auth(jwks_url="http://127.0.0.1:9/jwks", algorithms=["HS256"])
    with pytest.raises(ConfigError, match="auth.jwks_url"):
        Authenticator_from({"issuer": "x", "jwks_url": "file:///etc/passwd"})


def Authenticator_from(section):
    from veneer.sidecar.auth import Authenticator

    return Authenticator.from_config(Config(models=(), auth=section))


def test_cached_tokens_follow_key_removal(jwks_server, rsa_key, rsa_key2):
    clock = FakeClock()
    jwks_server.keys = [jwk_of(rsa_key, "k1"), jwk_of(rsa_key2, "k2")]
    auth = jwks_auth(jwks_server.url, clock=clock)
    token = rs_token(rsa_key, kid="k1")
    assert auth.authenticate(bearer(token)).sub == "alice"
    assert auth.authenticate(bearer(token)).sub == "alice"  # from the verified-token cache
    jwks_server.keys = [jwk_of(rsa_key2, "k2")]
    clock.now += 60  # the key set is no longer fresh: cache entries made with it stop counting
    assert refused(auth, bearer(token)).code == "unknown_key"
