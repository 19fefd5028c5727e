"""The JSON Schema of ``veneer.yaml``, assembled from one module per section.

``config_schema()`` is what ``veneer schema`` prints and what the loader
validates against; every property carries a ``description`` and, where it has
one, a ``default`` (the loader fills omitted keys from them, and the README's
reference is generated from them).
"""

from __future__ import annotations

import copy
import importlib
from functools import lru_cache
from typing import Any

from .models import MODELS, PREFIX_PATTERN, PREFIXES
from .server import SCHEMA as SERVER

_SECTION_MODULES = {"auth": "auth", "registry": "registry", "deployment": "deployment"}


def _section(name: str) -> dict[str, Any]:
    return importlib.import_module(f"{__name__}.{_SECTION_MODULES[name]}").SCHEMA


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://veneer.dev/schema/veneer.yaml.json",
        "title": "veneer.yaml",
        "description": "Configuration of a veneer server: models, versions, auth, registry and server options.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "prefix": {"type": "string", "pattern": PREFIX_PATTERN, "default": "models",
                       "description": "Default URL namespace of the models below."},
            "prefixes": PREFIXES,
            "auth": _section("auth"),
            "models": MODELS,
            "server": SERVER,
            "registry": _section("registry"),
            "deployment": _section("deployment"),
            "accelerate": {"enum": ["none", "onnx"], "default": "none",
                           "description": "Server-wide default of the versions' 'accelerate' option."},
            "startup_script": {"type": ["string", "null"], "default": None,
                               "description": "A shell script run once before serving (e.g. pip install); "
                                              "its failure stops the start. Also VENEER_STARTUP_SCRIPT."},
        },
    }


def config_schema() -> dict[str, Any]:
    """A copy of the whole schema (safe to modify)."""
    return copy.deepcopy(_schema())


def frozen_schema() -> dict[str, Any]:
    """The shared schema object; do not modify."""
    return _schema()
