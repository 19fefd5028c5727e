"""Auth against real running servers (gunicorn on 127.0.0.1): CASES.md A.1-3, 9, 24-26, B.29-33.

Two servers with different configs share the global id ``acme`` and the signing secret
(two "regions"); the first also has two workers and a revocation file.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tests.helpers.server import REPO, VeneerServer
from tests.helpers.wait import wait_for

from .conftest import DROP, ENV, ISSUER, SECRET, hs_token

pytestmark = pytest.mark.slow

BUILD = REPO / "examples" / "legacy_models" / "build"
ARTIFACT = BUILD / "churn_2017.joblib"
SAMPLE = (BUILD / "churn_sample.csv").read_bytes() if (BUILD / "churn_sample.csv").exists() else b""

REGION_A = """\
prefix: marketing
prefixes:
  marketing: {{docs_public: false}}
auth:
  issuer: {issuer}
  audience: veneer
  secret_env: VENEER_JWT_SECRET
  global_id: acme
  revocation_file: revoked.json
server:
  public_metrics: true
  graceful_timeout: 2
registry: {{enabled: false}}
models:
  churn:
    cascade_prefix_tokens: true
    versions:
      - {{version: "1", adapter: pickle, path: {artifact}, stage: production}}
  ltv:
    versions:
      - {{version: "1", adapter: pickle, path: {artifact}, stage: production}}
  x:
    prefix: marketing2
    cascade_prefix_tokens: true
    versions:
      - {{version: "1", adapter: pickle, path: {artifact}, stage: production}}
"""

REGION_B = """\
prefix: marketing
auth:
  issuer: {issuer}
  audience: veneer
  secret_env: VENEER_JWT_SECRET
  global_id: acme
  leeway: 10
  realm: region-b
server:
  graceful_timeout: 2
registry: {{enabled: false}}
models:
  churn:
    cascade_prefix_tokens: true
    versions:
      - {{version: "1", adapter: pickle, path: {artifact}, stage: production}}
"""


def _start(tmp: Path, text: str, workers: int) -> VeneerServer:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "veneer.yaml").write_text(text.format(issuer=ISSUER, artifact=ARTIFACT))
    server = VeneerServer(tmp / "veneer.yaml", workers=workers, threads=2, env=ENV, cwd=tmp)
    return server.start(timeout=120)


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    if not ARTIFACT.exists():
        pytest.skip("example models not built: run `make examples`")
    base = tmp_path_factory.mktemp("regions")
    a = _start(base / "a", REGION_A, workers=2)
    try:
        b = _start(base / "b", REGION_B, workers=1)
    except BaseException:
        a.stop()
        raise
    yield a, b
    a.stop()
    b.stop()


def post(server, path, token=None, headers=None, **kw):
    h = {"Content-Type": "text/csv", **(headers or {})}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return requests.post(server.url + path, data=SAMPLE, headers=h, timeout=30, **kw)


def reason(r):
    return r.status_code, r.json().get("code")


def test_missing_and_invalid_tokens_are_401_with_challenge(regions):
    a, b = regions
    r = post(a, "/models/marketing/churn/")
    assert reason(r) == (401, "missing")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="veneer"'
    assert post(b, "/models/marketing/churn/").headers["WWW-Authenticate"] == 'Bearer realm="region-b"'
    for bad, code in (("Basic Zm9v", "missing"), ("Bearer invalidToken", "malformed"),
                      (f"Bearer {hs_token(secret='x' * 40)}", "bad_signature")):
        r = post(a, "/models/marketing/churn/", headers={"Authorization": bad})
        assert reason(r) == (401, code)
        if code != "missing":
            assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    now = int(time.time())
    assert reason(post(a, "/models/marketing/churn/", hs_token(exp=now - 60, iat=now - 120))) == (401, "expired")
    assert reason(post(a, "/models/marketing/churn/", hs_token(jti=DROP))) == (401, "missing_claim")
    r = requests.post(a.url + "/models/marketing/churn/?access_token=" + hs_token(), data=SAMPLE,
                      headers={"Content-Type": "text/csv"}, timeout=30)
    assert reason(r) == (401, "missing")  # never from the query string by default


def test_prefix_model_cascade_and_existence(regions):
    a, _ = regions
    prefix_token = hs_token(scope=["marketing"])
    r = post(a, "/models/marketing/churn/", prefix_token)
    assert r.status_code == 200 and r.headers["X-Veneer-Model"] == "marketing/churn"
    assert reason(post(a, "/models/marketing2/x/", prefix_token)) == (403, "out_of_scope")
    assert reason(post(a, "/models/marketing/ltv/", prefix_token)) == (403, "cascade_off")
    model_token = hs_token(scope=["marketing/ltv"])
    assert post(a, "/models/marketing/ltv/", model_token).status_code == 200
    assert reason(post(a, "/models/marketing/churn/", model_token)) == (403, "out_of_scope")
    # unknown models: 403 for callers without the whole prefix, 404 only for those with it
    assert reason(post(a, "/models/finance/nosuch/", prefix_token)) == (403, "out_of_scope")
    assert reason(post(a, "/models/marketing/nosuch/", model_token)) == (403, "out_of_scope")
    assert post(a, "/models/marketing/nosuch/", prefix_token).status_code == 404
    r = requests.post(a.url + "/v2/models/nosuch/infer", json={"inputs": []}, timeout=30,
                      headers={"Authorization": f"Bearer {prefix_token}"})
    assert reason(r) == (403, "out_of_scope")


def test_version_pins_after_authorization(regions):
    a, _ = regions
    churn = hs_token(scope=["marketing/churn"])
    r = post(a, "/models/marketing/churn/v1/", churn)
    assert r.status_code == 200 and r.headers["X-Veneer-Model-Version"] == "1"
    assert post(a, "/models/marketing/churn/v99/", churn).status_code == 404
    assert reason(post(a, "/models/marketing/churn/v99/", hs_token(scope=["marketing2"]))) == (403, "out_of_scope")


def test_permissions_on_a_real_route(regions):
    a, _ = regions
    manage_only = hs_token(perm=["manage"])
    assert reason(post(a, "/models/marketing/churn/", manage_only)) == (403, "no_permission")
    r = requests.get(a.url + "/models/marketing/churn/?get_meta=true", timeout=30,
                     headers={"Authorization": f"Bearer {hs_token(perm=['predict'])}"})
    assert r.status_code == 200  # predict implies metadata
    r = requests.get(a.url + "/models/marketing/churn/?get_meta=true", timeout=30)
    assert reason(r) == (401, "missing")


def test_admin_routes_need_manage_and_code_needs_custom_code(regions):
    a, _ = regions

    def admin(method, path, token, **kw):
        return requests.request(method, a.url + "/admin/models/" + path, timeout=30,
                                headers={"Authorization": f"Bearer {token}"}, **kw)

    predict = hs_token(scope=["marketing/churn"], perm=["predict"])
    manage = hs_token(scope=["marketing/churn"], perm=["manage"])
    assert reason(admin("GET", "marketing/churn", predict)) == (403, "no_permission")
    assert reason(admin("PUT", "marketing/churn/weights", predict, json={"1": 100})) == (403, "no_permission")
    assert admin("GET", "marketing/churn", manage).status_code == 200
    assert reason(admin("GET", "marketing2/x", manage)) == (403, "out_of_scope")
    code_version = {"version": "9", "adapter": "python", "path": "legacy.py"}
    assert reason(admin("POST", "marketing/churn/versions", manage, json=code_version)) == (403, "custom_code")


def test_health_and_metrics_are_public_and_v2_says_auth_is_on(regions):
    a, _ = regions
    assert requests.get(a.url + "/v2/health/live", timeout=10).status_code == 200
    assert requests.get(a.url + "/metrics", timeout=10).status_code == 200
    meta = requests.get(a.url + "/v2", timeout=10).json()
    assert meta["auth"]["auth"] == "on" and meta["auth"]["global_id"] == "acme"
    assert SECRET not in requests.get(a.url + "/v2", timeout=10).text


def test_global_id_across_two_regions(regions):
    a, b = regions
    shared = hs_token(gid="acme", scope=["marketing/churn"])
    foreign = hs_token(gid="globex", scope=["marketing/churn"])
    wider = hs_token(gid="acme", scope=["marketing/churn"])
    for server in (a, b):
        r = post(server, "/models/marketing/churn/", shared)
        assert r.status_code == 200, (server.url, r.text)
        assert reason(post(server, "/models/marketing/churn/", foreign)) == (403, "untrusted_global_id")
    assert reason(post(a, "/models/marketing2/x/", wider)) == (403, "out_of_scope")  # gid never widens


def test_oversized_headers_are_refused_by_gunicorn(regions):
    a, _ = regions
    # limit_request_field_size 8190: gunicorn >= 23 answers 431 (older ones 400); never our code
    r = post(a, "/models/marketing/churn/", headers={"Authorization": "Bearer " + "a" * 9000})
    assert r.status_code in (400, 431)
    r = post(a, "/models/marketing/churn/", headers={f"X-H{i}": "v" for i in range(101)})
    assert r.status_code in (400, 431)
    assert post(a, "/models/marketing/churn/", hs_token(scope=["marketing/churn"])).status_code == 200


def test_revocation_reaches_every_worker_within_the_bound(regions, monkeypatch):
    from veneer.sidecar.cli import main

    a, _ = regions
    token = hs_token(scope=["marketing/churn"])
    assert post(a, "/models/marketing/churn/", token).status_code == 200
    config = Path(a.cwd) / "veneer.yaml"
    monkeypatch.setenv("VENEER_JWT_SECRET", SECRET)
    start = time.monotonic()
    assert main(["token", "revoke", token, "--config", str(config)]) == 0
    # every request after the bound (1 s) is refused, whichever of the two workers answers
    wait_for(lambda: all(reason(post(a, "/models/marketing/churn/", token)) == (401, "revoked")
                         for _ in range(8)), timeout=5, interval=0.1, what="revocation on every worker")
    assert time.monotonic() - start < 1.0 + 1.5
    assert post(a, "/models/marketing/churn/", hs_token(scope=["marketing/churn"])).status_code == 200


def test_no_token_in_server_logs(regions):
    a, b = regions
    post(a, "/models/marketing/churn/", hs_token())  # at least one accepted and several refused above
    for server in (a, b):
        log = server.log()
        assert "/models/marketing/churn/" in log  # the access log is there...
        assert "eyJ" not in log and "Bearer " not in log  # ...and no token in it


REGION_JWKS = """\
prefix: marketing
auth:
  issuer: {issuer}
  audience: veneer
  jwks_url: {jwks}
  algorithms: [RS256]
  jwks_cooldown_seconds: 0
  jwks_timeout_seconds: 1
server:
  graceful_timeout: 2
registry: {{enabled: false}}
models:
  churn:
    cascade_prefix_tokens: true
    versions:
      - {{version: "1", adapter: pickle, path: {artifact}, stage: production}}
"""


def test_jwks_server_down_at_cold_start_then_back(tmp_path, rsa_key):
    import jwt

    from .conftest import JwksServer, claims, jwk_of

    if not ARTIFACT.exists():
        pytest.skip("example models not built: run `make examples`")
    idp = JwksServer()
    idp.keys = [jwk_of(rsa_key, "k1")]
    idp.mode = "error"
    (tmp_path / "veneer.yaml").write_text(REGION_JWKS.format(issuer=ISSUER, jwks=idp.url, artifact=ARTIFACT))
    server = VeneerServer(tmp_path / "veneer.yaml", workers=1, threads=2, env=ENV, cwd=tmp_path)
    try:
        server.start(timeout=120)
        token = jwt.encode(claims(scope=["marketing/churn"]), rsa_key, algorithm="RS256", headers={"kid": "k1"})
        assert requests.get(server.url + "/v2/health/live", timeout=10).status_code == 200
        r = post(server, "/models/marketing/churn/", token)
        assert reason(r) == (503, "key_source_unavailable") and "Retry-After" in r.headers
        idp.mode = "ok"
        r = post(server, "/models/marketing/churn/", token)
        assert r.status_code == 200, r.text
        forged = jwt.encode(claims(scope=["marketing/churn"]), rsa_key, algorithm="RS512", headers={"kid": "k1"})
        assert reason(post(server, "/models/marketing/churn/", forged)) == (401, "bad_algorithm")
        assert "eyJ" not in server.log()
    finally:
        server.stop()
        idp.stop()
