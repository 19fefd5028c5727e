"""Turn what ``veneer serve`` was given into a ``Config``.

A ``.yaml``/``.yml`` file is a config. Anything else names Python code with
``@veneer.model`` functions: a module (``legacy_scoring``), a file
(``path/legacy_scoring.py``), or one function (``legacy_scoring:score``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from veneer.wrapper.config import build_config, load_config
from veneer.wrapper.errors import ConfigError
from veneer.wrapper.settings import Config, ModelSpec, VersionSpec

from .model_store import DECORATED_FUNCTIONS


def load_target(target: str, *, auth_off: bool = False) -> Config:
    """The config for ``target`` (a YAML file, or a module / file / module:function)."""
    if target.endswith((".yaml", ".yml")):
        config = load_config(target)
    else:
        config = config_from_module(target, auth_off=auth_off)
    if auth_off and config.auth is not None:
        from dataclasses import replace

        config = replace(config, auth=None)
    return config


def import_target(target: str):
    """Import the module part of ``target``; returns ``(module, function name or None)``."""
    module_part, _, func_name = target.partition(":")
    path = Path(module_part)
    if module_part.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"{module_part!r} does not exist.", fix="Pass a .py file, a module name or a .yaml.")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = path.stem
        if name in sys.modules:
            return sys.modules[name], func_name or None
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module, func_name or None
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_part), func_name or None
    except ModuleNotFoundError as e:
        raise ConfigError(f"cannot import {module_part!r}: {e}.",
                          fix="Run from the module's folder, or pass the .py file's path.") from e


def config_from_module(target: str, *, auth_off: bool = False) -> Config:
    """A config serving every ``@veneer.model`` function of a module (or just the one named)."""
    from veneer.wrapper.decorator import DECORATED

    before = len(DECORATED)
    module, func_name = import_target(target)
    entries = [d for d in DECORATED if getattr(d.func, "__module__", None) == module.__name__] or DECORATED[before:]
    if func_name:
        entries = [d for d in entries if d.func.__name__ == func_name]
        if not entries:
            raise ConfigError(f"{target!r}: no @veneer.model function named {func_name!r} in {module.__name__}.")
    if not entries:
        raise ConfigError(f"{target!r} has no function decorated with @veneer.model.",
                          fix="Add @veneer.model(\"name\") above the predict function, or pass a veneer.yaml.")
    models: dict[str, list] = {}
    for d in entries:
        prefix = d.prefix or "models"
        spec = VersionSpec(version=d.version, adapter="decorated", stage=d.stage, weight=d.weight,
                           draft=d.draft, model=d.name, prefix=prefix, origin=f"{module.__name__}.{d.func.__name__}")
        DECORATED_FUNCTIONS[(spec.qualified_name, spec.version)] = d.func
        models.setdefault(f"{prefix}/{d.name}", []).append((spec, d))
    specs = tuple(ModelSpec(name=group[0][1].name, prefix=group[0][0].prefix,
                            versions=tuple(s for s, _ in group), description=group[0][1].description)
                  for group in models.values())
    auth = None if auth_off else _auth_from_env()
    base = build_config({"auth": auth or "none"})
    from dataclasses import replace

    return replace(base, models=specs, auth=base.auth)


def _auth_from_env():
    """Decorated modules have no YAML: auth comes from VENEER_JWT_SECRET, or must be turned off."""
    if os.environ.get("VENEER_JWT_SECRET"):
        return {"issuer": os.environ.get("VENEER_JWT_ISSUER", "veneer"),
                "audience": os.environ.get("VENEER_JWT_AUDIENCE", "veneer"), "secret_env": "VENEER_JWT_SECRET"}
    raise ConfigError("auth is on by default, and serving decorated functions found no key: "
                      "VENEER_JWT_SECRET is not set.",
                      fix="Set VENEER_JWT_SECRET (32+ bytes) to check tokens, or pass --no-auth for local use.")
