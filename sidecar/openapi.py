"""The OpenAPI 3.1 document of one prefix, generated from the models it serves.

Each model gets its native routes (``POST /models/{prefix}/{model}/`` and one
``/v{version}/`` path per version, plus ``GET ...?get_meta=true``) and its Open
Inference Protocol routes under its qualified name, with request bodies derived
from each version's tensor metadata (``openapi_schemas``), the version headers,
the JSON error shape, and the bearer scheme when auth is on.

The document says only what a caller of the prefix may know: model and version
names, stages, weights, tensor names and types. Never artifact paths, upstream
URLs, adapter options or key material.

``DocumentCache`` builds it once per prefix and keeps the serialised bytes until
the traffic table or a load state changes, so a docs request never rebuilds it.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Iterable

from veneer._version import __version__
from veneer.wrapper.codecs.jsonfast import dumps
from veneer.wrapper.settings import ModelSpec

from . import openapi_schemas as schemas
from .model_store import LoadedVersion
from .routing import ModelTraffic
from .state import ServerState

OPENAPI_VERSION = "3.1.0"
RESPONSE_HEADERS = {
    "X-Request-ID": "The request id: the caller's `X-Request-ID` if valid, else one veneer made.",
    "X-Veneer-Model": "The model that answered, `prefix/model`.",
    "X-Veneer-Model-Version": "The version that answered.",
    "X-Veneer-Model-Stage": "Its stage: `production`, `staging` or `none`.",
    "X-Veneer-Engine": "The engine that ran it (e.g. `onnxruntime`, `sklearn`, `http`).",
    "X-Veneer-Routing-Key": "Echo of the routing key, when one was sent.",
}
REQUEST_HEADERS = {
    "X-Request-ID": "Your id for this request (letters, digits, `._:-`, up to 128), echoed back.",
    "X-Veneer-Model-Version": "Pin a version id, or a stage: `production`, `staging`, `latest`.",
    "X-Veneer-Routing-Key": "Sticky routing: the same key lands on the same version while the weights stand.",
}
ERRORS = {
    400: "Malformed request (bad JSON, missing fields, bad path).",
    401: "No token, or the token was refused (expired, bad signature, revoked).",
    403: "The token does not cover this prefix or model, or lacks the permission.",
    404: "Unknown model or version.",
    413: "Body or row count over the server's limits.",
    415: "Content-Type or Content-Encoding not accepted.",
    422: "Well-formed but wrong shape or type for the model.",
    503: "The version is not loaded (or its upstream is down); see `Retry-After` when present.",
}
_AUTH_ERRORS = (401, 403)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "x"


def _header_refs(names: Iterable[str]) -> dict[str, Any]:
    return {n: {"$ref": f"#/components/headers/{n}"} for n in names}


def _errors(auth_on: bool, statuses: Iterable[int] = ERRORS) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in statuses
            if auth_on or s not in _AUTH_ERRORS}


def _metadata_of(lv: LoadedVersion | None):
    meta = lv.metadata if lv is not None else None
    return (list(meta.inputs), list(meta.outputs)) if meta is not None else ([], [])


def _version_note(traffic: ModelTraffic, lv: LoadedVersion) -> str:
    route = traffic.route(lv.spec.version)
    stage = route.stage if route and route.stage else "no stage"
    bits = [f"stage {stage}"]
    if route is not None and route.weight is not None:
        bits.append(f"weight {route.weight:g}%")
    if route is not None and route.draft:
        bits.append("draft")
    if lv.state != "ready":
        bits.append(f"not loaded ({lv.state})")
    return ", ".join(bits)


class _Builder:
    """Accumulates paths for one prefix."""

    def __init__(self, prefix: str, *, auth_on: bool, max_rows: int) -> None:
        self.prefix, self.auth_on, self.max_rows = prefix, auth_on, max_rows
        self.paths: dict[str, Any] = {}
        self.tags: list[dict[str, str]] = []

    def model(self, spec: ModelSpec, traffic: ModelTraffic, versions: list[LoadedVersion]) -> None:
        """Add the native and OIP routes of one model."""
        qn = spec.qualified_name
        by_version = {lv.spec.version: lv for lv in versions}
        latest = by_version.get(traffic.latest or "") or (versions[0] if versions else None)
        weights = ", ".join(f"v{v} {w:g}%" for v, w in traffic.traffic) or "none"
        self.tags.append({"name": spec.name, "description": (spec.description or f"Model {qn}.")
                          + f" Versions: {', '.join(by_version) or 'none'}; traffic: {weights}."})
        oip_tag = f"{spec.name} (Open Inference Protocol)"
        self.tags.append({"name": oip_tag, "description": f"KServe / Triton / MLServer clients of {qn}."})
        base = f"/models/{qn}/"
        self.paths[base] = self._native(spec, None, latest, "the version chosen by weights, pins or routing key")
        for version, lv in by_version.items():
            self.paths[f"{base}v{version}/"] = self._native(spec, version, lv, _version_note(traffic, lv))
        self.paths[f"/v2/models/{qn}"] = {"get": self._oip_meta(spec, None, oip_tag)}
        self.paths[f"/v2/models/{qn}/ready"] = {"get": self._oip_ready(spec, None, oip_tag)}
        self.paths[f"/v2/models/{qn}/infer"] = {"post": self._oip_infer(spec, None, latest, oip_tag)}
        for version, lv in by_version.items():
            root = f"/v2/models/{qn}/versions/{version}"
            self.paths[root] = {"get": self._oip_meta(spec, version, oip_tag)}
            self.paths[f"{root}/ready"] = {"get": self._oip_ready(spec, version, oip_tag)}
            self.paths[f"{root}/infer"] = {"post": self._oip_infer(spec, version, lv, oip_tag)}

    def _native(self, spec: ModelSpec, version: str | None, lv: LoadedVersion | None, note: str) -> dict:
        inputs, outputs = _metadata_of(lv)
        which = f"version {version} ({note})" if version else note
        op_id = _slug(f"predict {spec.name}" + (f" v{version}" if version else ""))
        predict = {
            "tags": [spec.name], "operationId": op_id,
            "summary": f"Predict with {spec.qualified_name}" + (f" v{version}" if version else ""),
            "description": f"Answered by {which}. JSON table shapes or CSV in; the same format out. "
                           "Inputs: " + (", ".join(f"`{t.name}` {t.datatype} {list(t.shape)}" for t in inputs)
                                         or "not described by this model (any table)."),
            "parameters": [] if version else [{"$ref": "#/components/parameters/PinVersion"},
                                              {"$ref": "#/components/parameters/RoutingKey"}],
            "requestBody": {"required": True, "content": schemas.native_request(inputs, self.max_rows)},
            "responses": {"200": {"description": "Predictions, with the version that answered in the headers.",
                                  "headers": _header_refs(RESPONSE_HEADERS),
                                  "content": schemas.native_response(outputs, self.max_rows)},
                          **_errors(self.auth_on)},
        }
        predict["parameters"].insert(0, {"$ref": "#/components/parameters/RequestId"})
        meta = {
            "tags": [spec.name], "operationId": _slug(f"metadata {op_id}"),
            "summary": f"Metadata of {spec.qualified_name}" + (f" v{version}" if version else ""),
            "parameters": [{"name": "get_meta", "in": "query", "required": False,
                            "description": "Platform SDKs send `true`; any GET answers metadata.",
                            "schema": {"type": "string", "enum": ["true"]}}],
            "responses": {"200": {"description": "Versions, traffic, stages and tensor metadata.",
                                  "content": {"application/json": {"schema": {"type": "object"}}}},
                          **_errors(self.auth_on, (401, 403, 404))},
        }
        return {"post": predict, "get": meta}

    def _oip_infer(self, spec: ModelSpec, version: str | None, lv: LoadedVersion | None, tag: str) -> dict:
        inputs, _ = _metadata_of(lv)
        suffix = f" v{version}" if version else ""
        return {"tags": [tag], "operationId": _slug(f"oip infer {spec.name}{suffix}"),
                "summary": f"OIP inference on {spec.qualified_name}{suffix}",
                "parameters": [{"$ref": "#/components/parameters/RequestId"}] + (
                    [] if version else [{"$ref": "#/components/parameters/PinVersion"},
                                        {"$ref": "#/components/parameters/RoutingKey"}]),
                "requestBody": {"required": True, "content": schemas.oip_request(inputs)},
                "responses": {"200": {"description": "Output tensors.", "headers": _header_refs(RESPONSE_HEADERS),
                                      "content": {"application/json": {
                                          "schema": {"$ref": "#/components/schemas/InferenceResponse"}}}},
                              **_errors(self.auth_on)}}

    def _oip_meta(self, spec: ModelSpec, version: str | None, tag: str) -> dict:
        suffix = f" v{version}" if version else ""
        return {"tags": [tag], "operationId": _slug(f"oip metadata {spec.name}{suffix}"),
                "summary": f"OIP metadata of {spec.qualified_name}{suffix}",
                "responses": {"200": {"description": "Model metadata.", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ModelMetadata"}}}},
                    **_errors(self.auth_on, (401, 403, 404))}}

    def _oip_ready(self, spec: ModelSpec, version: str | None, tag: str) -> dict:
        suffix = f" v{version}" if version else ""
        ready = {"application/json": {"schema": {"type": "object", "properties": {
            "name": {"type": "string"}, "ready": {"type": "boolean"}}}}}
        return {"tags": [tag], "operationId": _slug(f"oip ready {spec.name}{suffix}"),
                "summary": f"Is {spec.qualified_name}{suffix} ready?",
                "responses": {"200": {"description": "Ready.", "content": ready},
                              "503": {"description": "Not loaded.", "content": ready},
                              **_errors(self.auth_on, (401, 403, 404))}}

    def components(self) -> dict[str, Any]:
        """Shared schemas, headers, parameters, error responses and the security scheme."""
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        out: dict[str, Any] = {
            "schemas": {"Error": schemas.ERROR_SCHEMA, "InferenceResponse": schemas.OIP_RESPONSE,
                        "ModelMetadata": schemas.OIP_METADATA, "TensorMetadata": schemas.TENSOR_METADATA},
            "headers": {n: {"description": d, "schema": {"type": "string"}} for n, d in RESPONSE_HEADERS.items()},
            "parameters": {
                key: {"name": name, "in": "header", "required": False, "description": REQUEST_HEADERS[name],
                      "schema": {"type": "string"}}
                for key, name in (("RequestId", "X-Request-ID"), ("PinVersion", "X-Veneer-Model-Version"),
                                  ("RoutingKey", "X-Veneer-Routing-Key"))},
            "responses": {f"E{s}": {"description": d, "content": error} for s, d in ERRORS.items()
                          if self.auth_on or s not in _AUTH_ERRORS},
        }
        if self.auth_on:
            out["securitySchemes"] = {"bearer": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A veneer token (`veneer token mint`) whose scope covers this prefix or model."}}
        return out

    def document(self) -> dict[str, Any]:
        """The finished OpenAPI document."""
        auth = ("Calls need a bearer token whose scope covers the model (Authorize button)." if self.auth_on
                else "Auth is OFF on this server: anyone who can reach it can call these models.")
        doc: dict[str, Any] = {
            "openapi": OPENAPI_VERSION,
            "info": {"title": f"veneer: {self.prefix}", "version": __version__,
                     "description": f"Models served under the prefix `{self.prefix}`. {auth} Every answer "
                                    "carries the version that answered in `X-Veneer-Model-Version`."},
            "tags": self.tags, "paths": self.paths, "components": self.components(),
        }
        if self.auth_on:
            doc["security"] = [{"bearer": []}]
        return doc


def prefixes_with_models(st: ServerState) -> set[str]:
    """Every prefix that serves at least one model."""
    return {m.prefix for m in st.models.models.values()}


def build_document(st: ServerState, prefix: str) -> dict[str, Any]:
    """The OpenAPI document of ``prefix`` from the current models and traffic."""
    auth_on = st.auth is not None and st.auth.enabled
    builder = _Builder(prefix, auth_on=auth_on, max_rows=st.config.server.max_rows)
    table = st.traffic
    for qn, spec in sorted(st.models.models.items()):
        if spec.prefix == prefix and qn in table.models:
            builder.model(spec, table.models[qn], st.models.of_model(qn))
    return builder.document()


class DocumentCache:
    """Serialised documents per prefix, valid while the traffic table and load states stand."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Any, tuple, bytes]] = {}
        self._lock = threading.Lock()
        self.builds = 0  # how many documents were built (tests check it stays flat)

    @staticmethod
    def _signature(st: ServerState, prefix: str) -> tuple:
        # load states matter: a version that loads after fork brings its tensor metadata with it
        return tuple((qn, v, lv.state) for (qn, v), lv in st.models.versions.items()
                     if qn.rpartition("/")[0] == prefix)

    def get(self, st: ServerState, prefix: str) -> bytes:
        """The document of ``prefix`` as JSON bytes, built at most once per change."""
        table, sig = st.traffic, self._signature(st, prefix)
        entry = self._entries.get(prefix)
        if entry is not None and entry[0] is table and entry[1] == sig:
            return entry[2]
        with self._lock:
            entry = self._entries.get(prefix)
            if entry is not None and entry[0] is table and entry[1] == sig:
                return entry[2]
            payload = dumps(build_document(st, prefix))
            self._entries[prefix] = (table, sig, payload)
            self.builds += 1
            return payload
