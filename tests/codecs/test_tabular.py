"""The native route: shape detection, same-format answers, CSV in and out (CASES 45, 46, 50, 51)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from veneer.wrapper.codecs import jsonfast, tabular
from veneer.wrapper.errors import InvalidInput

from ._util import raises_status

JSON = "application/json"
OUT = {"label": np.array([1, 0]), "score": np.array([0.75, 0.25])}


def _roundtrip(body: bytes, content_type: str = JSON, outputs=OUT):
    batch, fmt = tabular.decode_native(body, content_type)
    out, out_type = tabular.encode_native(outputs, fmt, batch)
    return batch, fmt, out, out_type


def test_records_in_records_out():
    batch, fmt, out, out_type = _roundtrip(b'[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]')
    assert fmt.kind == "records" and batch.columns == ["a", "b"]
    assert batch.frame()["b"].tolist() == ["x", "y"]
    assert out_type == JSON
    assert jsonfast.loads(out) == [{"label": 1, "score": 0.75}, {"label": 0, "score": 0.25}]


def test_split_in_split_out_with_index_echoed():
    body = b'{"columns": ["a", "b"], "index": ["r1", "r2"], "data": [[1, 2.5], [3, 4]]}'
    batch, fmt, out, _ = _roundtrip(body)
    assert fmt.kind == "split" and batch.rows.dtype == np.float64
    assert jsonfast.loads(out) == {"columns": ["label", "score"], "index": ["r1", "r2"],
                                   "data": [[1, 0.75], [0, 0.25]]}


def test_rows_columns_and_single_record():
    _, fmt, out, _ = _roundtrip(b"[[1, 2], [3, 4]]")
    assert fmt.kind == "rows" and jsonfast.loads(out) == [[1, 0.75], [0, 0.25]]
    batch, fmt, out, _ = _roundtrip(b'{"a": [1, 3], "b": [2, 4]}')
    assert fmt.kind == "columns" and batch.rows.tolist() == [[1, 2], [3, 4]]
    assert jsonfast.loads(out) == {"label": [1, 0], "score": [0.75, 0.25]}
    batch, fmt, out, _ = _roundtrip(b'{"a": 1, "b": "x"}', outputs={"label": np.array([1])})
    assert fmt.kind == "record" and batch.n_rows == 1 and batch.columns == ["a", "b"]
    assert jsonfast.loads(out) == {"label": 1}


def test_mlflow_and_v1_shapes_answer_with_predictions():
    _, fmt, out, _ = _roundtrip(b'{"dataframe_split": {"columns": ["a"], "data": [[1], [2]]}, '
                                b'"params": {"k": 1}}', outputs={"predictions": np.array([1, 0])})
    assert fmt.kind == "mlflow" and jsonfast.loads(out) == {"predictions": [1, 0]}
    batch, fmt, out, _ = _roundtrip(b'{"instances": [[1, 2]]}',
                                    outputs={"predictions": np.array([1])})
    assert batch.rows.tolist() == [[1, 2]] and jsonfast.loads(out) == {"predictions": [1]}


def test_outputs_of_different_lengths_fall_back_to_columns():
    _, _, out, _ = _roundtrip(b"[[1], [2]]", outputs={"a": np.array([1, 2]), "b": np.array([3])})
    assert jsonfast.loads(out) == {"a": [1, 2], "b": [3]}


@pytest.mark.parametrize("body, content_type, status, fragment", [
    (b"", JSON, 400, "empty"), (b"null", JSON, 422, "The body is null"),
    (b"[]", JSON, 422, "zero rows"), (b"{}", JSON, 422, "empty object"),
    (b"3", JSON, 422, "a number"), (b'"x"', JSON, 422, "a string"),
    (b"[1, 2, 3]", JSON, 422, "1-D list where rows are needed"),             # CASES 46
    (b"[[1, 2], [3]]", JSON, 422, "different lengths"),
    (b"[[[1, 2]], [[3, 4]]]", JSON, 422, "a 3-D payload"),
    (b"[[], []]", JSON, 422, "zero columns"),
    (b"[{}]", JSON, 422, "zero columns"),
    (b'[{"a": 1}, {"a": 1, "b": 2}]', JSON, 422, "extra ['b']"),
    (b'[{"a": 1, "b": 1}, {"a": 2}]', JSON, 422, "missing ['b']"),
    (b'{"a": [1, 2], "b": [3]}', JSON, 422, "different lengths"),
    (b'{"a": [1], "b": 2}', JSON, 422, "mixes lists and single values"),
    (b'{"a": {"x": 1}}', JSON, 422, "mixes lists and single values"),
    (b'{"a": [[1, 2]]}', JSON, 422, "cells must be single values"),
    (b'{"a": 1e400}', JSON, 422, "too large"),                               # CASES 43
    (b'{"a": NaN}', JSON, 400, "Malformed JSON"),                            # CASES 42
    (b"[1, 2", JSON, 400, "Malformed JSON"),                                 # CASES 41
    (b"a,b\n1,2", "text/plain", 415, "text/plain"),                          # CASES 44
    (b"a,b\n1,2", "application/x-www-form-urlencoded", 415, "form-urlencoded"),
    (b"[[1]]", "application/json; charset=utf-16", 415, "utf-16"),
])
def test_errors(body, content_type, status, fragment):
    with raises_status(status) as info:
        tabular.decode_native(body, content_type)
    assert fragment in str(info.value)


def test_negative_zero_accepted_and_row_cap_is_413():
    batch, _ = tabular.decode_native(b'[{"a": -0.0}]', JSON)
    assert np.signbit(batch.rows[0, 0])
    with raises_status(413):
        tabular.decode_native(jsonfast.dumps([[1.0]] * 1001), JSON, max_rows=1000)
    with raises_status(413):
        tabular.decode_native(b"a\n" + b"1\n" * 1001, "text/csv", max_rows=1000)
    with raises_status(413):
        tabular.decode_native(b'{"a": [1, 2, 3]}', JSON, max_rows=2)


def test_no_content_type_is_json():
    assert tabular.decode_native(b"[[1]]", "")[1].kind == "rows"


CSV_SAMPLES = [
    b"a,b,c\n1,2.5,x\n3,,y\n",                                     # int, float with blank, text
    b'id,note\n1,"line one\nline two"\n2,"has ""quotes"", commas"\n',  # quoted newline and quotes
    b"\xef\xbb\xbfx,flag\n-0.0,True\n1e3,False\n",                  # BOM, bools, -0.0
    b"a,b\r\n1,NA\r\n2,3\r\n",                                     # CRLF, NA marker
    b",a\n0,5\n1,6\n",                                             # pandas to_csv index column
    b"a,b\n1,2\n\n3,4\n",                                          # blank line skipped
]


@pytest.mark.parametrize("body", CSV_SAMPLES)
def test_csv_parses_like_pandas_read_csv(body):
    batch, fmt = tabular.decode_native(body, "text/csv")
    expected = pd.read_csv(io.BytesIO(body), encoding="utf-8-sig")
    pd.testing.assert_frame_equal(batch.frame(), expected, check_dtype=False)
    assert fmt.kind == "csv"


@pytest.mark.parametrize("body, status, fragment", [
    (b"a,b\n1,2\n3,4,5\n", 422, "CSV line 3 has 3 fields; the header has 2"),   # CASES 51 ragged
    (b"a,b\n1,2\n3\n", 422, "CSV line 3 has 1 fields"),
    (b'a,b\n1,"2\n3,4\n', 400, "Malformed CSV"),                              # unclosed quote
    (b"a,b\n", 422, "zero rows"), (b"", 400, "empty"), (b"\n\n", 400, "empty"),
    (b"a,a\n1,2\n", 422, "repeats column"), (b"a\n\xff\n", 400, "not valid UTF-8"),
    (b"a,b\n1,inf\n", 422, "infinite"), (b"a\n-Infinity\n", 422, "infinite"),
    (b"a\n1e400\n", 422, "infinite"), (b"a,b\nx,1e400\n", 422, "infinite"),
])
def test_csv_errors(body, status, fragment):
    with raises_status(status) as info:
        tabular.decode_native(body, "text/csv")
    assert fragment in str(info.value)


@pytest.mark.parametrize("cell", ["1_000", " 7", "2.5 ", "\u0661", "0x10", "1e", "--1", "+.5"])
def test_csv_numbers_follow_pandas_not_python_int(cell):
    body = f"a,b\n{cell},1\n".encode()
    batch, _ = tabular.decode_native(body, "text/csv")
    assert batch.frame()["a"].tolist() == pd.read_csv(io.BytesIO(body))["a"].tolist()
    assert batch.frame()["b"].tolist() == [1]


def test_csv_out_escapes_formula_injection_but_not_numbers():
    echoed = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "-1.5", "+3",
              "1e-5", "plain", "a=b"]
    batch, fmt = tabular.decode_native(
        b"v\n" + "\n".join('"' + v + '"' for v in echoed).encode(), "text/csv")
    assert batch.frame()["v"].tolist()[:2] == ["=cmd|' /C calc'!A0", "+1+1"]  # parsed as sent
    body, content_type = tabular.encode_native(
        {"v": batch.frame()["v"].to_numpy(), "n": np.arange(-5, 6) * 1.5}, fmt, batch)
    assert content_type == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert rows[0] == ["v", "n"]
    assert [r[0] for r in rows[1:]] == [
        "'=cmd|' /C calc'!A0", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "-1.5", "+3",
        "1e-5", "plain", "a=b"]
    assert rows[1][1] == "-7.5"  # numeric cells are never prefixed


def test_csv_out_expands_2d_outputs_and_blanks_nan():
    batch, fmt = tabular.decode_native(b"a\n1\n2\n", "text/csv")
    body, _ = tabular.encode_native({"proba": np.array([[0.25, 0.75], [np.nan, 1.0]]),
                                     "name": np.array(["x", None], dtype=object)}, fmt, batch)
    assert body.decode() == "proba_0,proba_1,name\r\n0.25,0.75,x\r\n,1.0,\r\n"


def test_csv_out_refuses_3d_and_mismatched_outputs():
    batch, fmt = tabular.decode_native(b"a\n1\n", "text/csv")
    with pytest.raises(Exception, match="at most 2-D"):
        tabular.encode_native({"x": np.zeros((1, 2, 2))}, fmt, batch)
    with pytest.raises(Exception, match="different row counts"):
        tabular.encode_native({"x": np.zeros(1), "y": np.zeros(2)}, fmt, batch)


def test_error_body():
    assert tabular.error_body(InvalidInput("bad", fix="fix it")) == {"error": "bad fix it"}
