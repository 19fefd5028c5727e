"""Front one legacy HTTP scoring service with veneer's protocols, tokens, metrics and registration.

Example: ``veneer sidecar --upstream http://127.0.0.1:9000/score --no-auth`` builds a config with one
model whose one version is the ``http`` adapter and serves it. ``--config`` adds
the rest of a veneer.yaml (auth, server, registry, other models) and may describe the
sidecar's model in a ``sidecar:`` section; ``--options`` gives the adapter's options
(payload mapping, timeouts, retries, ``command:``...). Flags win over the file.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from veneer.wrapper.errors import ConfigError

from ._server_flags import add_server_flags, server_overrides


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the sidecar's flags."""
    parser.add_argument("upstream_url", nargs="?", metavar="URL", help="same as --upstream")
    parser.add_argument("--upstream", metavar="URL",
                        help="address of the legacy service's scoring endpoint, e.g. http://127.0.0.1:9000/score")
    parser.add_argument("--config", metavar="FILE",
                        help="a veneer.yaml for auth, server, registry (the sidecar model is added to it)")
    parser.add_argument("--options", metavar="FILE_OR_JSON",
                        help="options of the http adapter: a YAML/JSON file or an inline JSON object")
    parser.add_argument("--model", help="model name (default: the URL's last path segment, or 'model')")
    parser.add_argument("--prefix", help="URL prefix of the model (default: the config's, or 'models')")
    parser.add_argument("--model-version", dest="model_version", default="1", help="version name (default 1)")
    parser.add_argument("--health-url", dest="health_url", metavar="URL", help="the service's health URL")
    parser.add_argument("--command", metavar="CMD",
                        help="start and supervise the service with this command line (shell-style quoting)")
    parser.add_argument("--idempotent", action="store_true",
                        help="the service has no side effects: 502/503/504 answers may be retried")
    parser.add_argument("--no-register", dest="no_register", action="store_true",
                        help="do not register with a model registry (default: the config's registry section)")
    parser.add_argument("--no-auth", dest="no_auth", action="store_true",
                        help="serve without tokens (local use only) when no --config sets auth")
    parser.add_argument("--issuer", help="token issuer, with --secret-env, when no --config sets auth")
    parser.add_argument("--secret-env", dest="secret_env", metavar="NAME",
                        help="environment variable holding the HS256 token secret")
    add_server_flags(parser)


def _read_options(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    text = value if value.lstrip().startswith("{") else None
    if text is None:
        path = Path(value)
        if not path.is_file():
            raise ConfigError(f"--options {value!r} is neither a file nor an inline JSON object.",
                              fix="Pass a YAML/JSON file of http adapter options, or '{\"request\": ...}'.")
        text = path.read_text(encoding="utf-8")
    import yaml

    try:
        opts = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise ConfigError(f"--options cannot be parsed: {e}.") from e
    if not isinstance(opts, dict):
        raise ConfigError("--options must be a mapping of http adapter options.")
    return opts


def default_model_name(upstream: str) -> str:
    """The URL's last path segment as a model name (``/v1/score.csv`` → ``score.csv``), else ``model``."""
    segment = urlsplit(upstream).path.rstrip("/").rsplit("/", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", segment).lstrip("_.-")
    return name or "model"


SECTION_KEYS = ("upstream", "model", "prefix", "version", "idempotent", "health_url", "command", "options")


def _section(data: dict[str, Any]) -> dict[str, Any]:
    """The ``sidecar:`` section of a --config (removed: it is not part of veneer.yaml's schema)."""
    section = data.pop("sidecar", None) or {}
    if not isinstance(section, dict):
        raise ConfigError("'sidecar' must be a mapping.", path="sidecar", fix=f"Use the keys {SECTION_KEYS}.")
    unknown = sorted(set(section) - set(SECTION_KEYS))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in the sidecar section.", path="sidecar",
                          fix=f"Known keys: {', '.join(SECTION_KEYS)}.")
    return section


def sidecar_data(args: argparse.Namespace, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config mapping: ``base`` (a parsed veneer.yaml or {}) plus the sidecar's model.

    The model comes from the flags, or from a ``sidecar:`` section of the config file
    (flags win): ``{upstream, model, prefix, version, idempotent, health_url, command, options}``.
    """
    data = dict(base or {})
    section = _section(data)
    if getattr(args, "no_register", False):
        data["registry"] = {**(data.get("registry") or {}), "enabled": False}
    upstream = args.upstream or section.get("upstream")
    if not upstream:
        if not data.get("models"):
            raise ConfigError("Nothing to serve: no --upstream and no models in --config.",
                              fix="Pass --upstream http://HOST:PORT/PATH of the legacy service.")
        return data
    if urlsplit(str(upstream)).scheme not in ("http", "https"):
        raise ConfigError(f"--upstream {upstream!r} is not an http(s) URL.",
                          fix="Write e.g. --upstream http://127.0.0.1:9000/score.")
    opts = {**dict(section.get("options") or {}), **_read_options(args.options)}
    health_url = args.health_url or section.get("health_url")
    if health_url:
        opts["health"] = {**(opts.get("health") or {}), "url": health_url}
    command = shlex.split(args.command) if args.command else section.get("command")
    if command:
        opts["command"] = shlex.split(command) if isinstance(command, str) else list(command)
    name = args.model or section.get("model") or default_model_name(upstream)
    models = dict(data.get("models") or {})
    if name in models:
        raise ConfigError(f"--config already has a model {name!r}.", fix="Pick another name with --model.")
    version = str(section.get("version") or args.model_version)
    idempotent = bool(args.idempotent or section.get("idempotent", False))
    model: dict[str, Any] = {"versions": [{"version": version, "adapter": "http", "url": upstream,
                                           "idempotent": idempotent, "options": opts}]}
    prefix = args.prefix or section.get("prefix")
    if prefix:
        model["prefix"] = prefix
    models[name] = model
    data["models"] = models
    if "auth" not in data:
        if args.no_auth:
            data["auth"] = "none"
        elif args.issuer and args.secret_env:
            data["auth"] = {"issuer": args.issuer, "secret_env": args.secret_env}
        else:
            raise ConfigError("The sidecar checks tokens unless told otherwise, and no auth is configured.",
                              fix="Pass --issuer ISS --secret-env VAR, a --config with an auth section, "
                                  "or --no-auth for local use.")
    return data


def build(args: argparse.Namespace) -> Any:
    """The validated ``Config`` the sidecar serves."""
    if getattr(args, "upstream_url", None) and not args.upstream:
        args.upstream = args.upstream_url
    from veneer.wrapper.config import build_config

    base, lines, source = {}, None, None
    if args.config:
        from veneer.wrapper.yaml_lines import load_with_lines

        source = Path(args.config).resolve()
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"config file {args.config!r} cannot be read: {e}.") from e
        base, lines = load_with_lines(text, file=str(source))
        if not isinstance(base, dict):
            raise ConfigError("the top level must be a mapping.", file=str(source), line=1)
    return build_config(sidecar_data(args, base), source=source, lines=lines)


def run(args: argparse.Namespace) -> int:
    """Build the config and serve it; configuration errors exit with 2 and a message."""
    try:
        config = build(args)
    except ConfigError as e:
        print(f"veneer sidecar: {e}", file=sys.stderr)
        return 2
    from veneer.sidecar.server import run as serve

    return serve(config, **server_overrides(args))
