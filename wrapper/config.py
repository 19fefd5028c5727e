"""Load and validate ``veneer.yaml`` into a frozen ``Config``.

Validation uses jsonschema against ``schema.config_schema()``; every error names
the file, the key path and the line, and unknown keys get a "did you mean".
Defaults declared in the schema fill omitted keys. Server settings can be
overridden by ``VENEER_<NAME>`` environment variables and by explicit overrides
(CLI flags), in that order of precedence: overrides > environment > file.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Mapping

import jsonschema

from . import schema as schema_module
from .errors import ConfigError
from .settings import (AccessList, Config, ModelSpec, PrefixSpec, ServerSettings, VersionSpec)
from .yaml_lines import format_path, line_of, load_with_lines

ENV_PREFIX = "VENEER_"
_ARTIFACT_FIELDS = {"pickle": "path", "onnx": "path"}


def load_config(path: str | os.PathLike, *, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Read, validate and build the config at ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"config file {str(file)!r} does not exist.",
                          fix="Pass the path of a veneer.yaml (see `veneer schema`).") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {str(file)!r} cannot be read: {e}.") from e
    data, lines = load_with_lines(text, file=str(file))
    return build_config(data, source=file.resolve(), lines=lines, env=env, overrides=overrides)


def build_config(data: Any, *, source: Path | None = None, lines: dict | None = None,
                 env: Mapping[str, str] | None = None,
                 overrides: Mapping[str, Any] | None = None) -> Config:
    """Validate an already-parsed mapping (from YAML, or built in code) into a ``Config``."""
    file = str(source) if source else "<config>"
    lines = lines or {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be a mapping, not {type(data).__name__}.", file=file, line=1)
    data = dict(data)
    data["server"] = _server_with_env(dict(data.get("server") or {}), env, overrides, file, lines)
    schema = schema_module.frozen_schema()
    _validate(data, schema, file, lines)
    data = _with_defaults(data, schema)
    base = source.parent if source else Path.cwd()
    models = tuple(_build_models(data, base, file, lines))
    _check_unique_qualified(models, file)
    auth = data.get("auth")
    if auth in (None, "none", False):
        if "auth" not in data and models:
            raise ConfigError("no 'auth' section: tokens are checked unless you turn them off explicitly.",
                              file=file, path="auth", line=1,
                              fix="Add an auth section (issuer, audience, secret_env / public_key_file / "
                                  "jwks_url) or 'auth: none' for local use.")
        auth = None
    server = _build_server(data["server"], base)
    return Config(
        models=models, server=server,
        prefixes={name: PrefixSpec(name=name, access=_access(p.get("access")),
                                   docs_public=p.get("docs_public", False))
                  for name, p in (data.get("prefixes") or {}).items()},
        auth=auth, registry=data.get("registry") or {}, deployment=data.get("deployment") or {},
        accelerate=None if data.get("accelerate") in (None, "none") else data["accelerate"],
        startup_script=(env or os.environ).get("VENEER_STARTUP_SCRIPT") or data.get("startup_script"),
        source=source, raw=data)


def _server_with_env(server: dict, env: Mapping[str, str] | None, overrides: Mapping[str, Any] | None,
                     file: str, lines: dict) -> dict:
    props = schema_module.frozen_schema()["properties"]["server"]["properties"]
    env = os.environ if env is None else env
    for name, prop in props.items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            server[name] = _coerce_env(name, raw, prop)
    for name, value in (overrides or {}).items():
        if value is not None:
            if name not in props:
                raise ConfigError(f"unknown server option {name!r}.", file=file, path=f"server.{name}")
            server[name] = value
    return server


def _coerce_env(name: str, raw: str, prop: Mapping[str, Any]) -> Any:
    kinds = prop.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    var = ENV_PREFIX + name.upper()
    if "boolean" in kinds:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"environment variable {var}={raw!r} is not a boolean.", fix="Use true or false.")
    if "integer" in kinds:
        try:
            return int(raw)
        except ValueError as e:
            raise ConfigError(f"environment variable {var}={raw!r} is not an integer.") from e
    if "null" in kinds and raw.lower() in ("none", "null"):
        return None
    return raw


def _validate(data: dict, schema: dict, file: str, lines: dict) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors) if len(errors) > 1 else errors[0]
    path = tuple(err.absolute_path)
    message, fix, key_path = _explain(err, path)
    raise ConfigError(message, file=file, path=format_path(key_path) or None,
                      line=line_of(lines, key_path), fix=fix)


def _explain(err: jsonschema.ValidationError, path: tuple) -> tuple[str, str | None, tuple]:
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = list(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        if extra:
            key = extra[0]
            close = difflib.get_close_matches(str(key), allowed, n=1)
            fix = f"Did you mean {close[0]!r}?" if close else f"Known keys here: {', '.join(allowed)}."
            return f"unknown key {key!r}.", fix, path + (key,)
    if err.validator == "propertyNames":
        return f"name {err.instance!r} is not allowed: {err.message}.", \
            "Use letters, digits, '_', '.', '-' (and '/' between prefix segments).", path
    if err.validator == "required":
        return f"{err.message}.", None, path
    if err.validator == "enum":
        options = ", ".join("none" if v is None else str(v) for v in err.validator_value)
        return f"{err.instance!r} is not one of: {options}.", None, path
    if err.validator == "type":
        expected = err.validator_value
        return f"{err.instance!r} is not of type {expected}.", \
            ("Quote version ids, e.g. version: \"1.10\"." if path and path[-1] == "version" else None), path
    return f"{err.message}.", None, path


def _with_defaults(data: Any, schema: Mapping[str, Any]) -> Any:
    """Fill omitted keys with their schema defaults, recursively."""
    if isinstance(data, dict):
        props = schema.get("properties", {})
        out = dict(data)
        for key, prop in props.items():
            if key not in out and "default" in prop:
                out[key] = _with_defaults(_copy(prop["default"]), prop)
            elif key in out:
                out[key] = _with_defaults(out[key], prop)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in out:
                if key not in props:
                    out[key] = _with_defaults(out[key], extra)
        return out
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [_with_defaults(item, schema["items"]) for item in data]
    return data


def _copy(value: Any) -> Any:
    return {k: _copy(v) for k, v in value.items()} if isinstance(value, dict) else \
        [_copy(v) for v in value] if isinstance(value, list) else value


def _access(raw: Mapping[str, Any] | None) -> AccessList:
    raw = raw or {}
    return AccessList(users=tuple(raw.get("users", ())), groups=tuple(raw.get("groups", ())))


def _build_models(data: dict, base: Path, file: str, lines: dict):
    from veneer.adapters.registry import get_adapter_class

    default_prefix = data.get("prefix", "models")
    for name, raw in (data.get("models") or {}).items():
        prefix = raw.get("prefix") or default_prefix
        versions = []
        seen: set[str] = set()
        for i, v in enumerate(raw["versions"]):
            where = ("models", name, "versions", i)
            vid = str(v["version"])
            if vid in seen:
                raise ConfigError(f"version {vid!r} of model {name!r} appears twice.", file=file,
                                  path=format_path(where), line=line_of(lines, where))
            seen.add(vid)
            try:
                cls = get_adapter_class(v["adapter"])
            except ConfigError as e:
                raise ConfigError(e.message, file=file, path=format_path(where + ("adapter",)),
                                  line=line_of(lines, where + ("adapter",)), fix=e.fix) from e
            except ImportError as e:
                raise ConfigError(str(e), file=file, path=format_path(where + ("adapter",)),
                                  line=line_of(lines, where + ("adapter",))) from e
            _validate_options(cls, v.get("options") or {}, where + ("options",), file, lines)
            needs = _ARTIFACT_FIELDS.get(v["adapter"])
            if needs and not v.get(needs):
                raise ConfigError(f"adapter {v['adapter']!r} needs '{needs}'.", file=file,
                                  path=format_path(where), line=line_of(lines, where))
            if v["adapter"] == "http" and not v.get("url"):
                raise ConfigError("adapter 'http' needs 'url' (the legacy service's scoring URL).", file=file,
                                  path=format_path(where), line=line_of(lines, where))
            if v["adapter"] == "mlflow" and not (v.get("path") or v.get("uri")):
                raise ConfigError("adapter 'mlflow' needs 'path' (a model folder) or 'uri' (models:/...).",
                                  file=file, path=format_path(where), line=line_of(lines, where))
            options = dict(v.get("options") or {})
            if "search_path" in options:
                options["search_path"] = str((base / options["search_path"]).resolve())
            versions.append(VersionSpec(
                version=vid, adapter=v["adapter"],
                path=(base / v["path"]).resolve() if v.get("path") else None,
                uri=v.get("uri"), url=v.get("url"),
                sha256=v["sha256"].lower() if v.get("sha256") else None,
                stage=v.get("stage"), weight=v.get("weight"), draft=v.get("draft", False),
                trusted=v.get("trusted", False), allow_modules=tuple(v.get("allow_modules", ())),
                accelerate=v.get("accelerate") if v.get("accelerate") not in (None,) else
                (data.get("accelerate") if data.get("accelerate") != "none" else None),
                idempotent=v.get("idempotent", False), options=options,
                probe=(base / v["probe"]).resolve() if v.get("probe") else None, model=name, prefix=prefix,
                origin=f"{file}:{line_of(lines, where) or '?'}"))
        yield ModelSpec(name=name, prefix=prefix, versions=tuple(versions),
                        cascade_prefix_tokens=raw.get("cascade_prefix_tokens", False),
                        access=_access(raw.get("access")), description=raw.get("description", ""))


def _validate_options(cls: type, options: dict, where: tuple, file: str, lines: dict) -> None:
    schema = getattr(cls, "options_schema", None)
    if not schema:
        return
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(options))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        path = where + tuple(err.absolute_path)
        message, fix, key_path = _explain(err, path)
        raise ConfigError(message, file=file, path=format_path(key_path),
                          line=line_of(lines, key_path), fix=fix)


def _check_unique_qualified(models: tuple[ModelSpec, ...], file: str) -> None:
    seen: set[str] = set()
    for m in models:
        if m.qualified_name in seen:
            raise ConfigError(f"two models are named {m.qualified_name!r}.", file=file, path=f"models.{m.name}")
        seen.add(m.qualified_name)


def _build_server(raw: Mapping[str, Any], base: Path) -> ServerSettings:
    fields = {k: v for k, v in raw.items() if k in ServerSettings.__dataclass_fields__}
    state = fields.get("state_dir")
    fields["state_dir"] = (base / state).resolve() if state else (base / ".veneer-state").resolve()
    return ServerSettings(**fields)
