"""Start-up validation of the auth section (CASES.md A.5, A.14, A.27, B.34) and its JSON Schema."""

from __future__ import annotations

import jsonschema
import pytest

from veneer.sidecar.auth import Authenticator
from veneer.sidecar.auth.settings import parse_settings, with_defaults
from veneer.sidecar.auth.tokens import build_claims, parse_claim, parse_duration
from veneer.wrapper.errors import ConfigError
from veneer.wrapper.schema.auth import AUTH_OBJECT, SCHEMA
from veneer.wrapper.settings import Config

from .conftest import ENV, ISSUER, make_auth, pem_public


def refused_config(section, env=ENV, match=None):
    with pytest.raises(ConfigError) as info:
        parse_settings(section, env=env)
    if match:
        assert match in str(info.value), str(info.value)
    return str(info.value)


HS = {"issuer": ISSUER, "secret_env": "VENEER_JWT_SECRET"}


# 27
def test_leeway_over_300_refused():
    assert "auth.leeway" in refused_config({**HS, "leeway": 301}, match="leeway 301")
    assert parse_settings({**HS, "leeway": 300}, env=ENV).leeway == 300
    refused_config({**HS, "leeway": -1}, match="auth.leeway")


def test_short_or_missing_hs_secret_refused():
    msg = refused_config(HS, env={"VENEER_JWT_SECRET": "x" * 31}, match="31 bytes")
    assert "x" * 31 not in msg  # the length is said, never the value
    refused_config(HS, env={}, match="VENEER_JWT_SECRET (auth.secret_env) is not set")
    assert parse_settings(HS, env={"VENEER_JWT_SECRET": "x" * 32}).secret == b"x" * 32


def test_empty_algorithms_and_none_refused():
    refused_config({**HS, "algorithms": []}, match="'algorithms' is empty")
    refused_config({**HS, "algorithms": ["none"]}, match="'none'")
    refused_config({**HS, "algorithms": ["NONE", "HS256"]}, match="'none'")


# 5
def test_mixed_families_refused(public_key_file):
    refused_config({**HS, "algorithms": ["RS256", "HS256"]}, match="mix families")
    refused_config({"issuer": ISSUER, "public_key_file": str(public_key_file), "algorithms": ["RS256", "HS256"]},
                   match="mix families")
    refused_config({"issuer": ISSUER, "public_key_file": str(public_key_file), "algorithms": ["HS256"]},
                   match="HS256 cannot be verified with the RS256 key")
    refused_config({"issuer": ISSUER, "jwks_url": "https://idp.example.com/jwks", "algorithms": ["HS256"]},
                   match="need a shared secret")
    refused_config({**HS, "algorithms": ["RS256"]}, match="asymmetric")
    refused_config({"issuer": ISSUER, "public_key_file": str(public_key_file), "algorithms": ["ES256"]},
                   match="cannot be verified with the RS256 key")


def test_public_key_file_defaults_and_errors(tmp_path, public_key_file, ec_key, rsa_key):
    assert parse_settings({"issuer": ISSUER, "public_key_file": str(public_key_file)}).algorithms == ("RS256",)
    ec_file = tmp_path / "ec.pem"
    ec_file.write_bytes(pem_public(ec_key))
    assert parse_settings({"issuer": ISSUER, "public_key_file": "ec.pem"}, base_dir=tmp_path).algorithms == ("ES256",)
    refused_config({"issuer": ISSUER, "public_key_file": str(tmp_path / "nope.pem")}, match="cannot be read")
    from cryptography.hazmat.primitives import serialization

    private = tmp_path / "private.pem"
    private.write_bytes(rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    refused_config({"issuer": ISSUER, "public_key_file": str(private)}, match="PRIVATE key")
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    refused_config({"issuer": ISSUER, "public_key_file": str(junk)}, match="not a PEM public key")


def test_exactly_one_key_source(public_key_file):
    refused_config({"issuer": ISSUER}, match="exactly one key source")
    refused_config({**HS, "public_key_file": str(public_key_file)}, match="exactly one key source")


# 14
def test_audience_cannot_be_forgotten():
    assert parse_settings(HS, env=ENV).audiences == ("veneer",)  # the documented default
    refused_config({**HS, "audience": None}, match="auth.audience")
    refused_config({**HS, "audience": ""}, match="auth.audience")
    refused_config({**HS, "audience": []}, match="auth.audience")


# 34
def test_extra_claims_cannot_override_reserved():
    for name in ("iss", "aud", "exp", "sub", "gid", "scope"):
        refused_config({**HS, "extra_claims": {name: "x"}}, match=f"auth.extra_claims.{name}")
    assert parse_settings({**HS, "extra_claims": {"team": "fraud"}}, env=ENV).extra_claims == {"team": "fraud"}
    with pytest.raises(ConfigError, match="reserved"):
        build_claims(issuer="i", audience="a", owner="o", scopes=["p"], lifetime=60, extra={"gid": "x"})


def test_claim_values_are_json_or_text_never_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_claim("team=fraud") == ("team", "fraud")
    assert parse_claim('tier={"level": 2}') == ("tier", {"level": 2})
    assert parse_claim("n=5") == ("n", 5)
    for evil in ("""a={"a": __import__('pathlib').Path('PWNED').touch()}""",
                 """a=[__import__('os').system('touch PWNED')]""", """a="unterminated"""):
        with pytest.raises(ConfigError, match="never evaluated"):
            parse_claim(evil)
    assert not (tmp_path / "PWNED").exists()
    with pytest.raises(ConfigError, match="reserved"):
        parse_claim("sub=admin")
    with pytest.raises(ConfigError, match="key=value"):
        parse_claim("novalue")


def test_durations():
    assert [parse_duration(d) for d in ("30d", "12h", "15m", "3600s", "90", "1w")] == \
        [2592000, 43200, 900, 3600, 90, 604800]
    for bad in ("", "0", "-5m", "1y", "1.5h", "ten"):
        with pytest.raises(ConfigError):
            parse_duration(bad)


def test_unknown_key_named():
    refused_config({**HS, "leway": 10}, match="leway")


def test_schema_every_property_has_description_and_default():
    for name, prop in AUTH_OBJECT["properties"].items():
        assert prop.get("description"), name
        if name != "issuer":
            assert "default" in prop, name
    assert AUTH_OBJECT["additionalProperties"] is False
    # every default satisfies its own property schema
    for name, prop in AUTH_OBJECT["properties"].items():
        if "default" in prop:
            jsonschema.validate(prop["default"], prop)


def test_schema_accepts_none_and_objects_and_refuses_null():
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert validator.is_valid("none")
    assert validator.is_valid(HS)
    assert not validator.is_valid(None)  # an empty 'auth:' never silently switches tokens off
    assert not validator.is_valid("off")
    assert not validator.is_valid({**HS, "algorithms": ["none"]})
    assert with_defaults(HS)["leeway"] == 30


def test_schema_plugs_into_the_config_schema():
    from veneer.wrapper.schema import config_schema

    assert config_schema()["properties"]["auth"] == SCHEMA


def test_from_config_resolves_relative_paths_against_the_config(tmp_path, public_key_file):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "pub.pem").write_bytes(public_key_file.read_bytes())
    config = Config(models=(), auth={"issuer": ISSUER, "public_key_file": "keys/pub.pem",
                                     "revocation_file": "revoked.json"},
                    source=tmp_path / "veneer.yaml")
    auth = Authenticator.from_config(config)
    assert auth.settings.public_key_file == tmp_path / "keys" / "pub.pem"
    assert auth.settings.revocation_file == tmp_path / "revoked.json"
    assert "jti" in auth.settings.required_claims


def test_make_auth_helper_rejects_bad_env():
    with pytest.raises(ConfigError):
        make_auth(env={})


def test_hs384_512_need_longer_secrets_and_small_rsa_keys_are_refused(tmp_path):
    env = {"VENEER_JWT_SECRET": "x" * 40}
    refused_config({**HS, "algorithms": ["HS512"]}, env=env, match="at least 64 bytes")
    assert parse_settings({**HS, "algorithms": ["HS256"]}, env=env).algorithms == ("HS256",)
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = tmp_path / "small.pem"
    small.write_bytes(pem_public(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    refused_config({"issuer": ISSUER, "public_key_file": str(small)}, match="1024 bits")


def test_describe_hides_jwks_url_credentials():
    auth = make_auth(jwks_url="https://user:pw@idp.example.com:8443/keys?token=abc")
    shown = auth.describe()["jwks_url"]
    assert shown == "https://idp.example.com:8443/keys"


def test_importing_auth_is_light():
    import subprocess
    import sys

    code = ("import sys, veneer.sidecar.auth; "
            "print(sorted(m for m in ('jwt', 'requests', 'cryptography', 'jsonschema', 'flask', 'onnxruntime', "
            "'mlflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
