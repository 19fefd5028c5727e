"""JSON Schema of prefixes, models and versions."""

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
PREFIX_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$"

ACCESS = {
    "type": "object",
    "description": "Who may call, besides token scope: token 'sub' values and 'groups' claim values. "
                   "Empty lists mean anyone whose token is in scope.",
    "additionalProperties": False,
    "default": {},
    "properties": {
        "users": {"type": "array", "items": {"type": "string"}, "default": [],
                  "description": "Allowed token subjects (sub)."},
        "groups": {"type": "array", "items": {"type": "string"}, "default": [],
                   "description": "Allowed groups (any match of the token's 'groups' claim)."},
    },
}

VERSION = {
    "type": "object",
    "description": "One legacy artifact of the model.",
    "additionalProperties": False,
    "required": ["version", "adapter"],
    "properties": {
        "version": {"type": ["string", "integer"], "description": "Version id, e.g. \"1\"."},
        "adapter": {"type": "string",
                    "description": "Kind of artifact: pickle, onnx, mlflow, python, http (or pkg.mod:Class)."},
        "path": {"type": "string", "description": "Artifact file or folder, relative to this config file."},
        "uri": {"type": "string", "description": "Artifact URI (e.g. models:/churn/3, models:/churn@prod)."},
        "url": {"type": "string", "description": "URL of a legacy scoring service (http adapter)."},
        "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$",
                   "description": "Pin: the artifact's sha256; a mismatch refuses to load."},
        "stage": {"enum": ["production", "staging", None], "default": None,
                  "description": "production, staging, or none (takes no weighted traffic)."},
        "weight": {"type": ["number", "null"], "minimum": 0, "default": None,
                   "description": "Share of the model's traffic (relative to the other versions' weights)."},
        "draft": {"type": "boolean", "default": False,
                  "description": "A draft never takes weighted traffic and is never 'latest'."},
        "trusted": {"type": "boolean", "default": False,
                    "description": "Allow the artifact to run arbitrary code (unrestricted unpickling, "
                                   "MLflow custom pyfunc code)."},
        "allow_modules": {"type": "array", "items": {"type": "string"}, "default": [],
                          "description": "Extra modules the safe unpickler may import from."},
        "accelerate": {"enum": ["none", "onnx", None], "default": None,
                       "description": "Serve a scikit-learn model through a verified ONNX conversion "
                                      "(default: the top-level 'accelerate')."},
        "probe": {"type": "string",
                  "description": "CSV of sample input rows (relative to this file): `veneer check` predicts them, "
                                 "and ONNX acceleration verifies agreement on them at load."},
        "idempotent": {"type": "boolean", "default": False,
                       "description": "Upstream calls may be retried on 502/503/504 (http adapter)."},
        "options": {"type": "object", "default": {},
                    "description": "Adapter-specific options (see the adapter's reference)."},
    },
}

MODEL = {
    "type": "object",
    "description": "A named model and its versions.",
    "additionalProperties": False,
    "required": ["versions"],
    "properties": {
        "prefix": {"type": "string", "pattern": PREFIX_PATTERN,
                   "description": "URL namespace of this model (default: the top-level prefix)."},
        "description": {"type": "string", "default": "", "description": "Shown in the API docs."},
        "cascade_prefix_tokens": {"type": "boolean", "default": False,
                                  "description": "Tokens scoped to the model's prefix are valid for it too."},
        "access": ACCESS,
        "versions": {"type": "array", "minItems": 1, "items": VERSION,
                     "description": "The model's versions."},
    },
}

PREFIX = {
    "type": "object",
    "description": "Settings of one URL namespace.",
    "additionalProperties": False,
    "properties": {
        "access": ACCESS,
        "docs_public": {"type": "boolean", "default": False,
                        "description": "API docs of this prefix answer without a token."},
    },
}

MODELS = {
    "type": "object",
    "description": "Served models by name.",
    "propertyNames": {"pattern": NAME_PATTERN},
    "additionalProperties": MODEL,
    "default": {},
}

PREFIXES = {
    "type": "object",
    "description": "Per-prefix settings (access lists, docs).",
    "propertyNames": {"pattern": PREFIX_PATTERN},
    "additionalProperties": PREFIX,
    "default": {},
}
