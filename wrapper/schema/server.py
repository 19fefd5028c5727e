"""JSON Schema of the ``server:`` section: how the process runs.

Each setting is also an environment variable ``VENEER_<NAME>`` (for example
``VENEER_PORT``) and a ``veneer serve`` flag; precedence is flag > environment >
file > default.
"""

SCHEMA = {
    "type": "object",
    "description": "How the server process runs.",
    "additionalProperties": False,
    "default": {},
    "properties": {
        "host": {"type": "string", "default": "127.0.0.1",
                 "description": "Address to listen on; use 0.0.0.0 in containers."},
        "port": {"type": "integer", "minimum": 0, "maximum": 65535, "default": 8080,
                 "description": "TCP port to listen on."},
        "workers": {"type": "integer", "minimum": 1, "maximum": 256, "default": 2,
                    "description": "gunicorn worker processes."},
        "threads": {"type": "integer", "minimum": 1, "maximum": 1024, "default": 4,
                    "description": "Threads per worker (gthread worker)."},
        "timeout": {"type": "integer", "minimum": 1, "default": 60,
                    "description": "Seconds a worker may spend on one request before it is restarted."},
        "graceful_timeout": {"type": "integer", "minimum": 0, "default": 30,
                             "description": "Seconds in-flight requests get to finish after SIGTERM."},
        "keepalive": {"type": "integer", "minimum": 0, "default": 5,
                      "description": "Seconds an idle keep-alive connection stays open."},
        "max_requests": {"type": "integer", "minimum": 0, "default": 0,
                         "description": "Restart a worker after this many requests (0 = never)."},
        "max_requests_jitter": {"type": "integer", "minimum": 0, "default": 0,
                                "description": "Random extra requests before a restart, so workers do not recycle together."},
        "max_request_bytes": {"type": "integer", "minimum": 1024, "default": 33554432,
                              "description": "Largest request body accepted (413 beyond)."},
        "max_rows": {"type": "integer", "minimum": 1, "default": 100000,
                     "description": "Most rows one request may carry (413 beyond)."},
        "string_dtype": {"enum": ["object", "str"], "default": "object",
                         "description": "Text columns of the DataFrames models receive. object: what pandas < 3 "
                                        "built, and what legacy models and predict(df) code were written against "
                                        "(also ~10% faster through scikit-learn encoders); str: pandas 3's "
                                        "Arrow-backed default. Sets pandas' future.infer_string in the server."},
        "preload": {"type": "boolean", "default": True,
                    "description": "Load fork-safe models (pickles, MLflow) once in the master so workers share "
                                   "their memory; ONNX sessions are always created in each worker."},
        "strict_load": {"type": "boolean", "default": False,
                        "description": "Exit at start if any version fails to load (default: serve the others "
                                       "and answer 503 with the reason for the failed one)."},
        "public_health": {"type": "boolean", "default": True,
                          "description": "Health endpoints answer without a token."},
        "public_metrics": {"type": "boolean", "default": True,
                           "description": "/metrics answers without a token."},
        "metrics": {"type": "boolean", "default": True, "description": "Serve Prometheus metrics at /metrics."},
        "metrics_dir": {"type": ["string", "null"], "default": None,
                        "description": "Prometheus multiprocess directory (default: a fresh temporary one). "
                                       "Wiped at start."},
        "access_log": {"type": "boolean", "default": True,
                       "description": "One JSON line per request (request id, model, version, status, latency)."},
        "log_format": {"enum": ["auto", "json", "text"], "default": "auto",
                       "description": "auto: human-readable in a terminal, JSON otherwise."},
        "state_dir": {"type": ["string", "null"], "default": None,
                      "description": "Where runtime changes (weights, stages) are persisted; default "
                                     "'.veneer-state' beside the config. The user's YAML is never rewritten."},
        "header_pinning": {"enum": ["any", "traffic", "permission"], "default": "permission",
                           "description": "Who may pin a version outside the traffic set with the "
                                          "X-Veneer-Model-Version header: anyone, nobody (traffic versions only), "
                                          "or tokens with the 'pin' or 'manage' permission."},
        "default_model": {"type": ["string", "null"], "default": None,
                          "description": "prefix/model answering bare /invocations when several models are served."},
    },
}
