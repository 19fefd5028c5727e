"""Translation between veneer's canonical batch and a legacy service's own payloads.

``RequestMapping`` turns a ``Batch`` into one or more ``(method, body, content_type,
query)`` calls; ``ResponseMapping`` turns each answer's bytes back into predictions.
JSON paths are jsonpath-ng expressions (``jsonpath_ng.ext``), compiled once at load
(``_json_paths``).
"""

from __future__ import annotations

import copy
import csv
import io
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import numpy as np
import orjson

from veneer.wrapper.codecs.jsonfast import records
from veneer.wrapper.errors import ConfigError, InvalidInput, UpstreamError

from ._json_paths import compile_path, value_finder


@dataclass(frozen=True)
class Call:
    """One HTTP call to the legacy service."""

    method: str
    body: bytes | None
    content_type: str | None
    params: list[tuple[str, str]] | None = None


_NATIVE = frozenset((int, str, bool, type(None)))  # already what JSON, CSV and forms carry


def _plain(value: Any) -> Any:
    """numpy scalars and NaN into what JSON, CSV and forms can carry."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class RequestMapping:
    """How rows become the legacy request (``options.request``)."""

    def __init__(self, opts: dict[str, Any], inputs: list[str] | None) -> None:
        self.format = opts["format"]
        self.orient = opts["orient"]
        per_row = opts.get("per_row")
        one_row_formats = ("form", "query")
        if per_row is False and self.format in one_row_formats:
            raise ConfigError(f"options.request.per_row: format {self.format!r} carries one row per call.",
                              fix="Remove per_row or set it to true.")
        self.per_row = bool(per_row) if per_row is not None else self.format in one_row_formats
        self.method = (opts.get("method") or ("GET" if self.format == "query" else "POST")).upper()
        self.fields = dict(opts.get("fields") or {})
        self.body_target = opts.get("body") or "$"
        self._target = compile_path(self.body_target, "options.request.body")
        self.inputs = inputs

    def _columns(self, batch: Any) -> list[str]:
        if batch.columns:
            return [str(c) for c in batch.columns]
        return [str(c) for c in batch.frame().columns]

    def rows(self, batch: Any) -> tuple[list[str], list[list[Any]]]:
        """Column names and plain-Python rows, reordered to the declared inputs if any."""
        plain = False  # True once every value is known to be a JSON-ready Python value
        if batch.rows is not None and batch.columns:
            columns, rows = [str(c) for c in batch.columns], batch.rows
            if getattr(rows, "dtype", None) is not None and rows.dtype.kind in "iuf":
                # numbers only: one vectorised NaN check instead of one per value
                plain = rows.dtype.kind != "f" or not bool(np.isnan(rows).any())
            rows = rows.tolist() if hasattr(rows, "tolist") else rows
        else:
            frame = batch.frame()
            columns, rows = [str(c) for c in frame.columns], frame.to_numpy(dtype=object).tolist()
        if self.inputs:
            missing = [c for c in self.inputs if c not in columns]
            if missing:
                raise InvalidInput(f"Missing input column(s) {missing}; got {columns}.",
                                   fix=f"Send the columns {self.inputs}.")
            if columns != self.inputs:
                idx = [columns.index(c) for c in self.inputs]
                rows = [[row[i] for i in idx] for row in rows]
                columns = list(self.inputs)
        elif self.format != "json" or self.orient != "values":
            if any(c.isdigit() for c in columns) and not batch.columns:
                raise InvalidInput("This legacy service needs named columns; the request has none.",
                                   fix="Send records with column names, or a dataframe_split with 'columns'.")
        if plain:
            return columns, rows
        return columns, [[v if type(v) in _NATIVE or (type(v) is float and v == v) else _plain(v) for v in row]
                         for row in rows]

    def calls(self, batch: Any) -> list[Call]:
        """The HTTP calls that carry this batch (one, or one per row)."""
        columns, rows = self.rows(batch)
        if self.per_row:
            return [self._call(columns, [row], single=True) for row in rows]
        return [self._call(columns, rows, single=False)]

    def _call(self, columns: list[str], rows: list[list[Any]], single: bool) -> Call:
        if self.format == "json":
            if self.orient == "records":
                data: Any = records(columns, rows)
            elif self.orient == "split":
                data = {"columns": columns, "data": rows}
            else:
                data = rows
            if single and self.orient != "split":
                data = data[0]
            body = (self._target.update_or_create(copy.deepcopy(self.fields), data)
                    if self.body_target != "$" else data)
            return Call(self.method, orjson.dumps(body), "application/json")
        if self.format == "csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(["" if v is None else v for v in r] for r in rows)
            return Call(self.method, out.getvalue().encode(), "text/csv")
        pairs = [(c, "" if v is None else str(v)) for c, v in zip(columns, rows[0])]
        pairs += [(str(k), str(v)) for k, v in self.fields.items()]
        if self.format == "form":
            return Call(self.method, urlencode(pairs).encode(), "application/x-www-form-urlencoded")
        return Call(self.method, None, None, params=pairs)


def _number(text: str) -> Any:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


class ResponseMapping:
    """How a legacy answer becomes named predictions (``options.response``)."""

    def __init__(self, opts: dict[str, Any]) -> None:
        self.format = opts["format"]
        outputs = dict(opts.get("outputs") or {})
        if outputs and self.format == "text":
            raise ConfigError("options.response.outputs: a plain-text answer carries one output.",
                              fix="Remove outputs, or use a JSON or CSV answer.")
        if self.format == "csv":
            default = opts.get("column") or "score"
        else:
            default = opts.get("path") or "$"
        #: output name -> JSONPath (json) or column (csv)
        self.outputs: dict[str, str] = outputs or {opts.get("name") or "predictions": default}
        where = "options.response.outputs.{}" if outputs else "options.response.path"
        self._finders = ({name: value_finder(compile_path(p, where.format(name)))
                          for name, p in self.outputs.items()} if self.format == "json" else {})

    @property
    def names(self) -> list[str]:
        """Output names, in order."""
        return list(self.outputs)

    def values(self, content: bytes, single: bool) -> dict[str, list[Any]]:
        """Predictions in one answer; ``single`` answers (per-row calls) must hold one value per output."""
        if self.format == "json":
            found = self._json(content)
        elif self.format == "csv":
            found = self._csv(content)
        else:
            text = content.decode("utf-8", "replace").strip()
            found = {self.names[0]: [_number(line) for line in text.splitlines() if line.strip()]}
        if single:
            for name, vals in found.items():
                if len(vals) != 1:
                    raise UpstreamError(f"A per-row call answered {len(vals)} values for {name!r}; "
                                        "exactly one was expected.",
                                        fix="Check options.response against the service's answer.",
                                        reason="count_mismatch")
        return found

    def _json(self, content: bytes) -> dict[str, list[Any]]:
        try:
            doc = orjson.loads(content)
        except orjson.JSONDecodeError as e:
            raise UpstreamError(f"The upstream answer is not valid JSON ({e}).",
                                fix="Set options.response.format to the format the service answers.",
                                reason="invalid_json") from e
        out = {}
        for name, find in self._finders.items():
            matches = find(doc)
            if not matches:
                raise UpstreamError(f"The upstream answer has nothing at {self.outputs[name]!r}.",
                                    fix="Set options.response.path (or outputs) to where the service puts "
                                        "its predictions.", reason="path_not_found")
            out[name] = matches[0] if len(matches) == 1 and isinstance(matches[0], list) else matches
        return out

    def _csv(self, content: bytes) -> dict[str, list[Any]]:
        reader = csv.DictReader(io.StringIO(content.decode("utf-8", "replace")))
        missing = [c for c in self.outputs.values() if not reader.fieldnames or c not in reader.fieldnames]
        if missing:
            raise UpstreamError(f"The upstream CSV has no column {missing[0]!r} (columns: {reader.fieldnames}).",
                                fix="Set options.response.column (or outputs) to the service's columns.",
                                reason="path_not_found")
        rows = list(reader)
        return {name: [_number(row[col] or "") for row in rows] for name, col in self.outputs.items()}
