"""The ``options:`` of an ``http`` version: JSON Schema, defaults and validation.

Every property has a ``description`` and a ``default``; ``resolve_options`` fills
the defaults and raises ``ConfigError`` naming the key path of the first problem.
"""

from __future__ import annotations

import copy
from typing import Any

from veneer.wrapper.errors import ConfigError


def _obj(props: dict[str, Any], description: str) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "description": description,
            "default": {}, "properties": props}


def _num(default: float, description: str, minimum: float = 0, exclusive: bool = True) -> dict[str, Any]:
    key = "exclusiveMinimum" if exclusive else "minimum"
    return {"type": "number", key: minimum, "default": default, "description": description}


OPTIONS_SCHEMA: dict[str, Any] = _obj({
    "request": _obj({
        "format": {"enum": ["json", "csv", "form", "query"], "default": "json",
                   "description": "Body of the legacy request: a JSON document, a CSV table with a header, "
                                  "form fields (one row per call) or a query string (one row per call)."},
        "body": {"type": "string", "default": "$",
                 "description": "JSONPath where the rows go in a JSON body, e.g. 'records' or 'data.instances'; "
                                "'$' makes the rows the whole body."},
        "fields": {"type": "object", "default": {},
                   "description": "Static fields added to every request (JSON members, form fields or query "
                                  "parameters), e.g. {model: churn, version: 3}."},
        "orient": {"enum": ["records", "split", "values"], "default": "records",
                   "description": "JSON shape of the rows: records [{col: v}], split {columns, data} "
                                  "or values [[v, ...]]."},
        "per_row": {"type": ["boolean", "null"], "default": None,
                    "description": "One call per row; null means true for form/query and false otherwise."},
        "method": {"enum": ["GET", "POST", "PUT", None], "default": None,
                   "description": "HTTP method; null means GET for query and POST otherwise."},
    }, "How veneer's rows become the legacy request."),
    "response": _obj({
        "format": {"enum": ["json", "csv", "text"], "default": "json",
                   "description": "Body of the legacy answer: JSON, CSV with a header, or plain numbers "
                                  "(one per line)."},
        "path": {"type": "string", "default": "$",
                 "description": "JSONPath (jsonpath-ng ext syntax) of the predictions in a JSON answer, "
                                "e.g. 'result.scores[*]' or 'result.scores'."},
        "column": {"type": "string", "default": "score",
                   "description": "Column of a CSV answer holding the predictions."},
        "name": {"type": "string", "default": "predictions",
                 "description": "Name of the output veneer reports for these predictions."},
        "outputs": {"type": "object", "additionalProperties": {"type": "string"}, "default": {},
                    "description": "Several named outputs instead of one: output name -> JSONPath (JSON "
                                   "answers) or column (CSV answers), e.g. {score: 'result.scores[*]', "
                                   "label: 'result.labels[*]'}; overrides path/column/name."},
    }, "How the legacy answer becomes predictions."),
    "inputs": {"type": "array", "default": [],
               "description": "Input columns the service expects, in order (strings, or {name, datatype}); "
                              "rows are reordered to them and a missing column is a 422.",
               "items": {"anyOf": [{"type": "string"}, {
                   "type": "object", "required": ["name"], "additionalProperties": False,
                   "properties": {"name": {"type": "string"},
                                  "datatype": {"type": "string", "default": "FP64"}}}]}},
    "headers": _obj({
        "forward": {"type": "array", "items": {"type": "string"}, "default": [],
                    "description": "Client request headers passed on to the service (allowlist, case-insensitive). "
                                   "X-Request-ID is always sent; X-Veneer-Subject/X-Veneer-Groups are only "
                                   "ever set by veneer from the verified token."},
        "set": {"type": "object", "additionalProperties": {"type": "string"}, "default": {},
                "description": "Static headers sent on every call, e.g. an API key for the legacy service."},
    }, "Headers sent to the service."),
    "timeouts": _obj({
        "connect": _num(1.0, "Seconds to open a TCP connection."),
        "read": _num(5.0, "Seconds to wait for each read of the answer."),
        "deadline": _num(10.0, "Total seconds for one veneer request, retries and backoff included."),
    }, "Timeouts of each call and the overall deadline."),
    "retries": _obj({
        "attempts": {"type": "integer", "minimum": 1, "default": 2,
                     "description": "Total attempts per call (1 = never retry). Only connect errors are retried, "
                                    "plus 502/503/504 and reset connections when the version is idempotent."},
        "backoff": _num(0.05, "Base of the full-jitter exponential backoff, in seconds.", exclusive=False),
        "max_backoff": _num(1.0, "Cap of one backoff wait, in seconds.", exclusive=False),
        "budget_ratio": _num(0.2, "Retries allowed as a share of requests in the window (Envoy's 20 %).",
                             exclusive=False),
        "budget_window": _num(10.0, "Sliding window of the retry budget, in seconds."),
        "min_retries": {"type": "integer", "minimum": 0, "default": 3,
                        "description": "Retries always allowed in a window, so a quiet service can still retry."},
    }, "Retries with jittered backoff, within a retry budget."),
    "breaker": _obj({
        "failures": {"type": "integer", "minimum": 1, "default": 5,
                     "description": "Consecutive failures that open the circuit breaker."},
        "reset_seconds": _num(10.0, "Seconds the breaker stays open before one half-open probe."),
    }, "Circuit breaker of this upstream."),
    "pool": _obj({
        "maxsize": {"type": "integer", "minimum": 1, "default": 10,
                    "description": "Keep-alive connections kept per worker; set it to at least server.threads."},
    }, "Connection pool."),
    "max_response_bytes": {"type": "integer", "minimum": 1, "default": 16 * 1024 * 1024,
                           "description": "Largest answer accepted; a bigger one is a 502."},
    "tls": _obj({
        "ca_bundle": {"type": ["string", "null"], "default": None,
                      "description": "CA bundle file to verify an https upstream; null uses the system CAs. "
                                     "Verification is never switched off."},
        "client_cert": {"type": ["string", "null"], "default": None,
                        "description": "Client certificate file for mutual TLS."},
        "client_key": {"type": ["string", "null"], "default": None,
                       "description": "Private key file of client_cert."},
    }, "TLS to an https upstream."),
    "health": _obj({
        "url": {"type": ["string", "null"], "default": None,
                "description": "Health URL of the service (2xx = healthy); null: readiness follows the breaker."},
        "interval": _num(5.0, "Seconds a health answer is cached."),
        "timeout": _num(1.0, "Seconds one health check may take."),
    }, "Health check feeding the version's readiness."),
    "command": {"type": ["array", "null"], "items": {"type": "string"}, "minItems": 1, "default": None,
                "description": "Start the legacy service with this argv (veneer supervises it); "
                               "'{python}' is replaced by veneer's own Python."},
    "command_env": {"type": "object", "additionalProperties": {"type": "string"}, "default": {},
                    "description": "Extra environment variables of the supervised command."},
    "restart_backoff": _num(0.5, "First wait before restarting a command that died; doubles up to 30 s."),
}, "Options of the http adapter.")


def _fill(schema: dict[str, Any], value: Any) -> Any:
    if schema.get("type") != "object" or not isinstance(value, dict) or "properties" not in schema:
        return value
    out = dict(value)
    for key, sub in schema["properties"].items():
        if key not in out:
            out[key] = copy.deepcopy(sub.get("default"))
        out[key] = _fill(sub, out[key])
    return out


def resolve_options(options: Any, where: str = "") -> dict[str, Any]:
    """Validated options with every default filled; ``ConfigError`` names the bad key path."""
    import jsonschema

    raw = dict(options or {})
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(OPTIONS_SCHEMA).iter_errors(raw))
    if error is not None:
        path = ".".join(["options", *(str(p) for p in error.absolute_path)])
        raise ConfigError(f"{error.message}.", file=where or None, path=path,
                          fix="See the http adapter's options in the configuration reference.")
    return _fill(OPTIONS_SCHEMA, raw)
