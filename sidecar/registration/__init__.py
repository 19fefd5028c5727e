"""Registration of a running instance with the hosting platform's registry.

``start_registration`` is called once, in the gunicorn master (``when_ready``),
never in a worker and never in the request path. It returns at once; daemon
threads register every served version with the configured registries (MLflow
Model Registry, generic HTTP platform), heartbeat, retry with capped jittered
backoff while a registry is down, and re-assert when it returns. ``Registrar.stop``
deregisters exactly once within a bounded time (call it on SIGTERM / ``on_exit``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping

from .registrar import REGISTERED, RETRYING, STARTING, STOPPED, Registrar

__all__ = ["REGISTERED", "RETRYING", "STARTING", "STOPPED", "Registrar", "registry_settings",
           "start_registration"]

log = logging.getLogger("veneer.registration")

_DISABLED = {None, False, "", "none", "off", "false", "disabled"}


def registry_settings(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``registry:`` section with the schema's defaults filled in (top level and ``http``)."""
    from veneer.wrapper.schema.registry import SCHEMA

    props = SCHEMA["properties"]
    out = {key: spec.get("default") for key, spec in props.items()}
    out.update(dict(section or {}))
    if out.get("http"):
        http_props = props["http"]["properties"]
        http = {key: spec.get("default") for key, spec in http_props.items()}
        http.update(dict(out["http"]))
        out["http"] = http
    return out


def _config_parts(config) -> tuple[Mapping[str, Any], Path]:
    if hasattr(config, "registry"):
        return config.registry or {}, Path(getattr(config, "base_dir", Path.cwd()))
    return config or {}, Path.cwd()


def build_backends(config, *, endpoint_url: str, instance_id: str, versions: list[dict]) -> list:
    """The backends the configuration asks for (empty when registration is off)."""
    from veneer._version import __version__

    section, base_dir = _config_parts(config)
    settings = registry_settings(section)
    if not settings.get("enabled", True):
        return []
    endpoint = settings.get("endpoint_url") or endpoint_url
    backends: list = []
    uri = settings.get("mlflow")
    if uri is True:
        uri = registry_settings({})["mlflow"]
    if not (uri in _DISABLED or (isinstance(uri, str) and uri.strip().lower() in _DISABLED)):
        from .mlflow_registry import MlflowBackend, resolve_tracking_uri

        backends.append(MlflowBackend(
            resolve_tracking_uri(str(uri), base_dir), versions=versions, endpoint_url=endpoint,
            instance_id=instance_id, heartbeat_seconds=float(settings["heartbeat_seconds"]),
            model_name_template=settings["model_name_template"], veneer_version=__version__))
    http = settings.get("http")
    if http:
        from .http_platform import HttpPlatformBackend

        backends.append(HttpPlatformBackend(
            http["url"], versions=versions, endpoint_url=endpoint, instance_id=instance_id,
            ttl_seconds=float(http["ttl_seconds"]), heartbeat_seconds=http.get("heartbeat_seconds"),
            token_env=http.get("token_env"), timeout_seconds=float(http.get("timeout_seconds") or 2),
            veneer_version=__version__))
    return backends


def start_registration(config, *, endpoint_url: str, instance_id: str, versions: list[dict],
                       on_traffic_change: Callable[[dict], None] | None = None) -> Registrar | None:
    """Start registering in the background; None when no registry is configured.

    ``config`` is a ``Config`` (its ``registry`` mapping and ``base_dir`` are used)
    or the ``registry:`` mapping itself. ``versions`` items are dicts with
    ``prefix, model, version, adapter, sha256, stage, weight, draft, artifact_path``.
    Never raises because of a registry outage: a bad configuration is logged
    and registration is skipped, so serving goes on.

    With ``registry.drive_traffic`` and ``on_traffic_change`` given, MLflow aliases
    and ``veneer.weight`` tags are polled every ``poll_seconds`` and validated
    changes are passed to ``on_traffic_change`` (see ``traffic_follower``); raise
    from it to refuse a change (the last good state stays).
    """
    try:
        backends = build_backends(config, endpoint_url=endpoint_url, instance_id=instance_id,
                                  versions=versions)
    except Exception:
        log.exception("registration is off: the registry settings could not be used")
        return None
    if not backends:
        return None
    section, _ = _config_parts(config)
    settings = registry_settings(section)
    followers = []
    if settings.get("drive_traffic") and on_traffic_change is not None:
        from .mlflow_registry import MlflowBackend
        from .traffic_follower import TrafficFollower

        for backend in backends:
            if isinstance(backend, MlflowBackend):
                backend.owns_traffic = False
                followers.append(TrafficFollower(backend, poll_seconds=float(settings["poll_seconds"]),
                                                 on_change=on_traffic_change))
    elif settings.get("drive_traffic"):
        log.warning("registry.drive_traffic is on but nothing receives the changes; ignoring it")
    return Registrar(backends, retry_cap=float(settings.get("retry_max_seconds") or 60),
                     followers=followers).start()
