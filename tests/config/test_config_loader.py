"""veneer.yaml loading: validation errors name file, key path and line; defaults; env overrides."""

from __future__ import annotations

import json
import textwrap

import jsonschema
import pytest

from veneer.wrapper.config import load_config
from veneer.wrapper.errors import ConfigError
from veneer.wrapper.schema import config_schema

TOY = "tests.fixtures.toy_adapters:SumAdapter"


def write(tmp_path, text: str):
    path = tmp_path / "veneer.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def error_of(path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    return info.value


def test_minimal_config_fills_defaults(tmp_path):
    cfg = load_config(write(tmp_path, f"""
        prefix: risk
        auth: none
        models:
          churn:
            versions:
              - {{version: 1, adapter: "{TOY}"}}
        """), env={})
    model = cfg.models[0]
    assert model.qualified_name == "risk/churn"
    v = model.versions[0]
    assert v.version == "1" and v.weight is None and v.stage is None and v.draft is False
    assert cfg.server.port == 8080 and cfg.server.workers == 2 and cfg.server.max_request_bytes == 32 * 2**20
    assert cfg.auth is None
    assert cfg.server.state_dir == (tmp_path / ".veneer-state").resolve()


def test_unknown_key_names_file_line_path_and_suggestion(tmp_path):
    path = write(tmp_path, f"""
        prefix: risk
        auth: none
        models:
          churn:
            versions:
              - version: "1"
                adapter: "{TOY}"
                wieght: 10
        """)
    err = error_of(path)
    text = str(err)
    assert str(path) in text and ":8" in text
    assert "models.churn.versions[0].wieght" in text
    assert "Did you mean 'weight'?" in text
    assert err.line == 8


def test_wrong_type_and_enum_errors_point_at_the_value(tmp_path):
    err = error_of(write(tmp_path, f"""
        auth: none
        models:
          m:
            versions:
              - {{version: "1", adapter: "{TOY}", stage: prod}}
        """))
    assert "stage" in err.key_path and "'prod' is not one of" in str(err) and err.line == 5
    err = error_of(write(tmp_path, """
        auth: none
        server:
          port: eighty
        models: {}
        """))
    assert err.key_path == "server.port" and err.line == 3


def test_unknown_adapter_lists_known_ones(tmp_path):
    err = error_of(write(tmp_path, """
        auth: none
        models:
          m:
            versions:
              - {version: "1", adapter: onxx, path: m.onnx}
        """))
    assert "Did you mean 'onnx'?" in str(err) and "pickle" in str(err) and err.line == 5


def test_duplicate_keys_and_versions_are_refused(tmp_path):
    err = error_of(write(tmp_path, """
        auth: none
        auth: none
        models: {}
        """))
    assert "appears twice" in str(err) and err.line == 2
    err = error_of(write(tmp_path, f"""
        auth: none
        models:
          m:
            versions:
              - {{version: "1", adapter: "{TOY}"}}
              - {{version: 1, adapter: "{TOY}"}}
        """))
    assert "version '1' of model 'm' appears twice" in str(err)


def test_missing_auth_is_an_error_not_an_open_server(tmp_path):
    err = error_of(write(tmp_path, f"""
        models:
          m:
            versions:
              - {{version: "1", adapter: "{TOY}"}}
        """))
    assert "auth" in str(err) and "auth: none" in str(err)


def test_invalid_yaml_reports_line(tmp_path):
    err = error_of(write(tmp_path, "models:\n  m: [unclosed\n"))
    assert "not valid YAML" in str(err) and err.line is not None


def test_env_overrides_file_and_flags_override_env(tmp_path):
    path = write(tmp_path, f"""
        auth: none
        server: {{port: 9000, workers: 3}}
        models:
          m:
            versions:
              - {{version: "1", adapter: "{TOY}"}}
        """)
    cfg = load_config(path, env={"VENEER_PORT": "9100", "VENEER_PRELOAD": "false"})
    assert cfg.server.port == 9100 and cfg.server.workers == 3 and cfg.server.preload is False
    cfg = load_config(path, env={"VENEER_PORT": "9100"}, overrides={"port": 9200})
    assert cfg.server.port == 9200
    with pytest.raises(ConfigError, match="VENEER_WORKERS='many' is not an integer"):
        load_config(path, env={"VENEER_WORKERS": "many"})


def test_adapter_options_are_validated_with_the_adapters_schema(tmp_path):
    err = error_of(write(tmp_path, f"""
        auth: none
        models:
          m:
            versions:
              - version: "1"
                adapter: "{TOY}"
                options: {{ofset: 3}}
        """))
    assert "options.ofset" in err.key_path and "Did you mean 'offset'?" in str(err)


def test_schema_is_valid_and_every_default_passes_its_own_schema():
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)

    def walk(node, path="$"):
        if isinstance(node, dict):
            if "default" in node and "type" in node or "enum" in node and "default" in node:
                jsonschema.Draft202012Validator({k: v for k, v in node.items()
                                                 if k not in ("default", "description")}).validate(node["default"])
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(schema)


def test_every_property_is_documented():
    missing = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, prop in node.get("properties", {}).items():
                if isinstance(prop, dict) and "description" not in prop:
                    missing.append(f"{path}.{key}")
                walk(prop, f"{path}.{key}")
            for key in ("additionalProperties", "items"):
                if isinstance(node.get(key), dict):
                    walk(node[key], f"{path}.{key}")
            for alt in node.get("oneOf", []) + node.get("anyOf", []):
                walk(alt, path)

    walk(config_schema(), "$")
    assert not missing, missing


def test_schema_command_prints_json(capsys):
    from veneer.sidecar.cli import main

    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "veneer.yaml"
