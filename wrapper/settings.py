"""Typed, frozen views of a validated ``veneer.yaml``.

The loader (``config.py``) validates the YAML against the JSON Schema (whose
``default`` values fill every omitted option) and then builds these objects.
Sections owned by one feature (``auth``, ``registry``, ``deployment``) stay
validated mappings here; that feature turns them into its own settings object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

STAGES = ("production", "staging")


@dataclass(frozen=True)
class VersionSpec:
    """One legacy artifact of a model, and how it takes traffic."""

    version: str
    adapter: str
    path: Path | None = None          # resolved against the config file's folder
    uri: str | None = None
    url: str | None = None
    sha256: str | None = None
    stage: str | None = None          # "production", "staging" or None
    weight: float | None = None       # None: not set (see routing's defaults)
    draft: bool = False
    trusted: bool = False
    allow_modules: tuple[str, ...] = ()
    accelerate: str | None = None     # None or "onnx"
    idempotent: bool = False
    probe: Path | None = None         # CSV of sample rows, resolved against the config's folder
    options: Mapping[str, Any] = field(default_factory=dict)
    model: str = ""                   # filled in from the enclosing model
    prefix: str = ""
    #: where this version came from: "file:line" of its entry, for error messages
    origin: str = ""

    @property
    def qualified_name(self) -> str:
        """``prefix/model`` of the model this version belongs to."""
        return f"{self.prefix}/{self.model}" if self.prefix else self.model


@dataclass(frozen=True)
class AccessList:
    """Who may call: token ``sub`` values and ``groups`` claim values (empty = anyone in scope)."""

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """A named model under a prefix, with its versions."""

    name: str
    prefix: str
    versions: tuple[VersionSpec, ...]
    cascade_prefix_tokens: bool = False
    access: AccessList = AccessList()
    description: str = ""

    @property
    def qualified_name(self) -> str:
        """``prefix/model``."""
        return f"{self.prefix}/{self.name}" if self.prefix else self.name


@dataclass(frozen=True)
class PrefixSpec:
    """Settings of one URL namespace."""

    name: str
    access: AccessList = AccessList()
    docs_public: bool = False


@dataclass(frozen=True)
class ServerSettings:
    """How the server runs (each also settable as ``VENEER_<NAME>`` and a CLI flag)."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    threads: int = 4
    timeout: int = 60
    graceful_timeout: int = 30
    keepalive: int = 5
    max_requests: int = 0
    max_requests_jitter: int = 0
    max_request_bytes: int = 32 * 1024 * 1024
    max_rows: int = 100_000
    string_dtype: str = "object"
    preload: bool = True
    strict_load: bool = False
    public_health: bool = True
    public_metrics: bool = True
    metrics: bool = True
    metrics_dir: str | None = None
    access_log: bool = True
    log_format: str = "auto"
    state_dir: Path | None = None
    header_pinning: str = "permission"
    default_model: str | None = None


@dataclass(frozen=True)
class Config:
    """A whole validated configuration."""

    models: tuple[ModelSpec, ...]
    server: ServerSettings = ServerSettings()
    prefixes: Mapping[str, PrefixSpec] = field(default_factory=dict)
    auth: Mapping[str, Any] | None = None      # None: auth switched off explicitly ("auth: none")
    registry: Mapping[str, Any] = field(default_factory=dict)
    deployment: Mapping[str, Any] = field(default_factory=dict)
    accelerate: str | None = None
    startup_script: str | None = None
    source: Path | None = None                 # the YAML file, None for decorated modules
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def base_dir(self) -> Path:
        """Folder relative paths are resolved against."""
        return self.source.parent if self.source else Path.cwd()

    def find_model(self, prefix: str, name: str) -> ModelSpec | None:
        """The model ``prefix/name``, or None."""
        for m in self.models:
            if m.prefix == prefix and m.name == name:
                return m
        return None
