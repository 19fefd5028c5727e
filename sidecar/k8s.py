"""Kubernetes manifests for a veneer config: Deployment, Service and HorizontalPodAutoscaler.

``build_manifests(config)`` returns the objects as plain dicts (``render`` prints them as
one multi-document YAML). What the Kubernetes schemas cannot check is made to agree here:

* the Service selects exactly the pod labels, the HPA scales exactly this Deployment;
* probes call veneer's health routes (``/v2/health/live``, ``/v2/health/ready``) on the
  port the server listens on, which the container's ``VENEER_PORT`` pins;
* ``terminationGracePeriodSeconds`` >= preStop pause + gunicorn's ``graceful_timeout`` +
  a margin, and the container's ``VENEER_GRACEFUL_TIMEOUT`` pins that timeout, so a pod
  being stopped finishes its in-flight requests instead of being killed mid-answer.

The pod side (containers, probes, security context) is in ``k8s_pod.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

from veneer._version import __version__
from veneer.wrapper.errors import ConfigError
from veneer.wrapper.schema.deployment import SCHEMA as DEPLOYMENT_SCHEMA
from veneer.wrapper.settings import Config

from . import k8s_pod

#: Seconds beyond preStop + graceful_timeout before the kubelet may SIGKILL.
GRACE_MARGIN_SECONDS = 5
#: Health and metrics routes the manifests rely on (the server's own routes).
LIVE_PATH, READY_PATH, METRICS_PATH = "/v2/health/live", "/v2/health/ready", "/metrics"


@dataclass
class Manifests:
    """The generated objects and the warnings a user should read before applying them."""

    docs: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    def by_kind(self, kind: str) -> dict[str, Any]:
        """The one object of ``kind`` (KeyError when there is none)."""
        for doc in self.docs:
            if doc["kind"] == kind:
                return doc
        raise KeyError(kind)


def deployment_settings(config: Config) -> dict[str, Any]:
    """The ``deployment:`` section with every omitted key filled from the schema's defaults."""
    return _filled(dict(config.deployment or {}), DEPLOYMENT_SCHEMA)


def _filled(data: Any, schema: Mapping[str, Any]) -> Any:
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for key, prop in schema.get("properties", {}).items():
        if key not in out and "default" in prop:
            out[key] = _filled(_deep_copy(prop["default"]), prop)
        elif key in out:
            out[key] = _filled(out[key], prop)
    return out


def _deep_copy(value: Any) -> Any:
    return {k: _deep_copy(v) for k, v in value.items()} if isinstance(value, dict) else value


def default_name(config: Config) -> str:
    """``veneer-<prefix>`` as a DNS-1123 label (the config's default prefix, else the first model's)."""
    first = config.models[0].prefix if config.models else ""
    prefix = (config.raw or {}).get("prefix") or first or "models"
    slug = re.sub(r"[^a-z0-9-]+", "-", str(prefix).lower()).strip("-")
    return f"veneer-{slug}"[:53].rstrip("-")


def grace_seconds(settings: Mapping[str, Any], graceful_timeout: int, *, file: str = "<config>") -> int:
    """terminationGracePeriodSeconds: the configured one if it is long enough, else the minimum."""
    needed = settings["prestop_sleep_seconds"] + graceful_timeout + GRACE_MARGIN_SECONDS
    given = settings.get("termination_grace_seconds")
    if given is None:
        return needed
    if given < needed:
        raise ConfigError(
            f"deployment.termination_grace_seconds is {given}, shorter than prestop_sleep_seconds "
            f"({settings['prestop_sleep_seconds']}) + server.graceful_timeout ({graceful_timeout}) + "
            f"{GRACE_MARGIN_SECONDS}: Kubernetes would kill in-flight requests.",
            file=file, path="deployment.termination_grace_seconds",
            fix=f"Set it to at least {needed}, lower server.graceful_timeout, or remove it to get {needed}.")
    return given


def build_manifests(config: Config, *, sidecar: bool | None = None, image: str | None = None,
                    legacy_image: str | None = None, name: str | None = None,
                    namespace: str | None = None) -> Manifests:
    """The Deployment, Service and (when min < max replicas) HPA for ``config``.

    Keyword arguments override the ``deployment:`` section. ``sidecar=True`` asks for the
    two-container pod (legacy service + veneer); ``None`` follows ``deployment.sidecar``.
    Raises ``ConfigError`` naming the key and the fix when the result could not work.
    """
    file = str(config.source) if config.source else "<config>"
    s = deployment_settings(config)
    if image:
        s["image"] = image
    if name:
        s["name"] = name
    if namespace:
        s["namespace"] = namespace
    if legacy_image:
        s["sidecar"] = _filled({**(s.get("sidecar") or {}), "legacy_image": legacy_image},
                               DEPLOYMENT_SCHEMA["properties"]["sidecar"])
    if sidecar is None:
        sidecar = s.get("sidecar") is not None
    if sidecar and not s.get("sidecar"):
        raise ConfigError("--sidecar needs the legacy service's image.", file=file, path="deployment.sidecar",
                          fix="Add deployment: {sidecar: {legacy_image: IMAGE, legacy_port: PORT}} "
                              "or pass --legacy-image IMAGE.")
    if not sidecar:
        s["sidecar"] = None
    server = config.server
    if not server.public_health:
        raise ConfigError("server.public_health is false, so the health routes need a token, and "
                          "Kubernetes probes cannot send one.", file=file, path="server.public_health",
                          fix="Set server.public_health: true for a Kubernetes deployment.")
    warnings = []
    if config.auth is None:
        warnings.append("auth is off ('auth: none'): anyone who reaches the Service can call the models.")
    if s["sidecar"] and s["sidecar"].get("upstream_path") is None:
        _check_upstream(config, s["sidecar"]["legacy_port"], file)

    name = s["name"] = s["name"] or default_name(config)
    selector = {"app.kubernetes.io/name": "veneer", "app.kubernetes.io/instance": name}
    labels = {**selector, "app.kubernetes.io/version": __version__,
              "app.kubernetes.io/component": "sidecar" if s["sidecar"] else "model-server",
              "app.kubernetes.io/managed-by": "veneer"}
    autoscale = s["max_replicas"] > s["min_replicas"]
    if autoscale:
        _check_cpu_requests(s, file)
    grace = grace_seconds(s, server.graceful_timeout, file=file)
    pod = k8s_pod.pod_spec(config, s, grace=grace, live_path=LIVE_PATH, ready_path=READY_PATH)
    annotations = dict(s["annotations"])
    if server.metrics:
        annotations.update({"prometheus.io/scrape": "true", "prometheus.io/port": str(server.port),
                            "prometheus.io/path": METRICS_PATH})
    if s["sidecar"]:
        annotations["kubectl.kubernetes.io/default-container"] = k8s_pod.VENEER_CONTAINER

    def meta(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        m: dict[str, Any] = {"name": name, "labels": dict(labels)}
        if s["namespace"]:
            m["namespace"] = s["namespace"]
        return {**m, **(extra or {})}

    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(),
        "spec": {
            "selector": {"matchLabels": dict(selector)},
            # Surge before removing: a rollout never lowers serving capacity.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": dict(labels), "annotations": annotations}, "spec": pod},
        },
    }
    if not autoscale:
        deployment["spec"] = {"replicas": s["replicas"], **deployment["spec"]}
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": meta(),
        "spec": {"type": s["service_type"], "selector": dict(selector),
                 "ports": [{"name": "http", "port": s["service_port"], "targetPort": "http",
                            "protocol": "TCP"}]},
    }
    docs = [deployment, service]
    if autoscale:
        docs.append({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta(),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "minReplicas": s["min_replicas"], "maxReplicas": s["max_replicas"],
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization",
                                                   "averageUtilization": s["cpu_target"]}}}]},
        })
    return Manifests(docs=docs, warnings=warnings)


def _check_cpu_requests(s: Mapping[str, Any], file: str) -> None:
    # An HPA on CPU utilization divides by the pod's CPU requests; a container without
    # one leaves the HPA unable to compute anything (it reports "missing request for cpu").
    if s["resources"]["requests"].get("cpu") in (None, ""):
        raise ConfigError("the HPA scales on CPU utilization, but resources.requests.cpu is not set.",
                          file=file, path="deployment.resources.requests.cpu",
                          fix="Set a CPU request (e.g. '500m'), or max_replicas <= min_replicas for no HPA.")
    side = s.get("sidecar")
    if side and (side["legacy_resources"].get("requests") or {}).get("cpu") in (None, ""):
        raise ConfigError("the HPA scales on the pod's CPU utilization, but the legacy container has no "
                          "CPU request.", file=file, path="deployment.sidecar.legacy_resources.requests.cpu",
                          fix="Set one (e.g. '500m'), or max_replicas <= min_replicas for no HPA.")


def _check_upstream(config: Config, port: int, file: str) -> None:
    """In a sidecar pod veneer reaches the legacy container on 127.0.0.1:<legacy_port>."""
    found = False
    for model in config.models:
        for i, v in enumerate(model.versions):
            parts = urlsplit(v.url or "")
            if v.adapter != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1") \
                    or parts.port != port:
                continue
            found = True
            if v.options.get("command"):
                # veneer would start a second copy of the service in its own container
                raise ConfigError(
                    "in a sidecar pod the legacy container runs the service, but this version also "
                    "tells veneer to start it (options.command).", file=file,
                    path=f"models.{model.name}.versions[{i}].options.command",
                    fix="Remove 'command' from the version's options for the Kubernetes config.")
    if found:
        return
    raise ConfigError(
        f"the legacy container listens on port {port}, but no http model of this config calls "
        f"http://127.0.0.1:{port}.", file=file, path="deployment.sidecar",
        fix=f"Point a model's url at http://127.0.0.1:{port}/..., set deployment.sidecar.legacy_port, "
            "or set deployment.sidecar.upstream_path to run 'veneer sidecar --upstream'.")


def render(manifests: Manifests, *, source: str | None = None) -> str:
    """One multi-document YAML, objects in apply order, with a header naming its source."""
    import yaml

    head = f"# Generated by veneer k8s {__version__}" + (f" from {source}" if source else "") + ".\n"
    head += "".join(f"# WARNING: {w}\n" for w in manifests.warnings)
    return head + yaml.safe_dump_all(manifests.docs, sort_keys=False, default_flow_style=False,
                                     explicit_start=True)
