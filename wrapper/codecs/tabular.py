"""The hosting platform's native route: JSON of any common table shape, or CSV; same format out.

``decode_native`` recognises, in this order:

=====================================================  ==============  =====================
body                                                   ``fmt.kind``    answer
=====================================================  ==============  =====================
``text/csv``                                           ``csv``         CSV of the outputs
``[{"a": 1, "b": 2}, ...]`` (records)                  ``records``     ``[{"out": ...}, ...]``
``[[1, 2], ...]`` (rows)                               ``rows``        ``[[out1, out2], ...]``
``{"columns": [...], "data": [[...]], "index"?}``      ``split``       same keys, index echoed
``{"dataframe_split" | "dataframe_records" |           ``mlflow``      ``{"predictions": ...}``
"instances" | "inputs": ..., "params"?}``
``{"a": [1, 3], "b": [2, 4]}`` (columns)               ``columns``     ``{"out": [...]}``
``{"a": 1, "b": 2}`` (one record)                      ``record``      ``{"out": ...}``
=====================================================  ==============  =====================

An object mixing lists and single values is ambiguous and 422. No
Content-Type is read as JSON; any other type than JSON or CSV is 415.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import InvalidInput, UnsupportedMediaType, VeneerError

from . import _tables, jsonfast, mlflow_payloads
from ._csv import format_csv, parse_csv, safe_cell
from .media import is_json, parse_content_type

__all__ = ["NativeFormat", "decode_native", "encode_native", "error_body", "parse_csv", "safe_cell"]

_EXPECTED = ('records [{"a": 1, "b": 2}], rows [[1, 2]], {"columns": ["a", "b"], '
             '"data": [[1, 2]]}, columns {"a": [1], "b": [2]}, one record {"a": 1, "b": 2}, '
             'or text/csv')
_JSON = "application/json"


@dataclass(frozen=True)
class NativeFormat:
    """The shape the request came in, so the answer can use the same one."""

    kind: str  # csv | records | rows | split | mlflow | columns | record
    index: list | None = None  # the split payload's index, echoed back
    mlflow: mlflow_payloads.MlflowFormat | None = None


def decode_native(body: bytes, content_type: str, *,
                  max_rows: int | None = None) -> tuple[Batch, NativeFormat]:
    """Decode a native-route body, detecting its shape; see the module table."""
    mime, _ = parse_content_type(content_type)
    if mime == "text/csv":
        return parse_csv(body, max_rows=max_rows), NativeFormat("csv")
    if not is_json(mime):
        raise UnsupportedMediaType(f"Content type {content_type!r} is not accepted here.",
                                   fix="Send application/json or text/csv.")
    doc = jsonfast.loads(body)
    if isinstance(doc, list):
        return _decode_list(doc, max_rows)
    if not isinstance(doc, dict) or not doc:
        raise InvalidInput(f"The body is {_describe(doc)}; expected a table.",
                           fix=f"Send one of: {_EXPECTED}.")
    if any(k in doc for k in mlflow_payloads.FORMAT_KEYS):
        batch, mfmt = mlflow_payloads.decode_document(doc, max_rows=max_rows)
        return batch, NativeFormat("mlflow", mlflow=mfmt)
    if "data" in doc and "columns" in doc and set(doc) <= {"columns", "data", "index"}:
        batch, _ = mlflow_payloads.decode_document(doc, "pandas-split", max_rows=max_rows)
        return batch, NativeFormat("split", index=doc.get("index"))
    values = list(doc.values())
    lists = sum(type(v) is list for v in values)
    if lists == len(values):
        _tables.check_row_count(len(values[0]), max_rows, _EXPECTED)
        columns, rows = _tables.rows_from_columns(doc, "The column object", _EXPECTED)
        return _tables.table_batch(columns, rows, "The column object"), NativeFormat("columns")
    if lists or any(type(v) is dict for v in values):
        raise InvalidInput("The object mixes lists and single values, so it is neither one record "
                           "nor a set of columns.", fix=f"Send one of: {_EXPECTED}.")
    _tables.check_row_count(1, max_rows, _EXPECTED)
    return _tables.table_batch(list(doc), [values], "The record"), NativeFormat("record")


def _describe(doc: Any) -> str:
    if isinstance(doc, dict):
        return "an empty object"
    return {str: "a string", bool: "a boolean", type(None): "null"}.get(type(doc), "a number")


def _decode_list(doc: list, max_rows: int | None) -> tuple[Batch, NativeFormat]:
    if not doc:
        raise InvalidInput("The body is an empty list (zero rows).",
                           fix=f"Send one of: {_EXPECTED}.")
    _tables.check_row_count(len(doc), max_rows, _EXPECTED)
    if isinstance(doc[0], dict):
        columns, rows = _tables.rows_from_records(doc, "The records", _EXPECTED)
        return _tables.table_batch(columns, rows, "The records"), NativeFormat("records")
    _tables.check_row_lists(doc, "The rows", _EXPECTED)
    return _tables.table_batch(None, doc, "The rows"), NativeFormat("rows")


def encode_native(outputs: Mapping[str, Any], fmt: NativeFormat, batch: Batch) -> tuple[bytes, str]:
    """Serialise outputs in the request's format; returns ``(body, content_type)``.

    ``batch`` is the decoded request (kept in the signature so a format can echo
    request facts; today only the split index is echoed, carried by ``fmt``).
    """
    if fmt.kind == "csv":
        return format_csv(outputs), "text/csv; charset=utf-8"
    if fmt.kind == "mlflow":
        return jsonfast.dumps(mlflow_payloads.encode(outputs, fmt.mlflow)), _JSON
    names = list(outputs)
    columns = [_column_values(outputs[n], n) for n in names]
    lengths = {len(c) for c in columns}
    if fmt.kind == "columns" or len(lengths) > 1:
        # outputs that cannot be zipped into rows (different lengths) fall back to columns
        return jsonfast.dumps(dict(zip(names, columns))), _JSON
    rows = list(zip(*columns))
    if fmt.kind == "records":
        body: Any = jsonfast.records(names, rows)
    elif fmt.kind == "record":
        body = dict(zip(names, rows[0])) if len(rows) == 1 else jsonfast.records(names, rows)
    elif fmt.kind == "rows":
        body = rows
    elif fmt.kind == "split":
        body = {"columns": names, "data": rows}
        if fmt.index is not None and len(fmt.index) == len(rows):
            body["index"] = fmt.index
    else:
        raise VeneerError(f"Unknown native format {fmt.kind!r}.")
    return jsonfast.dumps(body), _JSON


def _column_values(value: Any, name: str) -> list:
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return arr.tolist()


def error_body(err: BaseException) -> dict[str, str]:
    """The native route's error shape: ``{"error": message}``."""
    return {"error": str(err)}
