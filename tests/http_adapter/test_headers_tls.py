"""Forwarded headers, identity headers, metadata hygiene, observer hook and TLS (CASES 98)."""

from __future__ import annotations

import datetime
import ssl
import threading
from http.server import ThreadingHTTPServer
from types import SimpleNamespace

import pytest

import veneer.adapters.http as http_module
from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import UpstreamUnavailable

from .conftest import Reply, make_adapter

ONE = {"path": "predictions"}


def call_headers(upstream, principal=None, client_headers=None, **options):
    a = make_adapter(upstream.url, response=ONE, **options)
    ctx = {"request_id": "req-42", "principal": principal, "headers": client_headers or {}}
    a.predict(Batch(columns=["x"], rows=[[1]], context=ctx))
    return upstream.hits[-1].headers


def test_request_id_always_and_identity_only_from_the_verified_token(upstream) -> None:
    principal = SimpleNamespace(sub="alice", groups=["risk", "ops"])
    client = {"X-Veneer-Subject": "admin", "x-veneer-groups": "root", "X-Tenant": "acme",
              "Cookie": "session=1", "Authorization": "Bearer client-token", "X-Request-ID": "spoof"}
    h = call_headers(upstream, principal, client,
                     headers={"forward": ["X-Tenant", "X-Veneer-Subject", "X-Request-ID"],
                              "set": {"X-Api-Key": "legacy-key", "X-Veneer-Groups": "static"}})
    assert h["x-request-id"] == "req-42"
    assert h["x-veneer-subject"] == "alice" and h["x-veneer-groups"] == "risk,ops"
    assert h["x-tenant"] == "acme" and h["x-api-key"] == "legacy-key"
    assert "cookie" not in h and "authorization" not in h


def test_no_identity_headers_without_a_principal_even_if_the_client_sends_them(upstream) -> None:
    h = call_headers(upstream, None, {"X-Veneer-Subject": "admin"}, headers={"forward": ["X-Veneer-Subject"]})
    assert "x-veneer-subject" not in h and "x-veneer-groups" not in h


def test_dict_principal_and_header_injection_is_neutralised(upstream) -> None:
    h = call_headers(upstream, {"sub": "bob\r\nX-Evil: 1", "groups": "g1"})
    assert h["x-veneer-subject"] == "bobX-Evil: 1" and "x-evil" not in h and h["x-veneer-groups"] == "g1"


def test_metadata_has_no_credentials_and_reports_breaker(upstream) -> None:
    url = upstream.url.replace("http://", "http://user:s3cret@") + "/score"
    a = make_adapter(url, response=ONE, inputs=["a", {"name": "b", "datatype": "INT64"}])
    meta = a.metadata()
    assert meta.platform == "http" and [(t.name, t.datatype) for t in meta.inputs] == [("a", "FP64"),
                                                                                      ("b", "INT64")]
    assert meta.extra["upstream"] == f"http://127.0.0.1:{upstream.port}/score"
    assert "s3cret" not in repr(meta) and meta.extra["breaker"] == "closed"


def test_module_observer_sees_every_failure_reason(upstream, monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(http_module, "observer", seen.append)
    upstream.answer(Reply(status=500), Reply(body=b"not json"))
    a = make_adapter(upstream.url, response=ONE)
    for _ in range(2):
        with pytest.raises(Exception):
            a.predict(Batch(columns=["x"], rows=[[1]]))
    assert seen == ["http_5xx", "bad_response"]


def test_environment_proxies_are_ignored(upstream, monkeypatch) -> None:
    # a proxy from the environment would send scoring data elsewhere; the session ignores it
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "")
    a = make_adapter(upstream.url, response=ONE)
    assert a.predict(Batch(columns=["x"], rows=[[1]])) == {"predictions": [1]}


def test_metric_reasons_stay_in_the_metrics_vocabulary() -> None:
    from veneer.sidecar.metrics_labels import UPSTREAM_REASONS

    reasons = ["connect_error", "connect_timeout", "read_timeout", "deadline", "circuit_open", "tls_error",
               "dns_error", "redirect", "invalid_json", "path_not_found", "count_mismatch", "too_large",
               "incomplete_answer", "status_400", "status_503", "connection_reset", "request_error", "not_loaded"]
    assert {http_module.metric_reason(r) for r in reasons} <= UPSTREAM_REASONS
    assert http_module.metric_reason("status_504") == "http_5xx"


# 98: TLS ----------------------------------------------------------------------------------------
def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "legacy-test-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def tls_upstream(upstream, tmp_path):
    cert, key = _self_signed(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), upstream.server.RequestHandlerClass)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    yield f"https://127.0.0.1:{server.server_port}/score", cert
    server.shutdown()
    server.server_close()


def test_unknown_ca_fails_closed_and_a_configured_bundle_works(tls_upstream, upstream) -> None:
    url, cert = tls_upstream
    a = make_adapter(url, response=ONE, retries={"attempts": 3})
    with pytest.raises(UpstreamUnavailable) as info:
        a.predict(Batch(columns=["x"], rows=[[1]]))
    assert info.value.details["reason"] == "tls_error" and "ca_bundle" in str(info.value)
    assert upstream.hits == []  # no request left the TLS handshake
    trusted = make_adapter(url, response=ONE, tls={"ca_bundle": str(cert)})
    assert trusted.predict(Batch(columns=["x"], rows=[[1]])) == {"predictions": [1]}
    assert len(upstream.hits) == 1


def test_relative_ca_bundle_is_found_beside_the_config(tls_upstream, upstream, tmp_path) -> None:
    from veneer.adapters.http import HttpAdapter
    from veneer.wrapper.settings import VersionSpec

    url, cert = tls_upstream
    config = cert.parent / "veneer.yaml"
    config.write_text("# the file that named the bundle\n")
    a = HttpAdapter(VersionSpec(version="1", adapter="http", url=url, origin=f"{config}:12",
                                options={"response": ONE, "tls": {"ca_bundle": cert.name}}))
    a.load()
    assert a.predict(Batch(columns=["x"], rows=[[1]])) == {"predictions": [1]}


def test_ipv6_upstream_is_reported_with_brackets() -> None:
    a = make_adapter("http://[::1]:9/score", load=False)
    assert a.upstream == "http://[::1]:9/score"
