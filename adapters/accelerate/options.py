"""JSON Schema of ``options.accelerate`` (shared by the pickle and mlflow adapters' option schemas)."""

from __future__ import annotations

from typing import Any

#: ``options: {accelerate: {...}}`` of a version with ``accelerate: onnx``.
OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "default": {},
    "description": "Tuning of `accelerate: onnx` (ignored without it): how close ONNX must be to "
                   "scikit-learn, and how much agreement promotes it.",
    "properties": {
        "tolerance": {"type": "number", "minimum": 0, "default": 1e-6,
                      "description": "Largest accepted difference of probabilities and regression "
                                     "outputs, relative to max(|scikit-learn value|, 1); labels must be equal. "
                                     "Write 1.0e-5, not 1e-5 (YAML reads the latter as text)."},
        "promote_after_rows": {"type": "integer", "minimum": 1, "default": 1000,
                               "description": "Agreeing rows (over all workers) after which ONNX answers."},
        "audit_every": {"type": "integer", "minimum": 0, "default": 1000,
                        "description": "After promotion, also answer every Nth request with scikit-learn "
                                       "and compare (a difference demotes); 0 switches audits off."},
        "refresh_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 1.0,
                            "description": "How often each worker shares its counts and reads the "
                                           "others' promotion or demotion."},
        "threads": {"type": "integer", "minimum": 1, "default": 1,
                    "description": "ONNX Runtime intra-op threads per request."},
    },
}
