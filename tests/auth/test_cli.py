"""``veneer token`` and ``veneer keys`` through the real CLI entry point (in process)."""

from __future__ import annotations

import json
import stat

import pytest

from veneer.sidecar.auth import Authenticator
from veneer.sidecar.cli import main
from veneer.wrapper.config import load_config

from .conftest import ISSUER, SECRET, JwksServer, bearer

YAML = """\
prefix: marketing
auth:
  issuer: {issuer}
  {source}
  revocation_file: revoked.json
  max_lifetime_seconds: 864000
models: {{}}
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VENEER_JWT_SECRET", SECRET)
    (tmp_path / "veneer.yaml").write_text(YAML.format(issuer=ISSUER, source="secret_env: VENEER_JWT_SECRET"))
    return tmp_path


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_inspect_verify_revoke_round_trip(workdir, capsys):
    code, out, err = cli(capsys, "token", "create", "--owner", "alice", "--prefix", "marketing", "--model",
                         "churn", "--permission", "predict", "--permission", "metadata", "--expires", "1d",
                         "--claim", "team=fraud", "--claim", 'tier={"level": 2}', "--global-id", "acme",
                         "--group", "mkt")
    assert code == 0, err
    token = out.strip()
    assert token.count(".") == 2 and "\n" not in token
    assert "alice" in err and token not in err

    code, out, _ = cli(capsys, "token", "inspect", token)
    report = json.loads(out)
    assert code == 0 and report["accepted"] is True
    claims = report["claims"]
    assert (claims["sub"], claims["scope"], claims["perm"], claims["gid"], claims["groups"]) == \
        ("alice", ["marketing/churn"], ["predict", "metadata"], "acme", ["mkt"])
    assert (claims["team"], claims["tier"], claims["exp"] - claims["iat"]) == ("fraud", {"level": 2}, 86400)

    auth = Authenticator.from_config(load_config(workdir / "veneer.yaml"))
    principal = auth.authenticate(bearer(token))
    assert principal.scopes == ("marketing/churn",) and principal.gid == "acme"

    code, out, _ = cli(capsys, "token", "revoke", claims["jti"])
    assert code == 0 and "within 1s" in out
    code, out, _ = cli(capsys, "token", "inspect", token)
    assert code == 1 and json.loads(out)["reason"] == "revoked"


def test_revoke_accepts_the_token_itself(workdir, capsys):
    token = cli(capsys, "token", "create", "--owner", "bob", "--prefix", "marketing")[1].strip()
    assert cli(capsys, "token", "revoke", token)[0] == 0
    revoked = json.loads((workdir / "revoked.json").read_text())["revoked"]
    claims = json.loads(cli(capsys, "token", "inspect", token)[1])["claims"]
    assert revoked == {claims["jti"]: claims["exp"] + 30}


def test_inspect_without_config_only_decodes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    import jwt

    token = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256")
    code, out, _ = cli(capsys, "token", "inspect", token)
    assert code == 0 and json.loads(out)["accepted"] is None
    code, out, _ = cli(capsys, "token", "inspect", "not-a-token")
    assert code == 1 and json.loads(out)["reason"] == "malformed"


@pytest.mark.parametrize("argv, message", [
    (["--claim", "sub=root"], "reserved"),
    (["--claim", "x={\"a\": __import__('os').system('id')}"], "never evaluated"),
    (["--expires", "11d"], "max_lifetime_seconds"),
    (["--expires", "soon"], "not understood"),
    (["--permission", "root"], "unknown permission"),
    (["--model", "churn", "--prefix", "a/../b"], "is not 'prefix' or 'prefix/model'"),
])
def test_create_refuses_bad_input(workdir, capsys, argv, message):
    base = ["token", "create", "--owner", "alice"]
    if "--prefix" not in argv:
        base += ["--prefix", "marketing"]
    code, out, err = cli(capsys, *base, *argv)
    assert code == 2 and out == "" and message in err


def test_create_needs_an_auth_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "token", "create", "--owner", "a", "--prefix", "p")
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_generated_key_pair_signs_tokens_that_verify(tmp_path, monkeypatch, capsys, alg):
    monkeypatch.chdir(tmp_path)
    extra = ["--bits", "2048"] if alg == "RS256" else []
    code, out, _ = cli(capsys, "keys", "generate", "--alg", alg, "--out", "keys", *extra)
    assert code == 0
    assert stat.S_IMODE((tmp_path / "keys" / "private.pem").stat().st_mode) == 0o600
    jwks = json.loads((tmp_path / "keys" / "jwks.json").read_text())
    assert jwks["keys"][0]["alg"] == alg and jwks["keys"][0]["kid"] in out
    assert "PRIVATE" not in (tmp_path / "keys" / "jwks.json").read_text()

    (tmp_path / "veneer.yaml").write_text(YAML.format(issuer=ISSUER, source="public_key_file: keys/public.pem"))
    code, out, err = cli(capsys, "token", "create", "--owner", "svc", "--prefix", "marketing",
                         "--private-key", "keys/private.pem")
    assert code == 0, err
    token = out.strip()
    auth = Authenticator.from_config(load_config(tmp_path / "veneer.yaml"))
    assert auth.settings.algorithms == (alg,)
    assert auth.authenticate(bearer(token)).sub == "svc"

    server = JwksServer()  # the same jwks.json published by an IdP: the kid matches
    try:
        server.keys = jwks["keys"]
        (tmp_path / "jwks.yaml").write_text(YAML.format(issuer=ISSUER, source=f"jwks_url: {server.url}")
                                            .replace("models: {}", f"models: {{}}\n").replace(
                                                "jwks_url", f"algorithms: [{alg}]\n  jwks_url"))
        jauth = Authenticator.from_config(load_config(tmp_path / "jwks.yaml"))
        assert jauth.authenticate(bearer(token)).sub == "svc"
    finally:
        server.stop()

    code, _, err = cli(capsys, "keys", "generate", "--alg", alg, "--out", "keys", *extra)
    assert code == 2 and "refusing to overwrite" in err


def test_wrong_private_key_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "keys", "generate", "--alg", "ES256", "--out", "a")[0] == 0
    assert cli(capsys, "keys", "generate", "--alg", "ES256", "--out", "b")[0] == 0
    (tmp_path / "veneer.yaml").write_text(YAML.format(issuer=ISSUER, source="public_key_file: a/public.pem"))
    code, out, err = cli(capsys, "token", "create", "--owner", "x", "--prefix", "p", "--private-key", "b/private.pem")
    assert code == 2 and out == "" and "not the pair" in err
    code, out, err = cli(capsys, "token", "create", "--owner", "x", "--prefix", "p")
    assert code == 2 and "--private-key" in err


def test_hs_secret_generation(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, "keys", "generate", "--alg", "HS256", "--out", "s")
    secret = (tmp_path / "s" / "secret").read_text()
    assert code == 0 and len(secret.encode()) >= 32 and secret not in out
    assert stat.S_IMODE((tmp_path / "s" / "secret").stat().st_mode) == 0o600
