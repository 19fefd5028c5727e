"""CSV in and out (``text/csv``): strict parsing with line numbers, injection-safe output.

Input: the first record is the header (as ``pandas.read_csv`` reads it, which
is what MLflow's scoring server uses); a UTF-8 byte order mark is dropped;
quoted fields may span lines; blank lines are skipped; a record with more or
fewer fields than the header is 422 naming its line. Each column becomes
int64, float64 (empty and NA-like cells are NaN), bool (True/False) or strings
(NA-like cells are None). ``inf``/``Infinity`` cells are 422: no infinite value
ever reaches a model.

Output: cells that a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``, tab or CR) get a leading ``'`` unless they are plain
numbers (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
import re
from itertools import chain
from typing import Any, Mapping

import numpy as np

from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import InvalidInput, MalformedPayload, PayloadTooLarge, VeneerError

_NA = frozenset({"", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None",
                 "#N/A", "<NA>"})
_BOOLS = {"True": True, "False": False, "true": True, "false": False, "TRUE": True, "FALSE": False}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# pandas.read_csv's reading of a number: ASCII digits, optional sign, exponent and spaces
_NUMBER_CHARS = re.compile(r"[0-9.eE+\- ]*")
_INTEGER = re.compile(r" *[+-]?[0-9]+ *")
_NUMBER = re.compile(r" *([+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
                     r"|[+-]?(?i:inf|infinity)) *")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_EXPECTED = "a header line of column names, then one line per row (text/csv, UTF-8)"


def parse_csv(body: bytes, *, max_rows: int | None = None) -> Batch:
    """Parse a CSV body into a row ``Batch`` (numeric tables become one matrix)."""
    if body[:3] == b"\xef\xbb\xbf":
        body = body[3:]
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedPayload(f"The CSV body is not valid UTF-8 (byte {e.start}).",
                               fix="Send the CSV encoded as UTF-8.") from None
    if not text.strip():
        raise MalformedPayload("The request body is empty.", fix=f"Send {_EXPECTED}.")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        while not header:
            header = next(reader)
        columns = [name if name else f"Unnamed: {i}" for i, name in enumerate(header)]
        width = len(columns)
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes:
            raise InvalidInput(f"CSV header repeats column(s) {dupes}.",
                               fix="Give every column a distinct name.")
        rows = []
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                raise InvalidInput(f"CSV line {reader.line_num} has {len(row)} fields; the header "
                                   f"has {width}.", fix="Send the same number of fields on every "
                                                        "line; quote fields that contain commas.")
            rows.append(row)
            if max_rows is not None and len(rows) > max_rows:
                raise PayloadTooLarge(f"The CSV has more than {max_rows} rows, this server's "
                                      "limit.",
                                      fix="Split the request into smaller batches.")
    except StopIteration:
        raise MalformedPayload("The CSV body has no header line.",
                               fix=f"Send {_EXPECTED}.") from None
    except csv.Error as e:
        raise MalformedPayload(f"Malformed CSV at line {reader.line_num}: {e}.",
                               fix="Quote fields with double quotes and double any quote inside "
                                   "them.") from None
    if not rows:
        raise InvalidInput("The CSV has a header but zero rows.", fix=f"Send {_EXPECTED}.")
    matrix = _numeric_matrix(rows, columns)
    if matrix is not None:
        return Batch(columns=columns, rows=matrix)
    arrays = [_column(values, name) for name, values in zip(columns, zip(*rows))]
    if all(a.dtype.kind in "if" for a in arrays):
        return Batch(columns=columns, rows=np.column_stack(arrays))
    import pandas as pd  # first use only: mixed-type tables need per-column dtypes

    return Batch.from_frame(pd.DataFrame(dict(zip(columns, arrays)), copy=False))


def _numeric_matrix(rows: list[list[str]], columns: list[str]) -> np.ndarray | None:
    """The whole table as one int64 or float64 matrix when every cell is a number, else None.

    The common all-numeric CSV pays one character check and one conversion
    instead of several per column; anything else (blanks, NA markers, text,
    ``inf``) returns None and goes column by column.
    """
    flat = list(chain.from_iterable(rows))
    # Python's int()/float() also read "1_000" and non-ASCII digits; pandas does not
    if not _NUMBER_CHARS.fullmatch("".join(flat)):
        return None
    for convert in (int, float):
        try:
            # Python's int/float over a flat list beats numpy's string casts ~2x here
            matrix = np.array(list(map(convert, flat))).reshape(len(rows), len(columns))
        except (ValueError, OverflowError):
            continue
        if matrix.dtype.kind == "f" and np.isinf(matrix).any():  # "1e400" reads as inf
            r, c = map(int, np.argwhere(np.isinf(matrix))[0])
            raise InvalidInput(f"CSV column {columns[c]!r}, row {r + 1}: {rows[r][c]!r} is "
                               "infinite.", fix="Send finite numbers.")
        if matrix.dtype.kind in "if":
            return matrix
    return None


def _column(values: tuple[str, ...], name: str) -> np.ndarray:
    """One column's strings as int64, float64, bool or object (the first that fits every cell)."""
    na = [v in _NA for v in values]
    has_na = any(na)
    cells = [v for v, missing in zip(values, na) if not missing]
    if cells and not has_na and all(map(_INTEGER.fullmatch, cells)):
        ints = np.array(list(map(int, cells)))
        if ints.dtype.kind == "i":  # beyond int64 numpy keeps objects: read them as floats
            return ints
    if cells and all(map(_NUMBER.fullmatch, cells)):
        floats = np.array([float("nan") if missing else float(v) for v, missing in zip(values, na)])
        inf = np.isinf(floats)
        if inf.any():
            row = int(np.argmax(inf))
            raise InvalidInput(f"CSV column {name!r}, row {row + 1}: {values[row]!r} is infinite.",
                               fix="Send finite numbers.")
        return floats
    if not has_na and set(values) <= _BOOLS.keys():
        return np.array([_BOOLS[v] for v in values], dtype=np.bool_)
    out = np.array(values, dtype=object)
    if has_na:
        out[np.array(na)] = None
    return out


def safe_cell(value: Any) -> Any:
    """A cell value that a spreadsheet will not run as a formula."""
    if (isinstance(value, str) and value.startswith(_FORMULA_START)
            and not _PLAIN_NUMBER.fullmatch(value)):
        return "'" + value
    return value


def format_csv(outputs: Mapping[str, Any]) -> bytes:
    """CSV of named output columns; a 2-D output ``p`` of width k becomes ``p_0`` .. ``p_{k-1}``."""
    names: list[str] = []
    columns: list[list] = []
    for name, value in outputs.items():
        arr = value if isinstance(value, np.ndarray) else np.asarray(value)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim == 1:
            names.append(str(name))
            columns.append(_cells(arr))
        elif arr.ndim == 2:
            for j in range(arr.shape[1]):
                names.append(f"{name}_{j}")
                columns.append(_cells(arr[:, j]))
        else:
            raise VeneerError(f"Output {name!r} has shape {list(arr.shape)}; CSV holds at most "
                              "2-D outputs.", fix="Ask for JSON, or return a table from predict.",
                              code="unserialisable_output")
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        counts = dict(zip(names, map(len, columns)))
        raise VeneerError(f"Outputs have different row counts ({counts});"
                          " they cannot form one CSV table.", code="unserialisable_output")
    buf = io.StringIO()
    # RFC 4180 line ends: with "\n" alone, csv leaves a bare CR in a cell unquoted
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([safe_cell(n) for n in names])
    writer.writerows(zip(*columns))
    return buf.getvalue().encode("utf-8")


def _cells(arr: np.ndarray) -> list:
    if arr.dtype.kind == "f":
        return ["" if v != v else v for v in arr.tolist()]  # NaN -> empty cell
    if arr.dtype.kind in "iub":
        return arr.tolist()
    out = []
    for v in arr.tolist():
        if v is None or (isinstance(v, float) and v != v):
            out.append("")
        elif isinstance(v, bytes):
            out.append(safe_cell(v.decode("utf-8", "replace")))
        else:
            out.append(safe_cell(v if isinstance(v, (str, int, float)) else str(v)))
    return out
