"""Shared shape rules for row-style payloads (records, row lists, column dicts, tensors).

Every row-style decoder funnels through here, so an empty batch, ragged rows,
inconsistent records and nested cells get the same 422 everywhere, and so the
all-numeric case (the common one) becomes one 2-D ndarray: a DataFrame built
from a float matrix costs a third of one built from Python lists.
"""

from __future__ import annotations

from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import InvalidInput, PayloadTooLarge

_NUMBER_TYPES = frozenset({int, float})
_NESTED_TYPES = (list, dict)


def check_row_count(n: int, max_rows: int | None, expected: str) -> None:
    """Zero rows is 422 (there is nothing to predict); more than ``max_rows`` is 413."""
    if n == 0:
        raise InvalidInput("The batch has zero rows.", fix=f"Send at least one row: {expected}.")
    if max_rows is not None and n > max_rows:
        raise PayloadTooLarge(f"The batch has {n} rows; this server accepts at most {max_rows}.",
                              fix="Split the request into smaller batches.")


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def rows_from_records(records: list, where: str, expected: str, *,
                      fill_missing: bool = False) -> tuple[list[str], list]:
    """Columns and row tuples from a list of JSON objects that all have the same keys.

    ``fill_missing`` gives pandas' (and so MLflow's) reading instead: the columns
    are every key seen, in first-seen order, and a record without one has None.
    """
    first = records[0]
    if set(map(type, records)) != {dict}:
        bad = next(i for i, r in enumerate(records) if type(r) is not dict)
        raise InvalidInput(f"{where}: record {bad} is {_type_name(records[bad])} while record 0 "
                           f"is {_type_name(first)}.", fix=f"Send {expected}.")
    columns = list(first)
    if not columns:
        raise InvalidInput(f"{where}: record 0 has no fields (zero columns).",
                           fix=f"Send {expected}.")
    n = len(columns)
    getter = itemgetter(*columns)
    try:
        if set(map(len, records)) != {n}:
            raise KeyError
        rows = list(map(getter, records)) if n > 1 else [(v,) for v in map(getter, records)]
    except KeyError:
        if fill_missing:
            columns = list(dict.fromkeys(k for r in records for k in r))
            return columns, [tuple(r.get(c) for c in columns) for r in records]
        keys = set(columns)
        bad = next(i for i, r in enumerate(records) if set(r) != keys)
        missing = sorted(keys - set(records[bad]))
        extra = sorted(set(records[bad]) - keys)
        detail = "; ".join(p for p in (f"missing {missing}" if missing else "",
                                       f"extra {extra}" if extra else "") if p)
        raise InvalidInput(f"{where}: record {bad} does not have the keys of record 0 ({detail}).",
                           fix="Give every record the same keys; send null for a missing "
                               "value.") from None
    return columns, rows


def check_row_lists(rows: list, where: str, expected: str) -> int:
    """Check that ``rows`` is a rectangular list of lists; return the column count."""
    if set(map(type, rows)) != {list}:
        bad = next(i for i, r in enumerate(rows) if type(r) is not list)
        raise InvalidInput(f"{where}: row {bad} is {_type_name(rows[bad])}, not a list of values "
                           "(a 1-D list where rows are needed?).", fix=f"Send {expected}.")
    lengths = set(map(len, rows))
    if len(lengths) > 1:
        n0 = len(rows[0])
        bad = next(i for i, r in enumerate(rows) if len(r) != n0)
        raise InvalidInput(f"{where}: rows have different lengths (row 0 has {n0} values, "
                           f"row {bad} has {len(rows[bad])}).",
                           fix="Send the same number of values in every row.")
    width = lengths.pop()
    if width == 0:
        raise InvalidInput(f"{where}: rows have zero columns.", fix=f"Send {expected}.")
    return width


def rows_from_columns(columns: dict, where: str, expected: str) -> tuple[list[str], Any]:
    """Row matrix from ``{column: [values...]}`` with equal-length value lists."""
    names = list(columns)
    values = list(columns.values())
    if not names:
        raise InvalidInput(f"{where}: the object has no columns.", fix=f"Send {expected}.")
    if set(map(type, values)) != {list}:
        bad = next(k for k, v in columns.items() if type(v) is not list)
        raise InvalidInput(f"{where}: column {bad!r} is {_type_name(columns[bad])}, not a list.",
                           fix=f"Send {expected}.")
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInput(f"{where}: columns have different lengths {lengths}.",
                           fix="Send the same number of values in every column.")
    return names, list(zip(*values))


def table_batch(columns: list[str] | None, rows: list, where: str,
                params: dict | None = None) -> Batch:
    """A row batch; all-number rows become one int64/float64 matrix, anything else stays as rows.

    Strings, booleans and nulls pass through unchanged (pandas infers each column,
    the adapter decides); a list or object inside a cell is 422.
    """
    types = set(map(type, chain.from_iterable(rows)))
    if types <= _NUMBER_TYPES:
        try:
            matrix = np.array(rows, dtype=np.float64 if float in types else np.int64)
        except OverflowError:  # an integer beyond int64: keep Python ints
            matrix = rows
        return Batch(columns=columns, rows=matrix, params=params or {})
    if list in types or dict in types:
        r, c = next((i, j) for i, row in enumerate(rows) for j, v in enumerate(row)
                    if isinstance(v, _NESTED_TYPES))
        col = columns[c] if columns else c
        raise InvalidInput(f"{where}: row {r}, column {col!r} holds {_type_name(rows[r][c])}; "
                           "cells must be single values (a 3-D payload?).",
                           fix="Send one number, string, boolean or null per cell.")
    return Batch(columns=columns, rows=[list(r) for r in rows], params=params or {})


def tensor_from_nested(values: Any, name: str) -> np.ndarray:
    """An n-d array from nested JSON lists; ragged nesting is 422."""
    try:
        arr = np.array(values)
    except (ValueError, OverflowError) as e:
        raise InvalidInput(f"{name!r} is not a rectangular array: {e}.",
                           fix="Send nested lists of equal length at every level.") from None
    if arr.dtype.kind == "U":
        # numpy turns [1, "a"] into ["1", "a"]; keep the original values unless all are strings
        mixed = np.array(values, dtype=object)
        if set(map(type, mixed.ravel())) != {str}:
            arr = mixed
    if arr.dtype == object and any(isinstance(v, _NESTED_TYPES) for v in arr.ravel()):
        raise InvalidInput(f"{name!r} mixes lists and objects, or nests unevenly.",
                           fix="Send nested lists of equal length at every level.")
    return arr
