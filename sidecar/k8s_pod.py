"""The pod template of ``veneer k8s``: the veneer container, the optional legacy container, probes.

Kept apart from ``k8s.py`` (which assembles the objects and checks they agree) because
this is where the image's conventions live: the non-root uid, the config path, the
writable directories, and the environment variables that pin the server's port and
graceful timeout to what the manifests assume.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from veneer.wrapper.errors import ConfigError
from veneer.wrapper.settings import Config

VENEER_CONTAINER, LEGACY_CONTAINER = "veneer", "legacy"
#: The image's serving user (see the Dockerfile); numeric so runAsNonRoot can verify it.
UID = 10001
#: Where the image's default command finds the config.
CONFIG_PATH = "/models/veneer.yaml"
#: Writable directories of the image, as emptyDir volumes when the root filesystem is read-only:
#: /tmp (Prometheus multiprocess files, gunicorn heartbeats) and the serving user's home
#: (pip installs of the startup script, runtime state).
WRITABLE = {"tmp": ("/tmp", "512Mi"), "home": ("/home/veneer", "2Gi")}
#: Variables the manifests set themselves: the probes and the grace period depend on them.
PINNED_ENV = ("VENEER_HOST", "VENEER_PORT", "VENEER_GRACEFUL_TIMEOUT")


def pod_spec(config: Config, s: Mapping[str, Any], *, grace: int, live_path: str,
             ready_path: str) -> dict[str, Any]:
    """The pod spec: containers, volumes, security context and grace period."""
    file = str(config.source) if config.source else "<config>"
    containers = [veneer_container(config, s, live_path=live_path, ready_path=ready_path, file=file)]
    if s.get("sidecar"):
        containers.insert(0, legacy_container(s["sidecar"], s, config.server.graceful_timeout))
    spec: dict[str, Any] = {
        "terminationGracePeriodSeconds": grace,
        # veneer never calls the Kubernetes API: no token in the pod to steal.
        "automountServiceAccountToken": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": containers,
    }
    if s.get("service_account"):
        spec["serviceAccountName"] = s["service_account"]
    if s["read_only_root"]:
        spec["volumes"] = [{"name": n, "emptyDir": {"sizeLimit": size}} for n, (_, size) in WRITABLE.items()]
    return spec


def veneer_container(config: Config, s: Mapping[str, Any], *, live_path: str, ready_path: str,
                     file: str = "<config>") -> dict[str, Any]:
    """The veneer container: pinned env, token secret, three probes, preStop pause, non-root."""
    server = config.server
    env = [{"name": "VENEER_HOST", "value": "0.0.0.0"},
           {"name": "VENEER_PORT", "value": str(server.port)},
           {"name": "VENEER_GRACEFUL_TIMEOUT", "value": str(server.graceful_timeout)}]
    secret_env = (config.auth or {}).get("secret_env")
    if secret_env:
        secret = s.get("secret_name") or f"{s['name']}-auth"
        ref = {"name": secret, "key": s["secret_key"]}
        env.append({"name": secret_env, "valueFrom": {"secretKeyRef": ref}})
    for key, value in s["env"].items():
        if key in PINNED_ENV or key == secret_env:
            raise ConfigError(f"deployment.env sets {key}, which the manifests set themselves.",
                              file=file, path=f"deployment.env.{key}",
                              fix="Set server.port / server.graceful_timeout (or the auth secret) in the "
                                  "config instead; the probes and grace period follow them.")
        env.append({"name": key, "value": _text(value)})
    port = server.port
    c: dict[str, Any] = {
        "name": VENEER_CONTAINER, "image": s["image"], "imagePullPolicy": s["image_pull_policy"],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": env,
        # Up to startup_seconds for models to load; liveness only starts counting after.
        "startupProbe": _http_probe(live_path, period=5, failures=math.ceil(s["startup_seconds"] / 5)),
        "livenessProbe": _http_probe(live_path, period=10, failures=3),
        # Ready (every model can answer) gates traffic; two misses take the pod out quickly.
        "readinessProbe": _http_probe(ready_path, period=5, failures=2),
        "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
                            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": s["read_only_root"],
                            "capabilities": {"drop": ["ALL"]}},
    }
    side = s.get("sidecar")
    if side and side.get("upstream_path"):
        c["args"] = ["veneer", "sidecar", "--config", CONFIG_PATH,
                     "--upstream", f"http://127.0.0.1:{side['legacy_port']}{side['upstream_path']}"]
    resources = _resources(s["resources"])
    if resources:
        c["resources"] = resources
    if s["prestop_sleep_seconds"]:
        c["lifecycle"] = {"preStop": {"sleep": {"seconds": s["prestop_sleep_seconds"]}}}
    if s["read_only_root"]:
        c["volumeMounts"] = [{"name": n, "mountPath": path} for n, (path, _) in WRITABLE.items()]
    return c


def legacy_container(side: Mapping[str, Any], s: Mapping[str, Any], graceful_timeout: int) -> dict[str, Any]:
    """The legacy service, unchanged; it outlives veneer's drain so proxied calls in flight finish."""
    port = side["legacy_port"]
    c: dict[str, Any] = {
        "name": LEGACY_CONTAINER, "image": side["legacy_image"], "imagePullPolicy": s["image_pull_policy"],
        "ports": [{"name": "legacy", "containerPort": port, "protocol": "TCP"}],
    }
    if side.get("legacy_command"):
        c["command"] = list(side["legacy_command"])
    if side.get("legacy_args"):
        c["args"] = list(side["legacy_args"])
    if side["legacy_env"]:
        c["env"] = [{"name": k, "value": _text(v)} for k, v in side["legacy_env"].items()]
    if side.get("legacy_health_path"):
        # Only on request: the kubelet probes the pod IP, and many legacy services listen
        # on 127.0.0.1 only. Without probes, veneer's readiness (which checks the service)
        # still takes a broken pod out of the Service.
        path = side["legacy_health_path"]
        c["startupProbe"] = _http_probe(path, 5, math.ceil(s["startup_seconds"] / 5), port="legacy")
        c["livenessProbe"] = _http_probe(path, 10, 3, port="legacy")
        c["readinessProbe"] = _http_probe(path, 5, 2, port="legacy")
    resources = _resources(side["legacy_resources"])
    if resources:
        c["resources"] = resources
    pause = s["prestop_sleep_seconds"] + graceful_timeout
    if pause:
        c["lifecycle"] = {"preStop": {"sleep": {"seconds": pause}}}
    c["securityContext"] = {"allowPrivilegeEscalation": False}
    return c


def _http_probe(path: str, period: int, failures: int, port: str = "http") -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "timeoutSeconds": 3,
            "failureThreshold": failures}


def _resources(r: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for kind in ("requests", "limits"):
        amounts = {k: _text(v) for k, v in (r.get(kind) or {}).items() if v not in (None, "")}
        if amounts:
            out[kind] = amounts
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
