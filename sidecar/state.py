"""Per-app state shared by the blueprints: ``app.extensions["veneer"]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from veneer.wrapper.settings import Config

from .model_store import ModelStore
from .routing import Router, TrafficTable
from .watchdog import Watchdog


@dataclass
class ServerState:
    """Everything a request needs, built once by ``create_app``."""

    config: Config
    models: ModelStore
    router: Router
    traffic_source: Any  # has .table -> TrafficTable (see traffic_store.py)
    auth: Any = None      # veneer.sidecar.auth.Authenticator
    metrics: Any = None   # veneer.sidecar.metrics.Metrics
    watchdog: Watchdog = field(default_factory=lambda: Watchdog(timeout=60))
    #: per-app caches of features (the docs blueprint keeps its OpenAPI documents here)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def traffic(self) -> TrafficTable:
        """The current traffic snapshot (may change between requests, never during one)."""
        return self.traffic_source.table


def get_state(app: Any) -> ServerState:
    """The ``ServerState`` of a Flask app made by ``create_app``."""
    return app.extensions["veneer"]
