"""MLflow ``/invocations`` payloads, checked against MLflow's own scoring-server functions.

The reference is the real ``mlflow.pyfunc.scoring_server`` installed in the
venv: the same JSON goes through MLflow's parser and veneer's, and model
outputs through MLflow's ``predictions_to_json`` and veneer's ``encode``.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from veneer.wrapper.batch import normalize_outputs
from veneer.wrapper.codecs import jsonfast, mlflow_payloads as mp
from veneer.wrapper.errors import (BadRequest, InvalidInput, ModelNotFound, PayloadTooLarge,
                                   UnsupportedMediaType, VeneerError)

from ._util import raises_status

scoring_server = pytest.importorskip("mlflow.pyfunc.scoring_server")

JSON = "application/json"


def _decode(doc, content_type=JSON, query=None, **kw):
    return mp.decode_request(jsonfast.dumps(doc), content_type, query, **kw)


@pytest.mark.parametrize("doc", [
    {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}},
    {"dataframe_split": {"columns": ["a", "b"], "index": [7, 8], "data": [[1.5, "x"], [2.5, "y"]]}},
    {"dataframe_split": {"columns": ["only"], "data": [1, 2, 3]}},
    {"dataframe_split": {"data": [[1, 2]]}},
    {"dataframe_records": [{"a": 1, "b": "x", "c": True}, {"a": 2, "b": None, "c": False}]},
    {"dataframe_records": [{"a": 0.5}], "params": {"threshold": 0.3}},
    {"dataframe_records": [{"a": 1, "b": 2}, {"a": 3}, {"c": "x", "a": 4}]},  # sparse records
])
def test_dataframe_payloads_give_the_frame_mlflow_gives(doc):
    batch, fmt = _decode(doc)
    data, _ = scoring_server._split_data_and_params(json.dumps(doc))
    expected = scoring_server.infer_and_parse_data(data).reset_index(drop=True)
    pd.testing.assert_frame_equal(batch.frame(), expected, check_dtype=False,
                                  check_column_type=False)
    assert fmt == mp.MlflowFormat(next(iter(k for k in doc if k != "params")))
    assert batch.params == doc.get("params", {})


@pytest.mark.parametrize("doc", [
    {"instances": [[1, 2], [3, 4]]},
    {"inputs": [[1.5, 2.5]]},
    {"inputs": ["text one", "text two"]},
    {"instances": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]},
    {"inputs": {"a": [1, 2], "b": [3, 4]}},
    {"inputs": {"ids": [[1, 2, 3]], "mask": [[1, 1, 0]]}},
])
def test_tensor_payloads_carry_the_arrays_mlflow_gives(doc):
    batch, _ = _decode(doc)
    expected = scoring_server.infer_and_parse_data(doc)
    if isinstance(expected, dict):
        got = batch.named_tensors()
        assert list(got) == list(expected)
        for name, arr in expected.items():
            assert np.array_equal(got[name], arr)
    else:
        assert np.array_equal(batch.array(), expected)


def test_mlflow_1x_payloads_keep_working_and_get_1x_answers():
    split = {"columns": ["a", "b"], "data": [[1, 2]]}
    for content_type, query in [(JSON, None), ("application/json; format=pandas-split", None),
                                (JSON, {"format": "pandas-split"}),
                                ("application/json-numpy-split", None)]:
        batch, fmt = _decode(split, content_type, query)
        assert batch.columns == ["a", "b"] and batch.rows.tolist() == [[1, 2]]
        assert fmt == mp.MlflowFormat("pandas-split", legacy=True)
    records = [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    for content_type in (JSON, "application/json; format=pandas-records"):
        batch, fmt = _decode(records, content_type)
        assert batch.frame().to_dict("records") == records
        assert fmt.legacy
    legacy = mp.encode({"predictions": np.array([0, 1])}, fmt)
    assert jsonfast.loads(jsonfast.dumps(legacy)) == [0, 1]  # 1.x: no "predictions" wrapper
    table = mp.encode({"label": np.array([1]), "score": np.array([0.5])}, fmt)
    assert table == [{"label": 1, "score": 0.5}]


@pytest.mark.parametrize("raw", [
    np.array([0.25, 0.75]),
    np.array([[1.0, 2.0], [3.0, np.nan]]),
    np.array(["yes", "no"]),
    pd.DataFrame({"label": [1, 0], "score": [0.9, 0.1]}),
    pd.Series([3, 4], name="s"),
    [1, 2, 3],
])
def test_encode_matches_mlflow_predictions_to_json(raw):
    out = io.StringIO()
    scoring_server.predictions_to_json(raw, out)
    expected = json.loads(out.getvalue().replace("NaN", "null"))  # MLflow writes NaN; veneer null
    assert jsonfast.loads(jsonfast.dumps(mp.encode(normalize_outputs(raw)))) == expected


def test_encode_non_tabular_outputs_as_an_object_of_lists():
    body = mp.encode({"proba": np.array([[0.1, 0.9]]), "label": np.array([1])})
    assert jsonfast.loads(jsonfast.dumps(body)) == {"predictions": {"proba": [[0.1, 0.9]],
                                                                    "label": [1]}}


def test_csv_content_type():
    batch, fmt = mp.decode_request(b"a,b\n1,x\n2,y\n", "text/csv; charset=utf-8")
    assert fmt == mp.MlflowFormat("csv") and batch.frame()["b"].tolist() == ["x", "y"]
    assert mp.decode(b"a\n1\n", "text/csv").rows.tolist() == [[1]]


@pytest.mark.parametrize("body, content_type, query, status, fragment", [
    (b'{"dataframe_split": {"data": [[1]]}, "inputs": [1]}', JSON, None, 400,
     "Received dictionary with input fields: ['dataframe_split', 'inputs']"),
    (b'{"rows": [[1]]}', JSON, None, 400, "exactly one of the input fields"),
    (b"{}", JSON, None, 400, "exactly one of the input fields"),
    (b"null", JSON, None, 400, "Received null"),
    (b"[]", JSON, None, 422, "zero rows"),
    (b'{"dataframe_records": [[1, 2]], "params": [1]}', JSON, None, 400,
     "'params' must be an object"),
    (b'{"dataframe_split": [[1]]}', JSON, None, 422, "must be a dictionary"),
    (b'{"dataframe_split": {"columns": ["a"]}}', JSON, None, 422, "must have a 'data' field"),
    (b'{"dataframe_split": {"data": [[1]], "extra": 1}}', JSON, None, 422, "'extra'"),
    (b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}', JSON, None, 422,
     "2 columns named but rows have 1 values"),
    (b'{"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}', JSON, None, 422, "repeats"),
    (b'{"dataframe_split": {"columns": [1], "data": [[1]]}}', JSON, None, 422, "list of strings"),
    (b'{"dataframe_split": {"data": [[1]], "index": [1, 2]}}', JSON, None, 422, "'index'"),
    (b'{"dataframe_split": {"data": "x"}}', JSON, None, 422, "list of rows"),
    (b'{"dataframe_split": {"data": [1, 2]}}', JSON, None, 422, "row 0 is a number"),
    (b'{"dataframe_records": {"a": [1]}}', JSON, None, 422, "must be a list of records"),
    (b'{"dataframe_records": [1, 2]}', JSON, None, 422, "records must be objects"),
    (b'{"dataframe_records": [[1, 2], [3]]}', JSON, None, 422, "different lengths"),
    (b'{"dataframe_records": [[[1, 2]]]}', JSON, None, 422, "cells must be single values"),
    (b'{"instances": [[1]]}', "text/plain", None, 415, "text/plain"),
    (b'{"instances": [[1]]}', "application/json; charset=utf-16", None, 415, "utf-16"),
    (b'{"instances": [[1]]}', "application/json; format=pandas-index", None, 415, "pandas-index"),
    (b'{"instances": [[1]]', JSON, None, 400, "Malformed JSON"),
    (b'{"instances": [[NaN]]}', JSON, None, 400, "Malformed JSON"),
    (b'{"instances": [[1e400]]}', JSON, None, 422, "too large"),
    (b"", JSON, None, 400, "empty"),
])
def test_errors(body, content_type, query, status, fragment):
    with raises_status(status) as info:
        mp.decode_request(body, content_type, query)
    assert fragment in str(info.value)


def test_row_cap_is_413():
    body = jsonfast.dumps({"dataframe_records": [{"a": 1}] * 6})
    with pytest.raises(PayloadTooLarge):
        mp.decode(body, JSON, max_rows=5)
    assert mp.decode(body, JSON, max_rows=6).n_rows == 6


@pytest.mark.parametrize("err, code", [
    (BadRequest("x"), "BAD_REQUEST"), (InvalidInput("x"), "INVALID_PARAMETER_VALUE"),
    (ModelNotFound("churn"), "RESOURCE_DOES_NOT_EXIST"),
    (PayloadTooLarge("x"), "REQUEST_LIMIT_EXCEEDED"),
    (UnsupportedMediaType("x"), "BAD_REQUEST"), (VeneerError("x"), "INTERNAL_ERROR"),
    (RuntimeError("boom"), "INTERNAL_ERROR"),
])
def test_error_body_uses_mlflow_error_codes(err, code):
    body = mp.error_body(err)
    assert body == {"error_code": code, "message": str(err)}
