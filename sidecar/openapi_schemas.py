"""JSON Schemas of request and response bodies, derived from a version's tensor metadata.

A version's ``AdapterMetadata.inputs`` decides which native payloads fit:

- every input one-dimensional (``(-1,)`` or ``(-1, 1)``): a table with one
  column per input, sent as records, one record, ``columns``/``data`` split,
  column lists, an MLflow envelope, or CSV;
- one input of shape ``(-1, k)``: rows of ``k`` values (``k`` unknown: any);
- anything else (several multi-dimensional tensors): the MLflow ``inputs``
  envelope of named tensors.

No metadata (a Python function, a version still loading) gives the generic
table shapes. Nothing here reads a path, an option or a secret of the version.
"""

from __future__ import annotations

from typing import Any, Sequence

from veneer.adapters.base import TensorSpec

_INT_RANGES = {"INT8": 8, "INT16": 16, "INT32": 32, "INT64": 64}
_UINT_BITS = {"UINT8": 8, "UINT16": 16, "UINT32": 32, "UINT64": 64}
_SCALAR_ANY = {"type": ["number", "string", "boolean", "null"]}
ERROR_SCHEMA = {
    "type": "object", "required": ["error", "code"],
    "description": "Every error of the native, OIP and KServe V1 routes (MLflow scoring uses "
                   "`{error_code, message}`).",
    "properties": {
        "error": {"type": "string", "description": "What is wrong, with the offending value, and the fix."},
        "code": {"type": "string", "description": "Stable machine-readable reason, e.g. `invalid_input`."},
        "request_id": {"type": "string", "description": "Echo of `X-Request-ID` (or the id veneer made)."},
    },
    "additionalProperties": True,
}


def scalar_schema(datatype: str) -> dict[str, Any]:
    """The JSON Schema of one element of an OIP ``datatype`` (unknown types: any scalar)."""
    if datatype == "BOOL":
        return {"type": "boolean"}
    if datatype == "BYTES":
        return {"type": "string"}
    if datatype in _INT_RANGES:
        bits = _INT_RANGES[datatype]
        return {"type": "integer", "minimum": -(2 ** (bits - 1)), "maximum": 2 ** (bits - 1) - 1}
    if datatype in _UINT_BITS:
        return {"type": "integer", "minimum": 0, "maximum": 2 ** _UINT_BITS[datatype] - 1}
    if datatype.startswith("FP"):
        return {"type": "number"}
    return dict(_SCALAR_ANY)


def example_value(datatype: str) -> Any:
    """A harmless example element of ``datatype``."""
    return {"BOOL": True, "BYTES": "text"}.get(datatype, 0 if datatype.startswith(("INT", "UINT")) else 0.5)


def is_tabular(tensors: Sequence[TensorSpec]) -> bool:
    """One column per tensor: every tensor holds one value per row."""
    return bool(tensors) and all(len(t.shape) <= 1 or (len(t.shape) == 2 and t.shape[1] == 1)
                                 for t in tensors)


def _row_width(tensors: Sequence[TensorSpec]) -> int | None:
    """``k`` for a single ``(-1, k)`` tensor (-1 when any width), else None."""
    if len(tensors) == 1 and len(tensors[0].shape) == 2:
        return int(tensors[0].shape[1])
    return None


def _array(items: dict, max_rows: int, **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": 1, "maxItems": max_rows, **extra}


def _table_shapes(columns: Sequence[TensorSpec] | None, max_rows: int) -> list[dict[str, Any]]:
    """Records, one record, split and column lists over ``columns`` (None: any columns)."""
    if columns:
        props = {t.name: scalar_schema(t.datatype) for t in columns}
        record = {"type": "object", "properties": props, "required": list(props)}
        column_lists = {"type": "object", "required": list(props),
                        "properties": {n: _array(s, max_rows) for n, s in props.items()}}
        names: dict[str, Any] = {"type": "string", "enum": list(props)}
    else:
        record = {"type": "object", "additionalProperties": _SCALAR_ANY, "minProperties": 1}
        column_lists = {"type": "object", "additionalProperties": _array(_SCALAR_ANY, max_rows)}
        names = {"type": "string"}
    return [
        {"title": "records", **_array(record, max_rows)},
        {"title": "one record", **record},
        {"title": "split", "type": "object", "required": ["columns", "data"],
         "properties": {"columns": {"type": "array", "items": names},
                        "data": _array({"type": "array", "items": _SCALAR_ANY}, max_rows),
                        "index": {"type": "array"}}},
        {"title": "columns", **column_lists},
    ]


def _mlflow_envelope(inputs: Sequence[TensorSpec]) -> dict[str, Any]:
    tensors = {t.name: {"type": "array"} for t in inputs}
    named = ({"type": "object", "properties": tensors, "required": list(tensors)} if tensors
             else {"type": "object"})
    return {"title": "MLflow scoring envelope", "type": "object", "minProperties": 1,
            "properties": {"dataframe_split": {"type": "object"}, "dataframe_records": {"type": "array"},
                           "instances": {"type": "array"}, "inputs": {"anyOf": [named, {"type": "array"}]},
                           "params": {"type": "object"}}}


def native_request(inputs: Sequence[TensorSpec], max_rows: int) -> dict[str, Any]:
    """``requestBody.content`` of the native predict route for these inputs."""
    width = _row_width(inputs)
    shapes: list[dict[str, Any]] = []
    if is_tabular(inputs):
        shapes = _table_shapes(inputs, max_rows)
        example: Any = [{t.name: example_value(t.datatype) for t in inputs}]
        csv_example = ",".join(t.name for t in inputs) + "\n" + ",".join(
            str(example_value(t.datatype)) for t in inputs) + "\n"
    elif width is not None:
        row = {"type": "array", "items": scalar_schema(inputs[0].datatype), "minItems": 1}
        if width > 0:
            row.update(minItems=width, maxItems=width)
        shapes = [{"title": "rows", **_array(row, max_rows)}]
        example = [[example_value(inputs[0].datatype)] * max(width, 1)]
        csv_example = ",".join(f"c{i}" for i in range(max(width, 1))) + "\n" + ",".join(
            ["0.5"] * max(width, 1)) + "\n"
    elif inputs:
        example = {"inputs": {t.name: [example_value(t.datatype)] for t in inputs}}
        csv_example = None
    else:
        shapes = _table_shapes(None, max_rows) + [{"title": "rows", **_array({"type": "array"}, max_rows)}]
        example = [{"a": 1.0, "b": 2.0}]
        csv_example = "a,b\n1.0,2.0\n"
    shapes.append(_mlflow_envelope(inputs))
    content: dict[str, Any] = {"application/json": {"schema": {"anyOf": shapes}, "example": example}}
    if csv_example is not None:
        content["text/csv"] = {"schema": {"type": "string", "description": "A header row, then one row per "
                                          "record; the answer is CSV too."}, "example": csv_example}
    return content


def native_response(outputs: Sequence[TensorSpec], max_rows: int) -> dict[str, Any]:
    """``content`` of a 200 answer: the request's own format with the outputs."""
    if outputs and is_tabular(outputs):
        props = {t.name: scalar_schema(t.datatype) for t in outputs}
        record = {"type": "object", "properties": props}
        example: Any = [{t.name: example_value(t.datatype) for t in outputs}]
    else:
        record = {"type": "object"}
        example = [{"prediction": 0.5}] if not outputs else {t.name: [example_value(t.datatype)] for t in outputs}
    json_schema = {"description": "Same shape as the request: records in, records out; columns in, "
                                  "columns out; an MLflow envelope answers `{\"predictions\": ...}`.",
                   "anyOf": [_array(record, max_rows), record, {"type": "array"},
                             {"type": "object", "properties": {"predictions": {}}}]}
    return {"application/json": {"schema": json_schema, "example": example},
            "text/csv": {"schema": {"type": "string"}}}


def oip_tensor_example(t: TensorSpec) -> dict[str, Any]:
    """One OIP input tensor of one row, for a request example."""
    shape = [1] + [d if d > 0 else 1 for d in t.shape[1:]]
    count = 1
    for d in shape:
        count *= d
    return {"name": t.name, "shape": shape, "datatype": t.datatype,
            "data": [example_value(t.datatype)] * count}


def oip_request(inputs: Sequence[TensorSpec]) -> dict[str, Any]:
    """``requestBody.content`` of OIP infer, naming this version's input tensors."""
    def tensor(t: TensorSpec | None) -> dict[str, Any]:
        return {"type": "object", "required": ["name", "shape", "datatype", "data"],
                "properties": {"name": {"const": t.name} if t else {"type": "string"},
                               "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                               "datatype": {"const": t.datatype} if t else {"type": "string"},
                               "parameters": {"type": "object"},
                               "data": {"type": "array", "minItems": 1}}}
    item = {"anyOf": [tensor(t) for t in inputs]} if inputs else tensor(None)
    schema = {"type": "object", "required": ["inputs"],
              "properties": {"id": {"type": "string"}, "parameters": {"type": "object"},
                             "inputs": {"type": "array", "items": item, "minItems": 1},
                             "outputs": {"type": "array", "items": {
                                 "type": "object", "required": ["name"],
                                 "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}}}}}}
    example = {"inputs": [oip_tensor_example(t) for t in inputs] or
               [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [0.5, 0.5]}]}
    return {"application/json": {"schema": schema, "example": example}}


OIP_RESPONSE = {
    "type": "object", "required": ["model_name", "outputs"],
    "properties": {
        "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
        "parameters": {"type": "object"},
        "outputs": {"type": "array", "items": {
            "type": "object", "required": ["name", "shape", "datatype", "data"],
            "properties": {"name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}},
                           "datatype": {"type": "string"}, "parameters": {"type": "object"},
                           "data": {"type": "array"}}}},
    },
}
OIP_METADATA = {
    "type": "object", "required": ["name", "platform"],
    "properties": {
        "name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}},
        "platform": {"type": "string"},
        "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}},
        "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}},
    },
}
TENSOR_METADATA = {
    "type": "object", "required": ["name", "datatype", "shape"],
    "properties": {"name": {"type": "string"}, "datatype": {"type": "string"},
                   "shape": {"type": "array", "items": {"type": "integer"}, "description": "-1: any size"}},
}
