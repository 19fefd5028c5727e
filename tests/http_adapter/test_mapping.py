"""Request/response translation and option validation, without any network."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from veneer.adapters._http_mapping import RequestMapping, ResponseMapping
from veneer.adapters._http_options import OPTIONS_SCHEMA, resolve_options
from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import ConfigError, InvalidInput, UpstreamError

from .conftest import make_adapter


def req(**opts):
    return RequestMapping(resolve_options({"request": opts})["request"], None)


def resp(**opts):
    return ResponseMapping(resolve_options({"response": opts})["response"])


BATCH = Batch(columns=["a", "b"], rows=[[1, 2.5], [3, None]])


def test_every_option_has_description_and_default() -> None:
    def walk(schema, where):
        for key, sub in schema.get("properties", {}).items():
            assert "description" in sub, f"{where}.{key} has no description"
            assert "default" in sub, f"{where}.{key} has no default"
            walk(sub, f"{where}.{key}")
    walk(OPTIONS_SCHEMA, "options")
    assert resolve_options({})["timeouts"] == {"connect": 1.0, "read": 5.0, "deadline": 10.0}


@pytest.mark.parametrize("options,path", [
    ({"timeouts": {"read": 0}}, "options.timeouts.read"),
    ({"request": {"format": "xml"}}, "options.request.format"),
    ({"retries": {"attempts": 0}}, "options.retries.attempts"),
    ({"surprise": 1}, "options"),
])
def test_bad_options_name_the_key(options, path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_options(options, "veneer.yaml:7")
    assert info.value.key_path == path
    assert "veneer.yaml:7" in str(info.value)


@pytest.mark.parametrize("url", ["ftp://host/x", "file:///etc/passwd", "127.0.0.1:9000/score", "http:///x", None])
def test_url_must_be_http(url) -> None:
    with pytest.raises(ConfigError, match="not an http"):
        make_adapter(url, load=False)


def test_json_records_into_a_nested_target_with_static_fields() -> None:
    m = req(body="data.instances", fields={"data": {"model": "churn"}, "v": 2})
    (call,) = m.calls(BATCH)
    assert call.method == "POST" and call.content_type == "application/json"
    assert orjson.loads(call.body) == {"data": {"model": "churn", "instances": [{"a": 1, "b": 2.5},
                                                                                {"a": 3, "b": None}]}, "v": 2}
    assert m.fields == {"data": {"model": "churn"}, "v": 2}  # the template is never mutated


def test_json_split_and_values_orients() -> None:
    assert orjson.loads(req(orient="split").calls(BATCH)[0].body) == {"columns": ["a", "b"],
                                                                      "data": [[1, 2.5], [3, None]]}
    assert orjson.loads(req(orient="values").calls(BATCH)[0].body) == [[1, 2.5], [3, None]]


def test_numpy_rows_and_nan_become_plain_json() -> None:
    batch = Batch(columns=["a", "b"], rows=np.array([[1.0, np.nan]]))
    assert orjson.loads(req().calls(batch)[0].body) == [{"a": 1.0, "b": None}]


def test_per_row_json_sends_one_object_per_call() -> None:
    calls = req(per_row=True, body="row").calls(BATCH)
    assert [orjson.loads(c.body) for c in calls] == [{"row": {"a": 1, "b": 2.5}}, {"row": {"a": 3, "b": None}}]


def test_csv_has_a_header_and_empty_cells_for_missing_values() -> None:
    (call,) = req(format="csv").calls(BATCH)
    assert call.content_type == "text/csv"
    assert call.body == b"a,b\n1,2.5\n3,\n"


def test_form_and_query_are_one_row_per_call() -> None:
    form = req(format="form", fields={"key": "k"}).calls(BATCH)
    assert [c.body for c in form] == [b"a=1&b=2.5&key=k", b"a=3&b=&key=k"]
    assert form[0].content_type == "application/x-www-form-urlencoded" and form[0].method == "POST"
    query = req(format="query").calls(BATCH)
    assert query[0].method == "GET" and query[0].body is None and query[0].params == [("a", "1"), ("b", "2.5")]
    with pytest.raises(ConfigError, match="one row per call"):
        req(format="form", per_row=False)


def test_declared_inputs_reorder_columns_and_missing_ones_are_422() -> None:
    m = RequestMapping(resolve_options({})["request"], ["b", "a"])
    assert orjson.loads(m.calls(BATCH)[0].body) == [{"b": 2.5, "a": 1}, {"b": None, "a": 3}]
    with pytest.raises(InvalidInput, match=r"Missing input column\(s\) \['b'\]"):
        m.calls(Batch(columns=["a"], rows=[[1]]))


def test_unnamed_tensor_input_is_refused_when_names_are_needed() -> None:
    batch = Batch(tensors={"input-0": np.array([[1.0, 2.0]])})
    with pytest.raises(InvalidInput, match="named columns"):
        req().calls(batch)
    assert orjson.loads(req(orient="values").calls(batch)[0].body) == [[1.0, 2.0]]


def test_response_json_paths() -> None:
    doc = b'{"result": {"scores": [0.1, 0.2]}, "meta": [{"p": 1}, {"p": 2}]}'
    assert resp(path="result.scores[*]").values(doc, False) == {"predictions": [0.1, 0.2]}
    assert resp(path="result.scores", name="p").values(doc, False) == {"p": [0.1, 0.2]}
    assert resp(path="$.meta[*].p").values(doc, False) == {"predictions": [1, 2]}
    assert resp(path="$").values(b"[5, 6]", False) == {"predictions": [5, 6]}
    with pytest.raises(ConfigError, match="not a valid JSONPath"):
        resp(path="result.[[")


@pytest.mark.parametrize("content,opts,reason", [
    (b"<html>oops</html>", {}, "invalid_json"),
    (b'{"result": {}}', {"path": "result.scores[*]"}, "path_not_found"),
    (b"id,prob\n0,0.1\n", {"format": "csv", "column": "score"}, "path_not_found"),
])
def test_response_problems_are_upstream_errors(content, opts, reason) -> None:
    with pytest.raises(UpstreamError) as info:
        resp(**opts).values(content, False)
    assert info.value.status == 502 and info.value.details["reason"] == reason


def test_response_csv_and_text() -> None:
    assert resp(format="csv").values(b"id,score\n0,0.25\n1,1\n", False) == {"predictions": [0.25, 1]}
    assert resp(format="text").values(b"0.75\n", True) == {"predictions": [0.75]}
    with pytest.raises(UpstreamError, match="exactly one"):
        resp(format="text").values(b"0.1\n0.2\n", True)


def test_several_named_outputs_from_json_and_csv() -> None:
    doc = b'{"result": {"scores": [0.1, 0.9], "labels": ["stay", "churn"]}}'
    m = resp(outputs={"score": "result.scores[*]", "label": "result.labels"})
    assert m.values(doc, False) == {"score": [0.1, 0.9], "label": ["stay", "churn"]}
    assert resp(format="csv", outputs={"p": "score", "id": "id"}).values(b"id,score\n7,0.5\n", True) == \
        {"p": [0.5], "id": [7]}
    with pytest.raises(UpstreamError, match="'result.labels'"):
        m.values(b'{"result": {"scores": [1]}}', False)
    with pytest.raises(ConfigError, match="one output"):
        resp(format="text", outputs={"a": "x"})
    with pytest.raises(ConfigError, match="options.response.outputs.bad"):
        resp(outputs={"bad": "a.[["})
