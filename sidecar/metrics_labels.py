"""Bounded label values for veneer's Prometheus metrics.

Every label value that reaches a metric passes through one of these functions,
so the number of series stays bounded whatever clients send: unknown models
and versions collapse to ``_unknown``, protocols and reasons come from fixed
sets (else ``other``), status codes outside a fixed set collapse to their
class (``3xx``...). Nothing derived from a token or a raw path ever becomes a
label value.
"""

from __future__ import annotations

import re

UNKNOWN = "_unknown"
OTHER = "other"

#: wire protocols, as the blueprints name them; aliases map onto these
PROTOCOLS = frozenset({"native", "oip", "kserve_v1", "mlflow", "health", "admin", "docs", "metrics"})
_PROTOCOL_ALIASES = {"v2": "oip", "open_inference": "oip", "v1": "kserve_v1", "kserve": "kserve_v1",
                     "mlflow_scoring": "mlflow", "invocations": "mlflow", "platform": "native"}

#: status codes kept exactly; any other collapses to its class ("2xx", "3xx", ...)
EXACT_CODES = frozenset({200, 201, 202, 204, 400, 401, 403, 404, 405, 406, 408, 409, 411, 413,
                         415, 422, 429, 499, 500, 501, 502, 503, 504})

LOAD_FAILURE_REASONS = frozenset({
    "hash_mismatch", "invalid_pin", "unsafe_pickle", "missing_file", "not_found", "not_a_file",
    "bad_path", "path_escape", "external_data_escape", "unreadable", "too_large", "import_error",
    "missing_dependency", "invalid_artifact", "corrupt", "corrupt_model", "unsupported_format",
    "unsupported_opset", "unsupported_ir_version", "unsupported_output", "custom_op",
    "version_mismatch", "timeout", "unsupported", "permission_denied", "load_failed", "load_error",
    "config_error"})
AUTH_FAILURE_REASONS = frozenset({
    # 401 (sidecar/auth/reasons.py UNAUTHORIZED)
    "missing", "multiple_tokens", "malformed", "too_large", "bad_algorithm", "crit_unsupported",
    "bad_type", "bad_kid", "unknown_key", "bad_signature", "expired", "immature", "missing_claim",
    "bad_claim", "bad_issuer", "bad_audience", "lifetime_exceeded", "revoked",
    # 403 (FORBIDDEN) and the rest
    "out_of_scope", "cascade_off", "no_permission", "not_in_access_list", "untrusted_global_id",
    "global_id_required", "key_source_unavailable", "bad_path",
    # generic names
    "unauthorized", "forbidden", "invalid_token"})
UPSTREAM_REASONS = frozenset({
    "connect_error", "timeout", "read_timeout", "connect_timeout", "deadline", "http_4xx",
    "http_5xx", "bad_response", "circuit_open", "retry_budget", "tls_error", "dns_error",
    "redirect", "pool_exhausted", "upstream_error", "upstream_unavailable", "upstream_timeout"})
JWKS_RESULTS = frozenset({"ok", "not_modified", "error", "timeout", "invalid", "cached", "stale"})
ENGINES = frozenset({"native", "onnx", "onnxruntime", "python", "http", "mlflow"})
REGISTRIES = frozenset({"mlflow", "http"})

#: free-text values that are legitimately per-version (adapter, library versions) are
#: restricted to this alphabet and length; anything else becomes "other"
_SAFE_TEXT = re.compile(r"^[A-Za-z0-9_.:+/@ =-]{1,64}$")


def protocol_label(protocol: str | None) -> str:
    """The protocol label: one of ``PROTOCOLS``, else ``other``."""
    p = (protocol or "").lower()
    p = _PROTOCOL_ALIASES.get(p, p)
    return p if p in PROTOCOLS else OTHER


def code_label(status: int | str | None) -> str:
    """The status label: the exact code if it is in ``EXACT_CODES``, else its class."""
    try:
        code = int(status)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return OTHER
    if code in EXACT_CODES:
        return str(code)
    if 100 <= code <= 599:
        return f"{code // 100}xx"
    return OTHER


def reason_label(reason: str | None, allowed: frozenset[str]) -> str:
    """``reason`` if it is in ``allowed``, else ``other``."""
    r = (reason or "").lower()
    return r if r in allowed else OTHER


def text_label(value: object | None) -> str:
    """A short free-text value (adapter name, library version) or ``other``/``""``."""
    if value is None or value == "":
        return ""
    text = str(value)
    return text if _SAFE_TEXT.match(text) else OTHER


def sha_label(sha256: str | None) -> str:
    """The first 12 hex digits of an artifact hash (enough to tell versions apart)."""
    if not sha256:
        return ""
    prefix = str(sha256).lower()[:12]
    return prefix if re.fullmatch(r"[0-9a-f]{1,12}", prefix) else OTHER


class KnownNames:
    """The set of model names and (model, version) pairs allowed as label values.

    Models come from the configuration; versions are added as they are loaded
    (``add``), so a request for ``v999`` of a served model is counted under
    ``_unknown`` instead of creating a series per guess.
    """

    def __init__(self, models=(), versions=None) -> None:
        self.models: set[str] = {str(m) for m in models}
        self.versions: set[tuple[str, str]] = set()
        for model, vs in (versions or {}).items():
            for v in vs:
                self.add(model, v)

    def add(self, model: str, version: str | None = None) -> None:
        """Allow ``model`` (and ``model``/``version``) as label values from now on."""
        self.models.add(str(model))
        if version is not None:
            self.versions.add((str(model), str(version)))

    def model(self, model: str | None) -> str:
        """``model`` if known, else ``_unknown``."""
        return model if model in self.models else UNKNOWN  # type: ignore[return-value]

    def version(self, model: str | None, version: str | None) -> str:
        """``version`` if ``(model, version)`` is known, else ``_unknown``."""
        if version is None or model is None:
            return UNKNOWN
        return str(version) if (str(model), str(version)) in self.versions else UNKNOWN

    def pair(self, model: str | None, version: str | None) -> tuple[str, str]:
        """The bounded ``(model, version)`` label pair."""
        m = self.model(model)
        return m, (self.version(model, version) if m != UNKNOWN else UNKNOWN)
