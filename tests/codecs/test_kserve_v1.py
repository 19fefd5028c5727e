"""KServe V1 / TF-Serving ``instances`` and ``inputs``."""

from __future__ import annotations

import numpy as np
import pytest

from veneer.wrapper.codecs import kserve_v1
from veneer.wrapper.errors import InvalidInput

from ._util import raises_status


def test_rows_as_lists_become_one_numeric_matrix():
    batch = kserve_v1.decode_v1({"instances": [[1.0, 2], [3, -0.0]]})
    assert batch.columns is None
    assert batch.rows.dtype == np.float64 and batch.rows.tolist() == [[1.0, 2.0], [3.0, -0.0]]
    assert list(batch.frame().iloc[1]) == [3.0, -0.0]


def test_rows_as_records_keep_strings_booleans_and_nulls():
    batch = kserve_v1.decode_v1({"instances": [{"plan": "gold", "active": True, "age": None},
                                               {"plan": "basic", "active": False, "age": 41}]})
    assert batch.columns == ["plan", "active", "age"]
    frame = batch.frame()
    assert frame["plan"].tolist() == ["gold", "basic"]
    assert frame["active"].dtype == bool
    assert frame["age"].isna().tolist() == [True, False]


def test_scalar_instances_are_one_1d_tensor():
    batch = kserve_v1.decode_v1({"instances": ["good film", "bad film"]})
    assert batch.tensors["instances"].tolist() == ["good film", "bad film"]
    assert batch.n_rows == 2
    mixed = kserve_v1.decode_v1({"instances": [1, "a"]}).tensors["instances"]
    assert mixed.dtype == object and mixed.tolist() == [1, "a"]  # never silently "1"


def test_deeper_rows_are_an_nd_tensor_for_image_models():
    batch = kserve_v1.decode_v1({"instances": [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]})
    assert batch.tensors["instances"].shape == (2, 2, 2)


def test_records_with_tensor_values_stack_per_name():
    batch = kserve_v1.decode_v1({"instances": [{"image": [1, 2], "k": 1},
                                               {"image": [3, 4], "k": 2}]})
    assert batch.tensors["image"].tolist() == [[1, 2], [3, 4]]
    assert batch.tensors["k"].tolist() == [1, 2]


def test_inputs_columns_form_a_table_and_other_shapes_named_tensors():
    table = kserve_v1.decode_v1({"inputs": {"a": [1, 2], "b": [0.5, 0.25]}})
    assert table.columns == ["a", "b"] and table.rows.tolist() == [[1.0, 0.5], [2.0, 0.25]]
    tensors = kserve_v1.decode_v1({"inputs": {"ids": [[1, 2, 3]], "mask": [[1, 1, 0]]}})
    assert tensors.tensors["ids"].shape == (1, 3)
    listed = kserve_v1.decode_v1({"inputs": [[1, 2]]})
    assert listed.rows.tolist() == [[1, 2]]


@pytest.mark.parametrize("doc, status, fragment", [
    (None, 400, "must be a JSON object"), ([], 400, "must be a JSON object"),
    ({}, 400, "exactly one of 'instances' or 'inputs'"),
    ({"instances": [[1]], "inputs": [[1]]}, 400, "exactly one"),
    ({"instances": []}, 422, "zero rows"),
    ({"instances": {"a": 1}}, 422, "must be a list of rows"),
    ({"instances": "x"}, 422, "must be a list"),
    ({"instances": [[1, 2], [3]]}, 422, "different lengths"),
    ({"instances": [[1, 2], 3]}, 422, "row 1 is a number"),
    ({"instances": [[]]}, 422, "zero columns"),
    ({"instances": [{"a": 1}, {"b": 2}]}, 422, "record 1 does not have the keys of record 0"),
    ({"instances": [{"a": 1}, [1]]}, 422, "record 1 is a list"),
    ({"instances": [{}]}, 422, "zero columns"),
    ({"instances": [[1, {"a": 1}]]}, 422, "cells must be single values"),
    ({"instances": [[[1, 2]], [[3]]]}, 422, "not a rectangular array"),
    ({"inputs": {}}, 422, "empty object"),
    ({"inputs": {"a": [[1, 2], [3]]}}, 422, "not a rectangular array"),
])
def test_bad_requests(doc, status, fragment):
    with raises_status(status) as info:
        kserve_v1.decode_v1(doc)
    assert fragment in str(info.value)


def test_row_cap():
    with raises_status(413):
        kserve_v1.decode_v1({"instances": [[1]] * 11}, max_rows=10)
    with raises_status(413):
        kserve_v1.decode_v1({"inputs": {"a": list(range(11))}}, max_rows=10)
    assert kserve_v1.decode_v1({"instances": [[1]] * 10}, max_rows=10).n_rows == 10


def test_encode_one_entry_per_row():
    assert kserve_v1.encode_v1({"predictions": np.array([0, 1])}) == {"predictions": [0, 1]}
    assert kserve_v1.encode_v1({"proba": np.array([[0.25, 0.75]])}) == {
        "predictions": [[0.25, 0.75]]}
    assert kserve_v1.encode_v1({"label": np.array([1, 0]), "score": np.array([0.5, 0.25])}) == {
        "predictions": [{"label": 1, "score": 0.5}, {"label": 0, "score": 0.25}]}
    assert kserve_v1.encode_v1({"a": np.array([1, 2]), "b": np.array([3])}) == {
        "predictions": {"a": [1, 2], "b": [3]}}
    assert kserve_v1.encode_v1({"predictions": np.float64(0.5)}) == {"predictions": [0.5]}
    assert kserve_v1.error_body(InvalidInput("bad")) == {"error": "bad"}
