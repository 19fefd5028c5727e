"""The decorator path: @veneer.model on existing functions, served with `veneer serve module`."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest
import requests

import veneer
from tests.helpers.server import VeneerServer
from veneer.wrapper.decorator import DECORATED

LEGACY = '''
import veneer

def _rules(df):
    return (df["income"] / 1000 + df["age"]).round(2)

@veneer.model("scorecard", prefix="risk", version="2", stage="production")
def score(df):
    """2015 scorecard, unchanged."""
    return _rules(df)

@veneer.model("limits", prefix="risk")
def limit(df, params=None):
    factor = (params or {}).get("factor", 1)
    return pd.DataFrame({"limit": df["income"] * 0.1 * factor})

import pandas as pd
'''


def test_decorator_returns_the_same_function_still_callable():
    def legacy(df):
        return df["x"] * 2

    decorated = veneer.model("x2", prefix="t")(legacy)
    assert decorated is legacy
    assert list(legacy(pd.DataFrame({"x": [1, 2]}))) == [2, 4]
    assert DECORATED[-1].name == "x2" and DECORATED[-1].func is legacy

    @veneer.model
    def bare(df):
        return df

    assert DECORATED[-1].name == "bare"


@pytest.mark.parametrize("source, message", [
    ("def f(): pass", "takes no argument"),
    ("def f(a, b, c): pass", "requires 3 arguments"),
    ("def f(df, *, key): pass", "keyword-only"),
])
def test_bad_signatures_fail_at_decoration_not_at_the_first_request(source, message):
    namespace: dict = {}
    exec(source, namespace)  # noqa: S102 - building test functions of given signatures
    with pytest.raises(TypeError, match=message):
        veneer.model("bad")(namespace["f"])


def test_decorating_twice_or_a_bad_stage_is_refused():
    def f(df):
        return df

    veneer.model("once")(f)
    with pytest.raises(TypeError, match="already decorated"):
        veneer.model("twice")(f)
    with pytest.raises(ValueError, match="stage='prod'"):
        veneer.model("s", stage="prod")(lambda df: df)


@pytest.fixture()
def legacy_module(tmp_path):
    path = tmp_path / "legacy_scoring_mod.py"
    path.write_text(textwrap.dedent(LEGACY))
    return path


@pytest.mark.slow
def test_serve_module_serves_every_decorated_function(legacy_module):
    with VeneerServer(legacy_module, args=["--no-auth"], workers=1) as srv:
        r = requests.post(srv.url + "/models/risk/scorecard/", json=[{"income": 52000, "age": 40}], timeout=10)
        assert r.status_code == 200, r.text
        # an unnamed Series comes back under "predictions", as MLflow names it
        assert r.json() == [{"predictions": 92.0}] and r.headers["X-Veneer-Model-Version"] == "2"
        r = requests.post(srv.url + "/models/risk/limits/invocations", timeout=10,
                          json={"dataframe_split": {"columns": ["income"], "data": [[1000]]}, "params": {"factor": 3}})
        assert r.status_code == 200, r.text
        assert r.json() == {"predictions": [{"limit": 300.0}]}
        assert "auth OFF" in srv.log()


@pytest.mark.slow
def test_serve_module_function_serves_only_that_function(legacy_module):
    with VeneerServer(f"{legacy_module}:score", args=["--no-auth"], workers=1) as srv:
        assert requests.post(srv.url + "/models/risk/scorecard/", json=[{"income": 1000, "age": 1}],
                             timeout=10).status_code == 200
        assert requests.post(srv.url + "/models/risk/limits/", json=[{"income": 1}], timeout=10).status_code == 404


@pytest.mark.slow
def test_serving_a_module_without_a_key_refuses_to_start_open(legacy_module):
    srv = VeneerServer(legacy_module, workers=1, env={"VENEER_JWT_SECRET": ""})
    with pytest.raises(AssertionError, match="VENEER_JWT_SECRET"):
        srv.start(timeout=30)
