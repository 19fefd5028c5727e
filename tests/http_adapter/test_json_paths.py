"""The plain-step evaluation of common JSONPaths gives exactly what jsonpath-ng gives, on any document."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veneer.adapters._json_paths import _steps, compile_path, value_finder

PLAIN = ["$", "predictions", "$.predictions", "result.scores[*]", "outputs[0].data", "outputs[-1].data",
         "data[*][1]", "a.*", "a.b[*].c", "$[*]", "$[2]", "a[*].*"]
OTHER = ["scores[0:2]", "a[0,1]", "a.`len`", "items[?score > 0.5].score", "a..b", "a,b"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=3))
keys = st.sampled_from(["a", "b", "c", "data", "predictions", "result", "scores", "outputs", "items", "score"])
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(keys, inner, max_size=4)),
                         max_leaves=25)


def reference(parsed, doc):
    return [m.value for m in parsed.find(doc)]


@pytest.mark.parametrize("expr", PLAIN)
def test_plain_paths_take_the_direct_route(expr) -> None:
    assert _steps(compile_path(expr, "x")) is not None


@pytest.mark.parametrize("expr", OTHER)
def test_other_paths_stay_with_jsonpath_ng(expr) -> None:
    parsed = compile_path(expr, "x")
    assert _steps(parsed) is None
    doc = {"scores": [1, 2, 3], "a": {"b": 1}, "items": [{"score": 0.7}, {"score": 0.2}]}
    assert value_finder(parsed)(doc) == reference(parsed, doc)


@settings(max_examples=300, deadline=None)
@given(doc=documents, expr=st.sampled_from(PLAIN))
def test_direct_route_matches_jsonpath_ng(doc, expr) -> None:
    parsed = compile_path(expr, "x")
    assert value_finder(parsed)(doc) == reference(parsed, doc)


def test_known_answers() -> None:
    doc = {"result": {"scores": [0.1, 0.9]}, "outputs": [{"data": [1]}, {"data": [2]}]}
    assert value_finder(compile_path("result.scores[*]", "x"))(doc) == [0.1, 0.9]
    assert value_finder(compile_path("outputs[-1].data", "x"))(doc) == [[2]]
    assert value_finder(compile_path("result.missing[*]", "x"))(doc) == []
