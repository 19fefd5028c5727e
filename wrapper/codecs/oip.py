"""Open Inference Protocol (V2) REST payloads: infer requests and responses, metadata bodies.

Status rules: a request that does not follow the spec's schema (missing
``inputs``, a tensor without ``name``/``shape``/``datatype``/``data``, an
unknown datatype, duplicate input names, a bad ``id``) is 400, the spec's
"typically 400". Well-formed tensors whose data do not fit their declaration
(element count versus shape, values out of the datatype's range, a string in
an FP32 tensor) are 422, veneer's status for wrong shape or type.

Tensor data may be flat or nested (row-major); any nesting whose element count
matches the shape is accepted. BYTES elements are JSON strings and stay Python
``str`` in an object array; an input whose parameters say
``{"content_type": "base64"}`` is decoded to ``bytes`` (MLServer's convention).
Integer tensors accept integral floats (``3.0``) and refuse ``3.5``; BOOL tensors
accept JSON booleans only.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Mapping

import numpy as np

from veneer._version import __version__
from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import BadRequest, InvalidInput, PayloadTooLarge, VeneerError

#: OIP datatype name -> numpy dtype (BYTES is an object array of str or bytes).
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8), "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8), "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_BY_DTYPE = {dt: name for name, dt in DATATYPES.items() if name != "BYTES"}
_KNOWN = ", ".join(DATATYPES)
_REQUEST_SHAPE = ('{"inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP32", '
                  '"data": [1.0, 2.0, 3.0]}]}')
_FLOAT_TYPES = frozenset({int, float})
_INT_TYPES = frozenset({int})


def datatype_of(dtype: Any) -> str:
    """The OIP datatype name of a numpy dtype; strings, bytes, objects and datetimes are BYTES."""
    dt = np.dtype(dtype)
    name = _BY_DTYPE.get(dt if dt.isnative else dt.newbyteorder("="))
    if name:
        return name
    if dt.kind in "OUSMm":
        return "BYTES"
    raise VeneerError(f"numpy dtype {dt} has no Open Inference Protocol datatype.",
                      fix=f"Return arrays of one of: {_KNOWN}.", code="unsupported_output")


@dataclass
class InferRequestInfo:
    """The parts of an infer request that shape the response."""

    id: str | None = None
    #: names of the requested outputs in request order, or None for "all outputs"
    requested_outputs: list[str] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    #: per requested output: its ``parameters`` object
    output_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: per input: its ``parameters`` object (only inputs that had one)
    input_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)


def _bad(message: str) -> BadRequest:
    return BadRequest(message, fix=f"Send an inference request like {_REQUEST_SHAPE}.")


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{where}: 'parameters' must be an object, got {type(value).__name__}.")
    return value


def decode_infer_request(doc: Any, *,
                         max_rows: int | None = None) -> tuple[Batch, InferRequestInfo]:
    """Validate an ``$inference_request`` and return its tensors as a ``Batch``.

    ``max_rows`` caps the first dimension of every input (413 beyond it).
    """
    if not isinstance(doc, dict):
        raise _bad(f"The inference request must be a JSON object, got {_json_type(doc)}.")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        got = "no 'inputs'" if inputs is None else f"'inputs' = {_json_type(inputs)}"
        raise _bad(f"The inference request needs a non-empty 'inputs' list; got {got}.")
    req_id = doc.get("id")
    if req_id is not None and not isinstance(req_id, str):
        raise _bad(f"'id' must be a string, got {_json_type(req_id)}.")
    info = InferRequestInfo(id=req_id, parameters=_parameters(doc.get("parameters"), "request"))
    outputs = doc.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list):
            raise _bad(f"'outputs' must be a list of {{\"name\": ...}}, got {_json_type(outputs)}.")
        names = []
        for i, out in enumerate(outputs):
            if not isinstance(out, dict) or not isinstance(out.get("name"), str):
                raise _bad(f"outputs[{i}] must be an object with a string 'name'.")
            names.append(out["name"])
            if out.get("parameters") is not None:
                info.output_parameters[out["name"]] = _parameters(out["parameters"],
                                                                  f"outputs[{i}]")
        # an empty list asks for nothing specific: answer with every output, as when omitted
        info.requested_outputs = names or None
    tensors: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(inputs):
        name, arr = _decode_input(tensor, i, info, max_rows)
        if name in tensors:
            raise _bad(f"Input name {name!r} appears more than once in 'inputs'.")
        tensors[name] = arr
    return Batch(tensors=tensors, params=dict(info.parameters)), info


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null", int: "a number", float: "a number"}.get(type(value), "a value")


def _decode_input(tensor: Any, i: int, info: InferRequestInfo,
                  max_rows: int | None) -> tuple[str, np.ndarray]:
    where = f"inputs[{i}]"
    if not isinstance(tensor, dict):
        raise _bad(f"{where} must be an object, got {_json_type(tensor)}.")
    missing = [k for k in ("name", "shape", "datatype", "data") if k not in tensor]
    if missing:
        raise _bad(f"{where} lacks {', '.join(repr(k) for k in missing)}.")
    name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
    data = tensor["data"]
    if not isinstance(name, str) or not name:
        raise _bad(f"{where}: 'name' must be a non-empty string.")
    where = f"Input {name!r}"
    if (not isinstance(shape, list)
            or any(type(d) is not int or d < 0 for d in shape)):
        raise _bad(f"{where}: 'shape' must be a list of non-negative integers, got {shape!r:.80}.")
    if max_rows is not None and shape and shape[0] > max_rows:
        raise PayloadTooLarge(f"{where} has {shape[0]} rows; this server accepts at most "
                              f"{max_rows}.", fix="Split the request into smaller batches.")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise _bad(f"{where}: unknown datatype {datatype!r:.40}. Known datatypes: {_KNOWN}.")
    params = _parameters(tensor.get("parameters"), where)
    if params:
        info.input_parameters[name] = params
    if not isinstance(data, list):
        data = [data]  # a lone scalar for a shape [] or [1] tensor
    flat = _flatten(data, where)
    count = math.prod(shape)
    if len(flat) != count:
        raise InvalidInput(f"{where}: shape {shape} needs {count} elements, data has {len(flat)}.",
                           fix="Make 'data' hold exactly the product of 'shape' elements, "
                               "flat or nested in row-major order.")
    if shape and shape[0] == 0:
        raise InvalidInput(f"{where}: the batch has zero rows (shape {shape}).",
                           fix="Send at least one row.")
    arr = _convert(flat, datatype, where, params.get("content_type"))
    return name, arr.reshape(shape)


def _flatten(data: list, where: str) -> list:
    """Row-major elements of nested lists; uneven nesting is 422."""
    depth = 0
    while data and type(data[0]) is list:
        if set(map(type, data)) != {list}:
            raise InvalidInput(f"{where}: 'data' mixes lists and single values at depth {depth}.",
                               fix="Nest every element to the same depth, or send a flat list.")
        if len(set(map(len, data))) > 1:
            raise InvalidInput(f"{where}: 'data' has lists of different lengths at depth {depth}.",
                               fix="Send a rectangular array, or a flat list.")
        data = list(chain.from_iterable(data))
        depth += 1
    return data


def _convert(flat: list, datatype: str, where: str, content_type: Any) -> np.ndarray:
    dtype = DATATYPES[datatype]
    types = set(map(type, flat))
    if datatype == "BYTES":
        if not types <= {str}:
            raise InvalidInput(f"{where}: BYTES data must be JSON strings; "
                               f"found {_names(types - {str})}.",
                               fix="Send each element as a string.")
        arr = np.empty(len(flat), dtype=object)
        if content_type == "base64":
            try:
                arr[:] = [base64.b64decode(s, validate=True) for s in flat]
            except (binascii.Error, ValueError) as e:
                raise InvalidInput(f"{where}: an element is not valid base64 ({e}).") from None
        else:
            arr[:] = flat
        return arr
    if datatype == "BOOL":
        if not types <= {bool}:
            raise InvalidInput(f"{where}: BOOL data must be true/false; "
                               f"found {_names(types - {bool})}.",
                               fix="Send JSON booleans.")
        return np.array(flat, dtype=np.bool_)
    if not types <= _FLOAT_TYPES:
        raise InvalidInput(f"{where}: {datatype} data must be numbers; "
                           f"found {_names(types - _FLOAT_TYPES)}.",
                           fix="Send numbers only (no strings, booleans or nulls).")
    if dtype.kind == "f":
        try:
            with np.errstate(over="ignore"):  # overflow is reported below, naming the value
                out = np.array(flat, dtype=dtype)
        except OverflowError:
            raise InvalidInput(f"{where}: an integer is too large for {datatype}.") from None
        if dtype.itemsize < 8 and not np.isfinite(out).all():
            bad = flat[int(np.argmin(np.isfinite(out)))]
            raise InvalidInput(f"{where}: {bad!r} is out of range for {datatype}.",
                               fix=f"Send values within ±{float(np.finfo(dtype).max):.6g} "
                                   "or use FP64.")
        return out
    return _to_int(flat, types, dtype, datatype, where)


def _to_int(flat: list, types: set, dtype: np.dtype, datatype: str, where: str) -> np.ndarray:
    if float in types:
        floats = np.array(flat, dtype=np.float64)
        fractional = floats != np.trunc(floats)
        if fractional.any():
            raise InvalidInput(f"{where}: {float(floats[fractional][0])!r} is not an integer, "
                               f"as {datatype} needs.", fix="Send whole numbers.")
        flat = [int(v) for v in flat]
    if not flat:
        return np.empty(0, dtype=dtype)
    lo, hi = min(flat), max(flat)
    info = np.iinfo(dtype)
    if lo < info.min or hi > info.max:
        bad = lo if lo < info.min else hi
        raise InvalidInput(f"{where}: {bad} is out of range for {datatype} "
                           f"[{info.min}, {info.max}].", fix="Send values within the datatype's "
                                                              "range or declare a wider datatype.")
    return np.array(flat, dtype=dtype)


def _names(types: set) -> str:
    return ", ".join(sorted({_json_type(t()) if t is not type(None) else "null" for t in types}))


def encode_infer_response(*, model_name: str, model_version: str | None,
                          outputs: Mapping[str, np.ndarray], info: InferRequestInfo,
                          parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build ``$inference_response``; output data stay ndarrays (``jsonfast.dumps`` writes them).

    Requested outputs come back in request order; a requested name the model
    does not produce is 400 naming the ones it does.
    """
    names = list(outputs)
    if info.requested_outputs is not None:
        unknown = [n for n in info.requested_outputs if n not in outputs]
        if unknown:
            raise BadRequest(f"Requested output(s) {unknown} are not produced by model "
                             f"{model_name!r}.", fix=f"Ask for any of: {names}, or omit 'outputs'.")
        names = info.requested_outputs
    body: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        body["model_version"] = str(model_version)
    if info.id is not None:
        body["id"] = info.id
    if parameters:
        body["parameters"] = parameters
    body["outputs"] = [_encode_output(n, outputs[n]) for n in names]
    return body


def _encode_output(name: str, value: Any) -> dict[str, Any]:
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    out: dict[str, Any] = {"name": name, "shape": list(arr.shape)}
    if arr.dtype.kind in "OUS":
        out["datatype"] = "BYTES"
        flat = arr.ravel().tolist()
        if arr.dtype.kind == "O" and not all(isinstance(v, (str, bytes)) for v in flat):
            numeric = np.asarray(flat)
            if numeric.dtype.kind in "biuf":  # an object column that holds numbers
                out["datatype"] = datatype_of(numeric.dtype)
                out["data"] = numeric
                return out
        out["parameters"] = {"content_type": "str"}
        out["data"] = flat
        return out
    if arr.dtype.kind in "Mm":
        out["datatype"] = "BYTES"
        out["data"] = arr.ravel().astype(str).tolist()
        return out
    out["datatype"] = datatype_of(arr.dtype)
    flat = arr.reshape(-1)
    if not flat.flags.c_contiguous or not flat.dtype.isnative:
        flat = np.ascontiguousarray(flat, dtype=flat.dtype.newbyteorder("="))
    out["data"] = flat
    return out


def model_metadata(name: str, versions: list[str] | None, platform: str,
                   inputs: list[Any], outputs: list[Any]) -> dict[str, Any]:
    """``$metadata_model_response``; tensors may be ``TensorSpec`` objects or dicts."""
    body: dict[str, Any] = {"name": name}
    if versions is not None:
        body["versions"] = [str(v) for v in versions]
    body["platform"] = platform
    body["inputs"] = [t.to_dict() if hasattr(t, "to_dict") else dict(t) for t in inputs]
    body["outputs"] = [t.to_dict() if hasattr(t, "to_dict") else dict(t) for t in outputs]
    return body


def server_metadata(extensions: list[str], *, name: str = "veneer",
                    version: str | None = None) -> dict[str, Any]:
    """``$metadata_server_response``: name, version (veneer's by default), extensions."""
    return {"name": name, "version": version or __version__, "extensions": list(extensions)}


def error_body(err: BaseException) -> dict[str, str]:
    """``$inference_error_response``: ``{"error": message}``."""
    return {"error": str(err)}
