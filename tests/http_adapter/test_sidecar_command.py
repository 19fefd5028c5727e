"""``veneer sidecar`` builds a one-model config around the http adapter (no server started here)."""

from __future__ import annotations

import argparse

import pytest

from veneer.sidecar.commands import sidecar
from veneer.wrapper.errors import ConfigError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sidecar.configure(parser)
    return parser.parse_args(list(argv))


def test_help_line_is_the_module_docstring() -> None:
    assert sidecar.__doc__.splitlines()[0].startswith("Front one legacy HTTP scoring service")


@pytest.mark.parametrize("url,name", [("http://127.0.0.1:9000/score", "score"),
                                      ("http://127.0.0.1:9000/v1/score.csv", "score.csv"),
                                      ("http://127.0.0.1:9000/", "model"), ("http://h:1/%20x!", "20x_")])
def test_default_model_name_from_url(url, name) -> None:
    assert sidecar.default_model_name(url) == name


def test_one_model_one_http_version_with_options_from_flags() -> None:
    config = sidecar.build(parse("--upstream", "http://127.0.0.1:9000/score", "--no-auth", "--idempotent",
                                 "--options", '{"request": {"body": "records"}}', "--prefix", "risk",
                                 "--health-url", "http://127.0.0.1:9000/healthz",
                                 "--command", "python3 service.py --port 9000"))
    (model,) = config.models
    assert (model.prefix, model.name) == ("risk", "score")
    (v,) = model.versions
    assert v.adapter == "http" and v.url == "http://127.0.0.1:9000/score" and v.idempotent is True
    assert v.options["request"] == {"body": "records"}
    assert v.options["health"] == {"url": "http://127.0.0.1:9000/healthz"}
    assert v.options["command"] == ["python3", "service.py", "--port", "9000"]
    assert config.auth is None


def test_options_file_and_config_file_are_combined(tmp_path) -> None:
    (tmp_path / "opts.yaml").write_text("response: {format: csv, column: score}\n")
    (tmp_path / "sidecar.yaml").write_text("prefix: legacy\nauth: {issuer: acme, secret_env: MY_SECRET}\n"
                                           "server: {threads: 8}\n")
    config = sidecar.build(parse("--upstream", "http://127.0.0.1:9000/score.csv", "--model", "churn",
                                 "--config", str(tmp_path / "sidecar.yaml"),
                                 "--options", str(tmp_path / "opts.yaml")))
    assert config.models[0].qualified_name == "legacy/churn"
    assert config.models[0].versions[0].options["response"]["column"] == "score"
    assert config.auth["issuer"] == "acme" and config.server.threads == 8


@pytest.mark.parametrize("argv,message", [
    (("--upstream", "http://127.0.0.1:9000/score"), "--no-auth"),
    (("--upstream", "http://127.0.0.1:9000/score", "--no-auth", "--options", '{"timeouts": {"read": -1}}'),
     "options.timeouts.read"),
    (("--upstream", "http://127.0.0.1:9000/score", "--no-auth", "--options", "missing.yaml"),
     "neither a file"),
    (("--no-auth",), "Nothing to serve"),
])
def test_bad_invocations_are_config_errors(argv, message) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        sidecar.build(parse(*argv))


def test_run_reports_errors_with_exit_code_2(capsys) -> None:
    assert sidecar.run(parse("--upstream", "ftp://127.0.0.1/score", "--no-auth")) == 2
    assert "not an http(s) URL" in capsys.readouterr().err


def test_upstream_may_be_given_as_the_positional_argument() -> None:
    config = sidecar.build(parse("http://127.0.0.1:9000/score_one", "--no-auth", "--workers", "3",
                                 "--no-register"))
    assert config.models[0].name == "score_one" and config.registry["enabled"] is False
    assert sidecar.server_overrides(parse("http://x/y", "--workers", "3")) == {"workers": 3}


def test_example_config_validates_with_three_http_mappings() -> None:
    from veneer.wrapper.config import load_config

    from .conftest import SERVICE

    config = load_config(SERVICE.parent / "veneer.yaml")
    names = sorted(m.qualified_name for m in config.models)
    assert names == ["legacy/churn_csv", "legacy/churn_form", "legacy/churn_json"]
    formats = {m.name: m.versions[0].options["request"].get("format") for m in config.models}
    assert formats == {"churn_json": "json", "churn_csv": "csv", "churn_form": "form"}
    assert config.find_model("legacy", "churn_json").versions[0].options["command"][0] == "{python}"


def test_sidecar_section_of_the_example_file_describes_the_model() -> None:
    from .conftest import SERVICE

    config = sidecar.build(parse("--config", str(SERVICE.parent / "sidecar.yaml")))
    (model,) = config.models
    assert model.qualified_name == "legacy/churn"
    (v,) = model.versions
    assert v.url == "http://127.0.0.1:9000/score" and v.idempotent is True
    assert v.options["health"]["url"] == "http://127.0.0.1:9000/healthz"
    assert v.options["response"]["path"] == "result.scores[*]"
    assert config.auth["secret_env"] == "VENEER_JWT_SECRET" and config.server.threads == 8
    flags_win = sidecar.build(parse("--config", str(SERVICE.parent / "sidecar.yaml"), "--model", "other",
                                    "--upstream", "http://127.0.0.1:9001/score"))
    assert flags_win.models[0].name == "other" and flags_win.models[0].versions[0].url.endswith(":9001/score")


def test_unknown_sidecar_section_key_is_named(tmp_path) -> None:
    (tmp_path / "s.yaml").write_text("sidecar: {upstream: 'http://127.0.0.1:1/x', timeout: 3}\nauth: none\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['timeout'\]"):
        sidecar.build(parse("--config", str(tmp_path / "s.yaml")))
