"""CASES.md section A (token authentication), against the Authenticator itself.

Each test asserts the status (401, or 200 as "a principal came back") and the reason code.
"""

from __future__ import annotations

import time

import jwt
import pytest

from veneer.sidecar.auth import Unauthorized
from veneer.sidecar.auth.verify import MAX_TOKEN_BYTES

from .conftest import (DROP, ENV, ISSUER, SECRET, b64, bearer, claims, hs_raw, hs_token, make_auth,
                       pem_public, raw_token, refused)


@pytest.fixture(scope="module")
def auth():
    return make_auth()


def test_valid_token_gives_principal(auth):
    p = auth.authenticate(bearer(hs_token(sub="bob", groups=["fraud"], gid=None)))
    assert (p.sub, p.scopes, p.permissions, p.groups) == ("bob", ("marketing",), frozenset({"predict"}), ("fraud",))
    assert p.jti and p.claims["iss"] == ISSUER


# 1
def test_no_authorization_header_is_401_missing_with_bare_challenge(auth):
    err = refused(auth, {})
    assert err.code == "missing"
    assert err.headers["WWW-Authenticate"] == 'Bearer realm="veneer"'


# 2
@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Bearer   ", "Bearer-invalid", "Basic Zm9v",
                                   "Token x", "bearer", "Digest abc"])
def test_wrong_scheme_or_empty_bearer_is_missing(auth, value):
    assert refused(auth, {"Authorization": value}).code == "missing"


def test_scheme_is_case_insensitive(auth):
    assert auth.authenticate({"authorization": "bearer " + hs_token()}).sub == "alice"


# 3
def _valid_segments():
    return hs_token().split(".")


@pytest.mark.parametrize("make", [
    lambda h, p, s: "invalidToken",
    lambda h, p, s: f"{h}.{p}",
    lambda h, p, s: f"{h}.{p}.{s}.{s}",
    lambda h, p, s: f"{h}.{p}!.{s}",
    lambda h, p, s: f"{h}.{p}.{s}==",
    lambda h, p, s: f"{h}=.{p}.{s}",
    lambda h, p, s: f"{h}.{p[:5]} {p[5:]}.{s}",
    lambda h, p, s: f"{h}.{p[:5]}\n{p[5:]}.{s}",
    lambda h, p, s: f"{h}.{p}.{s}\t",
    lambda h, p, s: f"{b64(b'not json')}.{p}.{s}",
    lambda h, p, s: f"{b64(b'[1,2]')}.{p}.{s}",
    lambda h, p, s: f"{h}.{b64(b'{bad')}.{s}",
    lambda h, p, s: f"{h}.{b64(b'42')}.{s}",
    lambda h, p, s: f"{h}.{p}x.{s}",  # length % 4 == 1: never valid base64
], ids=["one-segment", "two-segments", "four-segments", "non-base64url", "trailing-padding",
        "padding-in-header", "space", "newline", "tab", "header-not-json", "header-not-object",
        "payload-not-json", "payload-not-object", "bad-length"])
def test_malformed_tokens_are_401_malformed(auth, make):
    h, p, s = _valid_segments()
    assert refused(auth, bearer(make(h, p, s))).code == "malformed"


# 4
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_any_case_is_refused(auth, alg):
    token = raw_token({"alg": alg, "typ": "JWT"}, claims())
    assert refused(auth, bearer(token)).code == "bad_algorithm"


def test_header_without_alg_is_refused(auth):
    assert refused(auth, bearer(raw_token({"typ": "JWT"}, claims(), b"x"))).code == "bad_algorithm"


# 5
def test_alg_confusion_public_key_as_hmac_secret_is_refused(tmp_path, rsa_key):
    path = tmp_path / "pub.pem"
    path.write_bytes(pem_public(rsa_key))
    auth = make_auth(public_key_file=str(path), algorithms=["RS256"])
    # the attacker signs HS256 with the PEM public key as the secret (PyJWT refuses to, so by hand)
    import hashlib
    import hmac

    header, payload = b64(b'{"alg":"HS256","typ":"JWT"}'), b64(__import__("json").dumps(claims()).encode())
    sig = hmac.new(pem_public(rsa_key), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    err = refused(auth, bearer(f"{header}.{payload}.{b64(sig)}"))
    assert err.code == "bad_algorithm"
    # and with a mixed list PyJWT itself would stop at the key (InvalidKeyError) - which our
    # config loader never lets happen (see test_config.py::test_mixed_families_refused)
    with pytest.raises(jwt.exceptions.InvalidKeyError):
        jwt.decode(f"{header}.{payload}.{b64(sig)}", pem_public(rsa_key), algorithms=["RS256", "HS256"],
                   audience="veneer")


# 7 and 8 (6 is in test_jwks.py: it needs a JWKS)
def test_token_signed_with_another_secret_is_bad_signature(auth):
    assert refused(auth, bearer(hs_token(secret="another-secret-of-enough-length-000000"))).code == "bad_signature"


def test_unknown_rsa_key_with_known_kid_is_bad_signature(tmp_path, rsa_key, rsa_key2):
    path = tmp_path / "pub.pem"
    path.write_bytes(pem_public(rsa_key))
    auth = make_auth(public_key_file=str(path))
    forged = jwt.encode(claims(), rsa_key2, algorithm="RS256", headers={"kid": "k1"})
    assert refused(auth, bearer(forged)).code == "bad_signature"
    genuine = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    assert auth.authenticate(bearer(genuine)).sub == "alice"


def test_tampered_payload_is_bad_signature(auth):
    h, _, s = hs_token().split(".")
    tampered = b64(__import__("json").dumps(claims(sub="mallory")).encode())
    assert refused(auth, bearer(f"{h}.{tampered}.{s}")).code == "bad_signature"


def test_embedded_jwk_header_is_ignored(auth, rsa_key2):
    from .conftest import jwk_of

    forged = jwt.encode(claims(), SECRET[::-1] + "x", algorithm="HS256",
                        headers={"jwk": jwk_of(rsa_key2, "evil"), "jku": "http://127.0.0.1:9/jwks"})
    assert refused(auth, bearer(forged)).code == "bad_signature"


# 9
def frozen(auth, now):
    """Pin the verifier's clock (the only clock exp/nbf/iat are compared with)."""
    auth._verifier.wallclock = lambda: now
    return auth


def test_expired_and_leeway_boundaries():
    now = 1_800_000_000
    auth = frozen(make_auth(), now)  # leeway 30
    assert refused(auth, bearer(hs_token(exp=now - 1 - 30, iat=now - 600))).code == "expired"
    assert refused(auth, bearer(hs_token(exp=now - 30, iat=now - 600))).code == "expired"  # exp <= now - leeway
    assert auth.authenticate(bearer(hs_token(exp=now - 30 + 1, iat=now - 600))).sub == "alice"
    assert refused(frozen(make_auth(leeway=0), now), bearer(hs_token(exp=now - 1, iat=now - 60))).code == "expired"
    assert refused(frozen(make_auth(leeway=0), now), bearer(hs_token(exp=now, iat=now - 60))).code == "expired"


# 10
def test_not_yet_valid():
    now = 1_800_000_000
    auth = frozen(make_auth(), now)
    assert refused(auth, bearer(hs_token(iat=now - 10, exp=now + 600, nbf=now + 30 + 1))).code == "immature"
    assert refused(auth, bearer(hs_token(iat=now + 30 + 1, exp=now + 900))).code == "immature"
    assert auth.authenticate(bearer(hs_token(iat=now - 10, exp=now + 600, nbf=now + 30))).sub == "alice"
    assert auth.authenticate(bearer(hs_token(iat=now + 30, exp=now + 600))).sub == "alice"


# 11
@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub"])
def test_each_required_claim_missing(auth, claim):
    err = refused(auth, bearer(hs_token(**{claim: DROP})))
    assert err.code == "missing_claim"
    assert claim in str(err)


def test_jti_required_when_revocation_is_on(tmp_path):
    auth = make_auth(revocation_file=str(tmp_path / "revoked.json"))
    err = refused(auth, bearer(hs_token(jti=DROP)))
    assert (err.code, "jti" in str(err)) == ("missing_claim", True)


def test_configured_extra_required_claim():
    auth = make_auth(required_claims=["team"])
    assert refused(auth, bearer(hs_token())).code == "missing_claim"
    assert auth.authenticate(bearer(hs_token(team="fraud"))).claims["team"] == "fraud"


# 12
@pytest.mark.parametrize("over, reason", [
    ({"exp": "abc"}, "bad_claim"),
    ({"exp": "9999999999"}, "bad_claim"),  # PyJWT would int() it; a NumericDate is a number
    ({"exp": True}, "bad_claim"),
    ({"iat": []}, "bad_claim"),
    ({"iat": {}}, "bad_claim"),
    ({"nbf": "soon"}, "bad_claim"),
    ({"aud": 5}, "bad_audience"),
    ({"aud": [["veneer"]]}, "bad_audience"),
    ({"iss": 7}, "bad_issuer"),
    ({"sub": 12}, "bad_claim"),
    ({"sub": ""}, "bad_claim"),
    ({"jti": 5}, "bad_claim"),
    ({"scope": "marketing/../finance"}, "bad_claim"),
    ({"scope": [1, 2]}, "bad_claim"),
    ({"perm": "predict"}, "bad_claim"),
    ({"groups": [None]}, "bad_claim"),
    ({"gid": 3}, "bad_claim"),
])
def test_claim_type_abuse_is_401_never_500(auth, over, reason):
    token = hs_raw({"alg": "HS256", "typ": "JWT"}, claims(**over))
    assert refused(auth, bearer(token)).code == reason


def test_exp_infinity_and_nan_are_bad_claims(auth):
    import hashlib
    import hmac

    for literal in (b"1e309", b"NaN", b"-Infinity"):
        payload = __import__("json").dumps(claims(exp=123)).encode().replace(b'"exp": 123', b'"exp": ' + literal)
        head = b64(b'{"alg":"HS256","typ":"JWT"}')
        body = b64(payload)
        sig = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
        assert refused(auth, bearer(f"{head}.{body}.{b64(sig)}")).code == "bad_claim", literal


# 13
def test_lifetime_cap(auth):
    now = int(time.time())
    assert refused(auth, bearer(hs_token(exp=2 ** 62))).code == "lifetime_exceeded"
    short = make_auth(max_lifetime_seconds=3600)
    assert refused(short, bearer(hs_token(exp=now + 3601))).code == "lifetime_exceeded"
    assert short.authenticate(bearer(hs_token(exp=now + 3600))).sub == "alice"


# 14
def test_audience(auth):
    assert refused(auth, bearer(hs_token(aud="other"))).code == "bad_audience"
    assert refused(auth, bearer(hs_token(aud=["a", "b"]))).code == "bad_audience"
    assert auth.authenticate(bearer(hs_token(aud=["a", "veneer"]))).sub == "alice"


# 15
@pytest.mark.parametrize("iss", ["https://evil.example.com", "https://idp.example.com.evil",
                                 "https://idp.example.com/", "idp", "https://IDP.example.com",
                                 "https://idp.example.co"])
def test_issuer_exact_match_only(auth, iss):
    assert refused(auth, bearer(hs_token(iss=iss))).code == "bad_issuer"


def test_issuer_list_is_exact_membership():
    auth = make_auth(issuer=[ISSUER, "https://eu.idp.example.com"])
    assert auth.authenticate(bearer(hs_token(iss="https://eu.idp.example.com"))).sub == "alice"
    assert refused(auth, bearer(hs_token(iss="idp"))).code == "bad_issuer"


# 16
@pytest.mark.parametrize("crit", [["x-mfa"], [], "b64", ["b64"]])
def test_crit_headers_are_refused(auth, crit):
    token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"crit": crit, "x-mfa": True})
    assert refused(auth, bearer(token)).code == "crit_unsupported"


# 17
@pytest.mark.parametrize("kid", [123, {}, None, [], "", "x" * 100_000, "tab\tkid", "\u00e9"])
def test_bad_kid_values(auth, kid):
    head = b64(__import__("json").dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(__import__("json").dumps(claims()).encode())
    token = f"{head}.{body}.{b64(b'sig')}"
    err = refused(auth, bearer(token))
    assert err.code in ("bad_kid", "too_large")
    assert err.code == ("too_large" if len(token) > MAX_TOKEN_BYTES else "bad_kid")


@pytest.mark.parametrize("kid", ["../../etc/passwd", "' OR 1=1--", "/dev/zero"])
def test_hostile_kid_strings_touch_nothing(auth, kid, monkeypatch):
    import builtins

    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    token = hs_token(headers={"kid": kid}, secret="attacker-secret-attacker-secret-0000")
    assert refused(auth, bearer(token)).code == "bad_signature"
    assert opened == []


# 25 (unit part: the server's 400 for > 8190-byte headers is in test_auth_server.py)
def test_oversized_token_is_refused_before_parsing(auth):
    token = hs_token(pad="x" * MAX_TOKEN_BYTES)
    assert refused(auth, bearer(token)).code == "too_large"


# 28
@pytest.mark.parametrize("headers, over", [
    ({"typ": "refresh+jwt"}, {}),
    ({"typ": "JWT"}, {"typ": "Refresh"}),
    ({"typ": "JWT"}, {"typ": "ID"}),
    ({}, {"token_use": "id"}),
    ({}, {"token_use": "refresh"}),
    ({"typ": 5}, {}),
])
def test_refresh_and_id_tokens_are_refused(auth, headers, over):
    assert refused(auth, bearer(hs_token(headers=headers, **over))).code == "bad_type"


@pytest.mark.parametrize("headers, over", [({"typ": "at+jwt"}, {}), ({"typ": "application/at+jwt"}, {}),
                                           ({}, {"token_use": "access"}), ({}, {"typ": "Bearer"})])
def test_access_token_types_pass(auth, headers, over):
    assert auth.authenticate(bearer(hs_token(headers=headers, **over))).sub == "alice"


# query tokens
def test_query_token_ignored_unless_configured(auth):
    assert refused(auth, {}, {"access_token": hs_token()}).code == "missing"
    on = make_auth(allow_query_token=True, query_token_param="tok")
    assert on.authenticate({}, {"tok": hs_token()}).sub == "alice"
    assert refused(on, bearer(hs_token()), {"tok": hs_token()}).code == "multiple_tokens"


def test_failure_observer_counts_reasons():
    auth = make_auth()
    seen = []
    auth.observer = seen.append
    for headers in ({}, bearer("x.y"), bearer(hs_token(aud="other"))):
        with pytest.raises(Unauthorized):
            auth.authenticate(headers)
    assert seen == ["missing", "malformed", "bad_audience"]


def test_auth_off_returns_none_and_says_so(caplog):
    from veneer.sidecar.auth import Authenticator
    from veneer.wrapper.settings import Config

    with caplog.at_level("WARNING", logger="veneer.auth"):
        auth = Authenticator.from_config(Config(models=(), auth=None))
    assert auth.enabled is False
    assert auth.authenticate({}) is None
    assert auth.describe()["auth"] == "off"
    assert "auth is OFF" in caplog.text
    assert auth.is_public("docs:anything") and auth.is_public("health")


def test_describe_never_shows_the_secret():
    described = make_auth().describe()
    assert described["auth"] == "on" and described["secret_env"] == "VENEER_JWT_SECRET"
    assert SECRET not in repr(described)
    assert ENV["VENEER_JWT_SECRET"] not in repr(make_auth().settings)


def test_verified_token_cache_is_exact_and_bounded(auth):
    token = hs_token(sub="carol")
    first = auth.authenticate(bearer(token))
    assert auth.authenticate(bearer(token)) is first  # a hit: the same principal object
    # one flipped signature character is a different token: full verification, refused
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert refused(auth, bearer(flipped)).code == "bad_signature"
    from veneer.sidecar.auth.cache import VerifiedCache

    cache = VerifiedCache(max_entries=10)
    for i in range(25):
        cache.put(VerifiedCache.digest(f"t{i}"), first, exp=time.time() + 60, generation=auth.key_source)
    assert len(cache) <= 10
    digest = VerifiedCache.digest("t24")
    assert cache.get(digest, generation=auth.key_source, now=time.time(), leeway=0) is first
    assert cache.get(digest, generation=object(), now=time.time(), leeway=0) is None  # key material changed
    cache.put(digest, first, exp=time.time() - 1, generation=auth.key_source)
    assert cache.get(digest, generation=auth.key_source, now=time.time(), leeway=0) is None  # expired


def test_cached_token_still_expires():
    now = [time.time()]
    auth = make_auth(leeway=0)
    auth._verifier.wallclock = lambda: now[0]
    token = hs_token(exp=int(now[0]) + 5)
    assert auth.authenticate(bearer(token)).sub == "alice"
    now[0] += 6
    assert refused(auth, bearer(token)).code == "expired"


def test_reason_descriptions_are_safe_in_a_quoted_header():
    from veneer.sidecar.auth import FORBIDDEN_REASONS, UNAUTHORIZED_REASONS

    for text in [*UNAUTHORIZED_REASONS.values(), *FORBIDDEN_REASONS.values()]:
        assert '"' not in text and "\\" not in text and "\n" not in text
