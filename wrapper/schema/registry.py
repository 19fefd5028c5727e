"""JSON Schema of the ``registry:`` section: where this instance announces what it serves.

The gunicorn master registers every version with an MLflow Model Registry
(embedded SQLite file next to the config by default) and/or a generic HTTP
platform endpoint, keeps a heartbeat and deregisters on shutdown. A registry
outage never blocks serving.
"""

SCHEMA = {
    "type": "object",
    "description": "Registration of this instance's models with the hosting platform's registry.",
    "additionalProperties": False,
    "default": {},
    "properties": {
        "enabled": {"type": "boolean", "default": True,
                    "description": "Register at all; false switches every registrar off."},
        "mlflow": {
            "type": ["string", "boolean", "null"], "default": "sqlite:///veneer-registry.db",
            "description": "MLflow tracking/registry URI (http://..., databricks, sqlite:///file.db). "
                           "A relative sqlite path is resolved against the config file's folder. "
                           "'none', false or null disables MLflow registration.",
        },
        "http": {
            "type": ["object", "null"], "default": None,
            "description": "A generic HTTP platform registry (see examples/platform_registry/receiver.py "
                           "for the contract); null disables it.",
            "additionalProperties": False,
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "pattern": "^https?://",
                        "description": "Base URL of the platform's instance collection, e.g. "
                                       "http://platform:8500/v1/instances."},
                "ttl_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 30,
                                "description": "How long the platform keeps this instance without a "
                                               "heartbeat before marking it gone."},
                "heartbeat_seconds": {"type": ["number", "null"], "exclusiveMinimum": 0, "default": None,
                                      "description": "Heartbeat interval for this endpoint; null uses "
                                                     "a third of ttl_seconds."},
                "token_env": {"type": ["string", "null"], "default": None,
                              "description": "Environment variable holding a bearer token sent to the "
                                             "platform (never written in the file)."},
                "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 2,
                                    "description": "Timeout of each call to the platform."},
            },
        },
        "heartbeat_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 30,
                              "description": "How often the MLflow heartbeat tag is refreshed and "
                                             "the registration re-asserted."},
        "retry_max_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 60,
                              "description": "Cap of the exponential backoff between retries while "
                                             "the registry is unreachable."},
        "model_name_template": {"type": "string", "default": "{prefix}.{model}",
                                "description": "Registered model name; placeholders {prefix} "
                                               "('/' becomes '.') and {model}."},
        "drive_traffic": {"type": "boolean", "default": False,
                          "description": "Follow stages and weights set in MLflow (aliases, "
                                         "'veneer.weight' tags) at runtime, validated like the admin API."},
        "poll_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 15,
                         "description": "How often MLflow is polled when drive_traffic is on."},
        "endpoint_url": {"type": ["string", "null"], "default": None,
                         "description": "How others reach this instance (published in tags and to "
                                        "the platform); null derives it from server host and port."},
    },
}
