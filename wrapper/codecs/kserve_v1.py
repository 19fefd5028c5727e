"""KServe V1 / TF-Serving REST payloads: ``{"instances": [...]}`` or ``{"inputs": ...}``.

``instances`` (row format): a list of rows as lists (a table without column
names), as objects (records: a table with columns), or as single values (one
1-D tensor). Rows nested deeper than a table (images, sequences) form one n-d
tensor, as TF-Serving does; the adapter checks it against the model.
``inputs`` (columnar format): the same list forms, or an object of named
inputs; equal-length lists of single values are a table, anything else named
tensors. The answer is ``{"predictions": [...]}`` with one entry per row.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import BadRequest, InvalidInput

from . import _tables, jsonfast

_EXPECTED = ('{"instances": [[1.0, 2.0], [3.0, 4.0]]} or {"instances": [{"a": 1.0, "b": 2.0}]} '
             'or {"inputs": {"a": [1.0, 3.0], "b": [2.0, 4.0]}}')


def decode_v1(doc: Any, *, max_rows: int | None = None) -> Batch:
    """Decode a V1 predict request (exactly one of ``instances`` / ``inputs``)."""
    if not isinstance(doc, dict):
        raise BadRequest(f"The request must be a JSON object, got {type(doc).__name__}.",
                         fix=f"Send {_EXPECTED}.")
    keys = [k for k in ("instances", "inputs") if k in doc]
    if len(keys) != 1:
        raise BadRequest(f"The request must have exactly one of 'instances' or 'inputs'; "
                         f"it has keys {sorted(doc)}.", fix=f"Send {_EXPECTED}.")
    key = keys[0]
    return decode_value(doc[key], key, max_rows=max_rows, expected=_EXPECTED)


def decode_value(value: Any, key: str, *, max_rows: int | None, expected: str,
                 params: dict | None = None) -> Batch:
    """Rows or tensors from the value of an ``instances``/``inputs`` key (shared with MLflow)."""
    if isinstance(value, dict):
        if key == "instances":
            raise InvalidInput("'instances' is an object; it must be a list of rows.",
                               fix=f"Send {expected}.")
        return _named_inputs(value, key, max_rows, expected, params)
    if not isinstance(value, list):
        raise InvalidInput(f"'{key}' must be a list, got {type(value).__name__}.",
                           fix=f"Send {expected}.")
    _tables.check_row_count(len(value), max_rows, expected)
    first = value[0]
    if isinstance(first, dict):
        columns, rows = _tables.rows_from_records(value, f"'{key}'", expected)
        if any(isinstance(v, (list, dict)) for v in rows[0]):
            # TF-Serving row format with named tensors per instance: stack each name
            return Batch(tensors={c: _tables.tensor_from_nested([r[i] for r in rows], c)
                                  for i, c in enumerate(columns)}, params=params or {})
        return _tables.table_batch(columns, rows, f"'{key}'", params)
    if isinstance(first, list):
        if first and isinstance(first[0], list):
            return Batch(tensors={key: _tables.tensor_from_nested(value, key)}, params=params or {})
        _tables.check_row_lists(value, f"'{key}'", expected)
        return _tables.table_batch(None, value, f"'{key}'", params)
    return Batch(tensors={key: _tables.tensor_from_nested(value, key)}, params=params or {})


def _named_inputs(value: dict, key: str, max_rows: int | None, expected: str,
                  params: dict | None) -> Batch:
    if not value:
        raise InvalidInput(f"'{key}' is an empty object.", fix=f"Send {expected}.")
    lists = [v for v in value.values() if isinstance(v, list)]
    if (len(lists) == len(value) and len({len(v) for v in lists}) == 1
            and not any(isinstance(x, (list, dict)) for v in lists for x in v[:1])):
        _tables.check_row_count(len(lists[0]), max_rows, expected)
        columns, rows = _tables.rows_from_columns(value, f"'{key}'", expected)
        return _tables.table_batch(columns, rows, f"'{key}'", params)
    tensors = {}
    for name, v in value.items():
        arr = _tables.tensor_from_nested(v, str(name))
        if arr.ndim:
            _tables.check_row_count(arr.shape[0], max_rows, expected)
        tensors[str(name)] = arr
    return Batch(tensors=tensors, params=params or {})


def encode_v1(outputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """``{"predictions": [...]}``: one entry per row, an object per row for several outputs.

    Outputs whose first dimensions differ cannot be zipped into rows and come
    back as ``{"predictions": {name: [...]}}``.
    """
    if len(outputs) == 1:
        return {"predictions": _rows_of(next(iter(outputs.values())))}
    arrays = {k: _rows_of(v) for k, v in outputs.items()}
    lengths = {len(v) for v in arrays.values()}
    if len(lengths) != 1:
        return {"predictions": arrays}
    names = list(arrays)
    return {"predictions": jsonfast.records(names, zip(*arrays.values()))}


def _rows_of(value: Any) -> list:
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return arr.tolist()


def error_body(err: BaseException) -> dict[str, str]:
    """KServe's error shape: ``{"error": message}``."""
    return {"error": str(err)}
