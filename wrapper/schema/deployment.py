"""JSON Schema of the ``deployment:`` section: how ``veneer k8s`` writes Kubernetes manifests.

Nothing here changes how the server runs; it only shapes the Deployment, Service and
HorizontalPodAutoscaler that ``veneer k8s CONFIG`` prints. Probe timings, the shutdown
grace period and the listening port are derived from the ``server:`` section, so the
manifests always agree with the server they run.
"""

from __future__ import annotations

#: A Kubernetes resource quantity ("500m", "1", "0.5", "512Mi", "1G", "1e3"); the
#: Kubernetes schemas accept any string here, so a typo like "512MBytes" is caught by us.
QUANTITY_PATTERN = r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$"
#: A DNS-1123 label: the form of Kubernetes object and container names.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*$"

_QUANTITY = {"type": ["string", "number", "null"], "pattern": QUANTITY_PATTERN}
_ENV = {"type": "object", "default": {}, "propertyNames": {"pattern": ENV_NAME, "maxLength": 253},
        "additionalProperties": {"type": ["string", "number", "boolean"]}}


def _amounts(what: str, cpu: str | None, memory: str | None) -> dict:
    return {
        "type": "object", "additionalProperties": False, "default": {"cpu": cpu, "memory": memory},
        "description": f"Resource {what} of the veneer container (Kubernetes quantities).",
        "properties": {
            "cpu": {**_QUANTITY, "default": cpu,
                    "description": f"CPU {what}, e.g. '500m' or 1; null leaves it out."},
            "memory": {**_QUANTITY, "default": memory,
                       "description": f"Memory {what}, e.g. '512Mi' or '2Gi'; null leaves it out."},
        },
    }


SIDECAR = {
    "type": ["object", "null"],
    "default": None,
    "additionalProperties": False,
    "required": ["legacy_image"],
    "description": "Run a legacy HTTP service and veneer side by side in one pod (veneer k8s --sidecar). "
                   "null: the pod runs veneer alone, serving the models of this config.",
    "properties": {
        "legacy_image": {"type": "string", "minLength": 1,
                         "description": "Image of the legacy scoring service, unchanged."},
        "legacy_port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 9000,
                        "description": "Port the legacy service listens on inside the pod (veneer calls "
                                       "it on 127.0.0.1; the Service never exposes it)."},
        "legacy_command": {"type": ["array", "null"], "items": {"type": "string"}, "default": None,
                           "description": "Entrypoint override of the legacy container; "
                                          "null keeps the image's."},
        "legacy_args": {"type": ["array", "null"], "items": {"type": "string"}, "default": None,
                        "description": "Arguments of the legacy container; null keeps the image's."},
        "legacy_env": {**_ENV, "description": "Environment variables of the legacy container."},
        "legacy_health_path": {"type": ["string", "null"], "pattern": "^/", "default": None,
                               "description": "HTTP path the legacy service answers 2xx on when healthy "
                                              "(e.g. /healthz), probed by the kubelet on the pod IP; "
                                              "null: no probes on the legacy container (veneer's "
                                              "readiness still reflects it)."},
        "legacy_resources": {
            "type": "object", "additionalProperties": False,
            "default": {"requests": {"cpu": "500m", "memory": None}, "limits": {"cpu": None, "memory": None}},
            "description": "Resources of the legacy container (same shape as 'resources'). It has a CPU "
                           "request by default because the HPA's utilization needs one on every container.",
            "properties": {"requests": _amounts("requests", "500m", None),
                           "limits": _amounts("limits", None, None)},
        },
        "upstream_path": {"type": ["string", "null"], "pattern": "^/", "default": None,
                          "description": "When set, veneer runs 'veneer sidecar --upstream "
                                         "http://127.0.0.1:<legacy_port><upstream_path>' with this config; "
                                         "when null, the config's own http models must call "
                                         "http://127.0.0.1:<legacy_port>."},
    },
}

SCHEMA = {
    "type": "object",
    "description": "Kubernetes manifests written by 'veneer k8s' (Deployment, Service, "
                   "HorizontalPodAutoscaler). Ignored by 'veneer serve'.",
    "additionalProperties": False,
    "default": {},
    "properties": {
        "name": {"type": ["string", "null"], "pattern": DNS_LABEL, "maxLength": 53, "default": None,
                 "description": "Name of the Deployment, Service and HPA; null: 'veneer-<prefix>' "
                                "with '/' as '-'."},
        "namespace": {"type": ["string", "null"], "pattern": DNS_LABEL, "maxLength": 63, "default": None,
                      "description": "Namespace written into every object; null leaves it to kubectl."},
        "image": {"type": "string", "minLength": 1, "default": "veneer:latest",
                  "description": "The veneer image: the base image or a user's 'FROM veneer' image "
                                 "holding this config at /models/veneer.yaml."},
        "image_pull_policy": {"enum": ["Always", "IfNotPresent", "Never"], "default": "IfNotPresent",
                              "description": "When the kubelet pulls the images."},
        "replicas": {"type": "integer", "minimum": 0, "default": 2,
                     "description": "Pod count when autoscaling is off (max_replicas <= min_replicas). With "
                                    "autoscaling the HPA owns the count and the Deployment leaves it out, "
                                    "so re-applying the manifests never resets a scaled Deployment."},
        "min_replicas": {"type": "integer", "minimum": 1, "default": 2,
                         "description": "Fewest pods the HPA keeps."},
        "max_replicas": {"type": "integer", "minimum": 1, "default": 5,
                         "description": "Most pods the HPA makes; at or below min_replicas "
                                        "no HPA is written."},
        "cpu_target": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 70,
                       "description": "Average CPU use, in % of the CPU request, the HPA steers to "
                                      "(needs resources.requests.cpu)."},
        "resources": {
            "type": "object", "additionalProperties": False,
            "default": {"requests": {"cpu": "500m", "memory": "512Mi"},
                        "limits": {"cpu": None, "memory": "1Gi"}},
            "description": "Requests and limits of the veneer container. No CPU limit by default: "
                           "throttling a model server raises latency without saving anything.",
            "properties": {"requests": _amounts("requests", "500m", "512Mi"),
                           "limits": _amounts("limits", None, "1Gi")},
        },
        "env": {**_ENV, "description": "Extra environment variables of the veneer container "
                                       "(e.g. VENEER_WORKERS); values are written as strings."},
        "service_port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 80,
                         "description": "Port of the Service; it forwards to the server's port."},
        "service_type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"], "default": "ClusterIP",
                         "description": "Kubernetes Service type."},
        "secret_name": {"type": ["string", "null"], "pattern": DNS_LABEL, "default": None,
                        "description": "Secret holding the token key named by auth.secret_env; null: "
                                       "'<name>-auth'. Create it yourself (kubectl create secret generic)."},
        "secret_key": {"type": "string", "pattern": r"^[-._a-zA-Z0-9]+$", "default": "jwt-secret",
                       "description": "Key of that Secret whose value is the token secret."},
        "prestop_sleep_seconds": {"type": "integer", "minimum": 0, "maximum": 300, "default": 5,
                                  "description": "Pause before SIGTERM so load balancers stop sending "
                                                 "traffic first (Kubernetes removes endpoints "
                                                 "asynchronously)."},
        "termination_grace_seconds": {
            "type": ["integer", "null"], "minimum": 1, "default": None,
            "description": "terminationGracePeriodSeconds; null: prestop_sleep_seconds + "
                           "server.graceful_timeout + 5. A smaller value is refused: in-flight "
                           "requests would be killed before gunicorn's graceful timeout."},
        "startup_seconds": {"type": "integer", "minimum": 5, "maximum": 3600, "default": 300,
                            "description": "Longest time models may take to load before the pod is restarted "
                                           "(startup probe budget)."},
        "read_only_root": {"type": "boolean", "default": True,
                           "description": "Run the veneer container with a read-only root filesystem; "
                                          "/tmp and /home/veneer (pip installs of the startup script, "
                                          "state) are writable emptyDir volumes."},
        "service_account": {"type": ["string", "null"], "pattern": DNS_LABEL, "default": None,
                            "description": "serviceAccountName of the pod; null: the namespace's default."},
        "annotations": {"type": "object", "default": {}, "additionalProperties": {"type": "string"},
                        "description": "Extra annotations of the pod template (Prometheus scrape "
                                       "annotations are added when server.metrics is on)."},
        "sidecar": SIDECAR,
    },
}
