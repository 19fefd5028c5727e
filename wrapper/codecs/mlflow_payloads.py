"""MLflow scoring-server payloads (``POST /invocations``), MLflow 2/3 and the 1.x forms.

MLflow 2/3 JSON: an object with exactly one of ``dataframe_split``,
``dataframe_records``, ``instances``, ``inputs`` and optionally ``params``
(other keys are ignored, as MLflow ignores them). CSV: ``text/csv``. As in
MLflow, records may omit keys (the value is missing, NaN in the frame).

MLflow 1.x JSON, which MLflow 2 rejects and veneer keeps serving: a bare
``{"columns", "data"[, "index"]}`` object (pandas "split" orient, with or
without ``format=pandas-split`` in the Content-Type or the query), a bare list
of records (pandas "records" orient, ``format=pandas-records``), and
``application/json-numpy-split``. A 1.x request is answered the 1.x way, the
bare predictions without the ``{"predictions": ...}`` wrapper, because that
is what those clients parse.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Mapping

import numpy as np

from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import BadRequest, InvalidInput, UnsupportedMediaType, VeneerError

from . import _tables, jsonfast
from ._csv import parse_csv
from .media import is_json, parse_content_type
from .kserve_v1 import decode_value

FORMAT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_LEGACY_FORMATS = ("pandas-split", "pandas-records")
_EXPECTED = ('{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}} or '
             '{"dataframe_records": [{"a": 1, "b": 2}]} or {"instances": [...]} or '
             '{"inputs": ...}, optionally with "params"')
_ERROR_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST", 413: "REQUEST_LIMIT_EXCEEDED", 415: "BAD_REQUEST",
    422: "INVALID_PARAMETER_VALUE", 429: "REQUEST_LIMIT_EXCEEDED", 502: "TEMPORARILY_UNAVAILABLE",
    503: "TEMPORARILY_UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}


@dataclass(frozen=True)
class MlflowFormat:
    """What the request looked like: which key/orient, and whether it was an MLflow 1.x payload."""

    kind: str  # one of FORMAT_KEYS, "csv", "pandas-split" or "pandas-records"
    legacy: bool = False


def decode(body: bytes, content_type: str, query: Mapping[str, str] | None = None, *,
           max_rows: int | None = None) -> Batch:
    """Decode an ``/invocations`` body into a ``Batch`` (``params`` in ``batch.params``)."""
    return decode_request(body, content_type, query, max_rows=max_rows)[0]


def decode_request(body: bytes, content_type: str, query: Mapping[str, str] | None = None, *,
                   max_rows: int | None = None) -> tuple[Batch, MlflowFormat]:
    """Like ``decode``, also returning the ``MlflowFormat`` that ``encode`` answers in."""
    mime, params = parse_content_type(content_type)
    fmt = dict(params).get("format") or (query or {}).get("format")
    if mime == "text/csv":
        return parse_csv(body, max_rows=max_rows), MlflowFormat("csv")
    if mime == "application/json-numpy-split":
        fmt = "pandas-split"
    elif not is_json(mime):
        raise UnsupportedMediaType(f"Content type {content_type!r} is not accepted here.",
                                   fix="Send application/json or text/csv.")
    if fmt is not None and fmt not in _LEGACY_FORMATS:
        raise UnsupportedMediaType(f"Unknown format {fmt!r}.",
                                   fix=f"Use one of {list(_LEGACY_FORMATS)}, or none.")
    return decode_document(jsonfast.loads(body), fmt, max_rows=max_rows)


def decode_document(doc: Any, fmt: str | None = None, *,
                    max_rows: int | None = None) -> tuple[Batch, MlflowFormat]:
    """Decode an already-parsed JSON payload; ``fmt`` is a 1.x ``format=`` value, if any."""
    if fmt == "pandas-split" or (isinstance(doc, dict) and not any(k in doc for k in FORMAT_KEYS)
                                 and "data" in doc and set(doc) <= {"columns", "data", "index"}):
        return _split(doc, "The pandas-split payload", max_rows), MlflowFormat("pandas-split", True)
    if fmt == "pandas-records" or isinstance(doc, list):
        return _records(doc, "The pandas-records payload", max_rows), MlflowFormat("pandas-records",
                                                                                   True)
    if not isinstance(doc, dict):
        raise BadRequest(f"The input must be a JSON object with exactly one of the input fields "
                         f"{list(FORMAT_KEYS)}. Received {_kind(doc)}.", fix=f"Send {_EXPECTED}.")
    keys = [k for k in FORMAT_KEYS if k in doc]
    if len(keys) != 1:
        raise BadRequest(f"The input must be a JSON object with exactly one of the input fields "
                         f"{list(FORMAT_KEYS)}. Received dictionary with input fields: "
                         f"{sorted(doc)}.", fix=f"Send {_EXPECTED}.")
    key = keys[0]
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadRequest(f"'params' must be an object, got {_kind(params)}.",
                         fix='Send "params": {"name": value, ...}.')
    if key == "dataframe_split":
        batch = _split(doc[key], "dataframe_split", max_rows)
    elif key == "dataframe_records":
        batch = _records(doc[key], "dataframe_records", max_rows)
    else:
        batch = decode_value(doc[key], key, max_rows=max_rows, expected=_EXPECTED)
    batch.params = dict(params or {})
    return batch, MlflowFormat(key)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null",
            bool: "a boolean"}.get(type(value), "a number")


def _split(value: Any, where: str, max_rows: int | None) -> Batch:
    if not isinstance(value, dict):
        raise InvalidInput(f"Dataframe split format must be a dictionary; {where} is "
                           f"{_kind(value)}.",
                           fix=f"Send {_EXPECTED}.")
    extra = set(value) - {"columns", "data", "index"}
    if "data" not in value or extra:
        raise InvalidInput(f"Dataframe split format must have a 'data' field and optionally "
                           f"'columns' and 'index'; {where} has {sorted(value)}.",
                           fix=f"Send {_EXPECTED}.")
    data, columns = value["data"], value.get("columns")
    if not isinstance(data, list):
        raise InvalidInput(f"{where}: 'data' must be a list of rows, got {_kind(data)}.",
                           fix=f"Send {_EXPECTED}.")
    _tables.check_row_count(len(data), max_rows, _EXPECTED)
    if columns is not None:
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise InvalidInput(f"{where}: 'columns' must be a list of strings.",
                               fix=f"Send {_EXPECTED}.")
        if len(set(columns)) != len(columns):
            raise InvalidInput(f"{where}: 'columns' repeats names {columns}.",
                               fix="Give every column a distinct name.")
        if len(columns) == 1 and not any(isinstance(r, list) for r in data):
            data = [[v] for v in data]  # pandas reads a flat list as one column
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        raise InvalidInput(f"{where}: 'index' must be a list with one entry per row of 'data'.",
                           fix="Drop 'index' or give one label per row.")
    width = _tables.check_row_lists(data, where, _EXPECTED)
    if columns is not None and len(columns) != width:
        raise InvalidInput(f"{where}: {len(columns)} columns named but rows have {width} values.",
                           fix="Name exactly one column per value in each row.")
    return _tables.table_batch(columns, data, where)


def _records(value: Any, where: str, max_rows: int | None) -> Batch:
    if not isinstance(value, list):
        raise InvalidInput(f"Dataframe records format must be a list of records; {where} is "
                           f"{_kind(value)}.", fix=f"Send {_EXPECTED}.")
    _tables.check_row_count(len(value), max_rows, _EXPECTED)
    if isinstance(value[0], list):
        _tables.check_row_lists(value, where, _EXPECTED)
        return _tables.table_batch(None, value, where)
    if not isinstance(value[0], dict):
        raise InvalidInput(f"{where}: records must be objects, got {_kind(value[0])} "
                           "(a 1-D list where rows are needed?).", fix=f"Send {_EXPECTED}.")
    # MLflow builds the frame with pandas, which fills a key missing from a record with NaN
    columns, rows = _tables.rows_from_records(value, where, _EXPECTED, fill_missing=True)
    return _tables.table_batch(columns, rows, where)


def predictions(outputs: Mapping[str, Any]) -> Any:
    """The value MLflow's ``predictions_to_json`` would write for these outputs.

    One output called ``predictions`` (an array or list from predict) -> its
    values; 1-D outputs of equal length (a DataFrame or Series from predict) ->
    a list of records, pandas' "records" orient; anything else -> an object of
    lists, as MLflow writes a dict of arrays.
    """
    if len(outputs) == 1 and "predictions" in outputs:
        return _values(outputs["predictions"])
    arrays = {k: (v if isinstance(v, np.ndarray) else np.asarray(v)) for k, v in outputs.items()}
    if all(a.ndim == 1 for a in arrays.values()) and len({len(a) for a in arrays.values()}) == 1:
        names = list(arrays)
        return jsonfast.records(names, zip(*(a.tolist() for a in arrays.values())))
    return {k: _values(a) for k, a in arrays.items()}


def _values(value: Any) -> Any:
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.dtype.kind in "biuf" and arr.ndim and arr.flags.c_contiguous and arr.dtype.isnative:
        return arr  # orjson writes these natively, much faster than tolist()
    return arr.tolist()


def encode(outputs: Mapping[str, Any], fmt: MlflowFormat | None = None) -> Any:
    """``{"predictions": ...}`` (MLflow 2/3), or the bare predictions for an MLflow 1.x request."""
    preds = predictions(outputs)
    return preds if fmt is not None and fmt.legacy else {"predictions": preds}


def error_body(err: BaseException) -> dict[str, str]:
    """MLflow's error shape ``{"error_code": ..., "message": ...}``, the code chosen by status."""
    status = int(getattr(err, "status", HTTPStatus.INTERNAL_SERVER_ERROR))
    code = _ERROR_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
    if not isinstance(err, VeneerError):
        code = "INTERNAL_ERROR"
    return {"error_code": code, "message": str(err)}
