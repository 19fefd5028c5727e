"""Shared fixtures of the auth tests: real keys, token builders, a real JWKS server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from veneer.sidecar.auth import Authenticator, Unauthorized
from veneer.wrapper.settings import AccessList, Config, ModelSpec

ISSUER = "https://idp.example.com"
SECRET = "s3cret-for-tests-only-0123456789abcdef"  # 38 bytes
ENV = {"VENEER_JWT_SECRET": SECRET}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: Any, payload: Any, signature: bytes = b"") -> str:
    """A token assembled by hand (for shapes PyJWT refuses to encode)."""
    enc = lambda v: b64(v if isinstance(v, bytes) else json.dumps(v).encode())  # noqa: E731
    return f"{enc(header)}.{enc(payload)}.{b64(signature)}"


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": "veneer", "sub": "alice", "iat": now, "exp": now + 600,
            "jti": uuid.uuid4().hex, "scope": ["marketing"], "perm": ["predict"]}
    base.update(over)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()


def hs_token(secret: str = SECRET, headers: dict | None = None, **over: Any) -> str:
    return jwt.encode(claims(**over), secret, algorithm="HS256", headers=headers)


def hs_raw(header: Any, payload: Any, secret: str = SECRET) -> str:
    """An HS256 token signed by hand over arbitrary JSON (PyJWT refuses to encode some abuse)."""
    import hashlib
    import hmac

    enc = lambda v: b64(v if isinstance(v, bytes) else json.dumps(v).encode())  # noqa: E731
    signing_input = f"{enc(header)}.{enc(payload)}"
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def models(*specs: tuple[str, str, bool], access: dict | None = None) -> tuple[ModelSpec, ...]:
    access = access or {}
    return tuple(ModelSpec(name=n, prefix=p, versions=(), cascade_prefix_tokens=c,
                           access=access.get(f"{p}/{n}", AccessList())) for p, n, c in specs)


DEFAULT_MODELS = (("marketing", "churn", True), ("marketing", "ltv", False), ("marketing2", "x", True),
                  ("finance", "x", True))


def make_auth(*, model_specs=None, prefixes=None, env=ENV, key_source=None, denylist=None,
              **auth: Any) -> Authenticator:
    """An Authenticator over an HS config unless ``auth`` says otherwise."""
    section = {"issuer": ISSUER, "audience": "veneer"}
    if not {"public_key_file", "jwks_url"} & set(auth):
        section["secret_env"] = "VENEER_JWT_SECRET"
    section.update(auth)
    config = Config(models=model_specs if model_specs is not None else models(*DEFAULT_MODELS),
                    prefixes=prefixes or {}, auth=section)
    if key_source is None and denylist is None:
        return Authenticator.from_config(config, env=env)
    from veneer.sidecar.auth.settings import parse_settings

    settings = parse_settings(section, env=env)
    return Authenticator(settings, config=config, key_source=key_source, denylist=denylist)


def refused(auth: Authenticator, headers: dict, query: dict | None = None) -> Unauthorized:
    """Authenticate expecting a 401; returns the error (status and challenge asserted here)."""
    with pytest.raises(Unauthorized) as info:
        auth.authenticate(headers, query)
    err = info.value
    assert err.status == 401
    assert err.headers["WWW-Authenticate"].startswith("Bearer ")
    return err


@pytest.fixture(scope="session")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def rsa_key2():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def pem_public(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def jwk_of(key, kid: str, alg: str | None = "RS256", **extra: Any) -> dict:
    algo = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk = algo.to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid=kid, **({"alg": alg} if alg else {}), **extra)
    return jwk


@pytest.fixture
def public_key_file(tmp_path, rsa_key):
    path = tmp_path / "public.pem"
    path.write_bytes(pem_public(rsa_key))
    return path


class JwksServer:
    """A real JWKS endpoint on 127.0.0.1 whose behaviour the test sets through ``mode``."""

    def __init__(self) -> None:
        self.keys: list[dict] = []
        self.mode = "ok"
        self.hits = 0
        self.release = threading.Event()  # ends a "slow" answer early at teardown
        self.redirect_to = "http://127.0.0.1:9/elsewhere.json"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):  # noqa: N802
                outer.hits += 1
                outer.respond(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def respond(self, h: BaseHTTPRequestHandler) -> None:
        mode = self.mode
        if mode == "slow":
            self.release.wait(10)
            mode = "ok"
        bodies = {"ok": json.dumps({"keys": self.keys}), "html": "<html><body>Login</body></html>",
                  "array": json.dumps(self.keys), "empty": json.dumps({"keys": []}),
                  "enc": json.dumps({"keys": [dict(k, use="enc") for k in self.keys]}),
                  "unknown_kty": json.dumps({"keys": [{"kty": "XYZ", "kid": "k1", "n": "abc"}]})}
        try:
            if mode == "redirect":
                h.send_response(302)
                h.send_header("Location", self.redirect_to)
                h.send_header("Content-Length", "0")
                h.end_headers()
            elif mode == "error":
                h.send_response(503)
                h.send_header("Content-Length", "0")
                h.end_headers()
            elif mode in ("huge", "huge_chunked"):
                h.send_response(200)
                h.send_header("Content-Type", "application/json")
                if mode == "huge":
                    h.send_header("Content-Length", str(50 * 1024 * 1024))
                h.end_headers()
                chunk = b" " * 65536
                for _ in range(800):  # 50 MB if the client kept reading; it must not
                    h.wfile.write(chunk)
            else:
                body = bodies[mode].encode()
                h.send_response(200)
                h.send_header("Content-Type", "text/html" if mode == "html" else "application/json")
                h.send_header("Content-Length", str(len(body)))
                h.end_headers()
                h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up (size cap, timeout): expected

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server():
    server = JwksServer()
    yield server
    server.stop()


class FakeClock:
    """A monotonic clock the test moves by hand (the JWKS cache's notion of time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
