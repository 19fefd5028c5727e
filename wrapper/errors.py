"""Every error veneer raises, each with an HTTP status and a stable code.

The tree::

    VeneerError                      (status 500, code "internal")
    ├── BadRequest(ValueError)       400 bad_request
    │   └── MalformedPayload         400 malformed_payload
    ├── Unauthorized                 401 (reason in ``code``)
    ├── Forbidden                    403
    ├── NotFound(LookupError)        404 not_found
    │   ├── ModelNotFound            404 model_not_found
    │   └── VersionNotFound          404 version_not_found
    ├── PayloadTooLarge              413 payload_too_large
    ├── UnsupportedMediaType         415 unsupported_media_type
    ├── InvalidInput(ValueError)     422 invalid_input
    ├── ModelNotReady                503 model_not_ready
    ├── UpstreamError                502 upstream_error
    │   ├── UpstreamUnavailable      503 upstream_unavailable
    │   └── UpstreamTimeout          504 upstream_timeout
    ├── KeySourceUnavailable         503 key_source_unavailable
    ├── ArtifactError                (load-time; never an HTTP answer by itself)
    └── ConfigError(ValueError)      names the file, key path and line

Messages say what is wrong (with the offending value), and how to fix it.
The HTTP layer renders any of these as JSON in the protocol's own shape; this
module imports nothing from Flask so the wrapper stays usable without it.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class VeneerError(Exception):
    """Base of every veneer error: carries an HTTP status and a machine-readable code."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    code: str = "internal"

    def __init__(self, message: str, *, fix: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} {self.fix}" if self.fix else self.message

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready description used by every protocol's error body."""
        body: dict[str, Any] = {"error": str(self), "code": self.code}
        body.update({k: v for k, v in self.details.items() if v is not None})
        return body


class BadRequest(VeneerError, ValueError):
    """The request cannot be parsed at all (400)."""

    status = HTTPStatus.BAD_REQUEST
    code = "bad_request"


class MalformedPayload(BadRequest):
    """The body is not valid JSON or CSV (400)."""

    code = "malformed_payload"


class Unauthorized(VeneerError):
    """No valid token (401); ``code`` is the reason (missing, malformed, expired...)."""

    status = HTTPStatus.UNAUTHORIZED
    code = "unauthorized"


class Forbidden(VeneerError):
    """A valid token that does not reach this resource (403)."""

    status = HTTPStatus.FORBIDDEN
    code = "forbidden"


class NotFound(VeneerError, LookupError):
    """Nothing is served at this address (404)."""

    status = HTTPStatus.NOT_FOUND
    code = "not_found"


class ModelNotFound(NotFound):
    """The named model is not served here (404)."""

    code = "model_not_found"

    def __init__(self, name: str, *, known: list[str] | None = None) -> None:
        hint = f"Served models: {', '.join(sorted(known))}." if known else None
        super().__init__(f"Model {name!r} is not served here.", fix=hint, model=name)


class VersionNotFound(NotFound):
    """The model exists but has no such version (404)."""

    code = "version_not_found"

    def __init__(self, model: str, version: str, *, known: list[str] | None = None) -> None:
        hint = f"Versions of {model!r}: {', '.join(known)}." if known else None
        super().__init__(f"Model {model!r} has no version {version!r}.", fix=hint,
                         model=model, version=version)


class PayloadTooLarge(VeneerError):
    """The body exceeds the configured size or row limit (413)."""

    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"


class UnsupportedMediaType(VeneerError):
    """A content type or content encoding veneer does not accept (415)."""

    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    code = "unsupported_media_type"


class InvalidInput(VeneerError, ValueError):
    """Well-formed data of the wrong shape, type or columns for this model (422)."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "invalid_input"


class ModelNotReady(VeneerError):
    """The version exists but is not loaded, or failed to load (503)."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "model_not_ready"


class UpstreamError(VeneerError):
    """An external HTTP model answered something unusable (502)."""

    status = HTTPStatus.BAD_GATEWAY
    code = "upstream_error"


class UpstreamUnavailable(UpstreamError):
    """An external HTTP model is down or its circuit breaker is open (503)."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    """An external HTTP model did not answer within the deadline (504)."""

    status = HTTPStatus.GATEWAY_TIMEOUT
    code = "upstream_timeout"


class KeySourceUnavailable(VeneerError):
    """Token keys cannot be fetched and nothing usable is cached (503)."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "key_source_unavailable"


class ArtifactError(VeneerError):
    """A legacy artifact cannot be loaded; ``code`` is the reason (hash_mismatch, unsafe_pickle...)."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "load_failed"


class ConfigError(VeneerError, ValueError):
    """An invalid configuration; the message names the file, key path and line."""

    code = "config_error"

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None,
                 line: int | None = None, fix: str | None = None) -> None:
        where = ":".join(str(p) for p in (file, line) if p is not None)
        location = " ".join(p for p in (where, f"at {path}" if path else None) if p)
        full = f"{location}: {message}" if location else message
        super().__init__(full, fix=fix)
        self.file, self.key_path, self.line = file, path, line
