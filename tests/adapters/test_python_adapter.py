"""The python adapter: module:function, a platform-style model.py (async), decorated functions."""

from __future__ import annotations

import asyncio
import importlib
import sys
from http import HTTPStatus
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from veneer.adapters.python_code import PythonAdapter
from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import ArtifactError, ConfigError, InvalidInput, ModelNotReady, VeneerError

from .conftest import sha256_of, spec
from .contract import AdapterContractTests

PRICING = '''
def price(df):
    """amount * 2 + rate, per row; KeyError names a missing column (as legacy code does)."""
    return df["amount"] * 2 + df["rate"]

def price_with_params(df, params):
    return {"price": (df["amount"] * params.get("factor", 1)).to_numpy()}

class Book:
    @staticmethod
    def lookup(df):
        return df[["amount"]]

def broken(df):
    raise RuntimeError("database is down")

def returns_none(df):
    return None

def returns_text(df):
    return "ok"

def returns_one_row(df):
    return [1.0]

NOT_CALLABLE = 3
'''

PLATFORM = '''
"""A hosting-platform model: async init once, async predict(df) -> DataFrame."""
import asyncio, os
import pandas as pd

INIT_CALLS = []
_factor = None

async def init(*args, **kwargs):
    global _factor
    INIT_CALLS.append(kwargs)
    await asyncio.sleep(0)
    with open(os.path.join(kwargs["artifact_dir"], "factor.txt")) as f:
        _factor = float(f.read())

async def predict(df, *args, **kwargs):
    await asyncio.sleep(0)
    if "x" not in df.columns:
        raise ValueError("missing input column x; expected ['x']")
    return pd.DataFrame({"y": df["x"] * _factor + kwargs.get("offset", 0)}, index=df.index)
'''


@pytest.fixture(scope="module")
def pricing_dir(tmp_path_factory) -> Path:
    """A folder holding ``veneer_test_pricing.py`` (a unique name: sys.modules is process-wide)."""
    folder = tmp_path_factory.mktemp("pricing")
    (folder / "veneer_test_pricing.py").write_text(PRICING)
    return folder


def callable_adapter(folder: Path, name: str, **options) -> PythonAdapter:
    return PythonAdapter(spec("python", options={"callable": f"veneer_test_pricing:{name}",
                                                 "search_path": str(folder), **options}))


def write_platform(folder: Path, factor: str = "3", source: str = PLATFORM) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "factor.txt").write_text(factor)
    (folder / "model.py").write_text(source)
    return folder / "model.py"


def loaded(adapter: PythonAdapter) -> PythonAdapter:
    adapter.load()
    return adapter


AMOUNTS = Batch(columns=["amount", "rate"], rows=[[10.0, 1.0], [2.5, 0.5], [0.0, 0.0]])


class TestCallableContract(AdapterContractTests):
    @pytest.fixture
    def adapter(self, pricing_dir):
        return callable_adapter(pricing_dir, "price", inputs=[{"name": "amount", "datatype": "FP64"},
                                                              {"name": "rate", "datatype": "FP64"}])

    @pytest.fixture
    def good_batch(self):
        return AMOUNTS

    @pytest.fixture
    def bad_batch(self):
        return Batch(columns=["amount"], rows=[[1.0]])


class TestPlatformContract(AdapterContractTests):
    @pytest.fixture
    def adapter(self, tmp_path):
        return PythonAdapter(spec("python", path=write_platform(tmp_path / "ltv")))

    @pytest.fixture
    def good_batch(self):
        return Batch(columns=["x"], rows=[[1.0], [2.0]])

    @pytest.fixture
    def bad_batch(self):
        return Batch(columns=["z"], rows=[[1.0]])


def decorated_score(df, params):
    """A legacy function as @veneer.model would hand it over (takes params)."""
    if "income" not in df.columns:
        raise ValueError("income column is required")
    return (df["income"] / 1000 + params.get("bonus", 0)).round(1)


class TestDecoratedContract(AdapterContractTests):
    @pytest.fixture
    def adapter(self):
        return PythonAdapter.from_callable(decorated_score, spec("python"))

    @pytest.fixture
    def good_batch(self):
        return Batch(columns=["income"], rows=[[52000], [31000]], params={"bonus": 2})

    @pytest.fixture
    def bad_batch(self):
        return Batch(columns=["age"], rows=[[40]])


# -- module:function ---------------------------------------------------------------------------

def test_callable_returns_values_by_row(pricing_dir):
    out = loaded(callable_adapter(pricing_dir, "price")).predict(AMOUNTS)
    assert list(out) == ["predictions"] and out["predictions"].tolist() == [21.0, 5.5, 0.0]


def test_callable_with_params_and_dotted_attribute(pricing_dir):
    adapter = loaded(callable_adapter(pricing_dir, "price_with_params"))
    assert adapter.predict(Batch(columns=["amount", "rate"], rows=[[10.0, 1.0]],
                                 params={"factor": 3}))["price"].tolist() == [30.0]
    assert adapter.predict(Batch(columns=["amount", "rate"], rows=[[10.0, 1.0]]))["price"].tolist() == [10.0]
    out = loaded(callable_adapter(pricing_dir, "Book.lookup")).predict(AMOUNTS)
    assert out["amount"].tolist() == [10.0, 2.5, 0.0]


def test_missing_column_keyerror_is_422_with_its_name(pricing_dir):
    with pytest.raises(InvalidInput, match="KeyError: missing key 'rate'") as info:
        loaded(callable_adapter(pricing_dir, "price")).predict(Batch(columns=["amount"], rows=[[1.0]]))
    assert info.value.status == HTTPStatus.UNPROCESSABLE_ENTITY


def test_other_exceptions_propagate_for_the_server_to_log(pricing_dir):
    with pytest.raises(RuntimeError, match="database is down"):
        loaded(callable_adapter(pricing_dir, "broken")).predict(AMOUNTS)


@pytest.mark.parametrize("name, what", [("returns_none", "a NoneType"), ("returns_text", "a str"),
                                        ("returns_one_row", "shape [1] for 3 input rows")])
def test_bad_return_value_is_a_500_naming_the_function(pricing_dir, name, what):
    with pytest.raises(VeneerError) as info:
        loaded(callable_adapter(pricing_dir, name)).predict(AMOUNTS)
    assert not isinstance(info.value, InvalidInput)
    assert info.value.status == HTTPStatus.INTERNAL_SERVER_ERROR and info.value.code == "bad_model_output"
    assert f"veneer_test_pricing:{name}" in str(info.value) and what in str(info.value)


@pytest.mark.parametrize("target, message", [
    ("veneer_no_such_module:f", "Importing 'veneer_no_such_module'"),
    ("veneer_test_pricing:nope", "has no 'nope'"),
    ("veneer_test_pricing:NOT_CALLABLE", "is a int, not a function"),
])
def test_import_problems_are_artifact_errors(pricing_dir, target, message):
    adapter = PythonAdapter(spec("python", options={"callable": target, "search_path": str(pricing_dir)}))
    with pytest.raises(ArtifactError, match=message) as info:
        adapter.load()
    assert info.value.code == "import_failed"


def test_callable_and_path_together_or_neither_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="either"):
        PythonAdapter(spec("python", path=tmp_path / "m.py", options={"callable": "a:b"})).load()
    with pytest.raises(ConfigError, match="needs"):
        PythonAdapter(spec("python")).load()
    with pytest.raises(ModelNotReady):
        PythonAdapter(spec("python")).predict(AMOUNTS)


# -- platform model.py -------------------------------------------------------------------------

def test_platform_model_runs_async_init_once_with_artifact_dir(tmp_path):
    path = write_platform(tmp_path / "ltv", factor="2.5")
    adapter = loaded(PythonAdapter(spec("python", path=path, options={"init_kwargs": {"region": "eu"}})))
    module = sys.modules[adapter._func.__module__]
    assert module.__file__ == str(path)  # loaded unchanged, from its own file
    assert module.INIT_CALLS == [{"artifact_dir": str(tmp_path / "ltv"), "region": "eu"}]
    out = adapter.predict(Batch(columns=["x"], rows=[[1.0], [4.0]]))
    assert out["y"].tolist() == [2.5, 10.0]
    assert adapter.predict(Batch(columns=["x"], rows=[[1.0]], params={"offset": 1}))["y"].tolist() == [3.5]
    assert module.INIT_CALLS and len(module.INIT_CALLS) == 1
    meta = adapter.metadata()
    assert meta.extra["form"] == "platform" and meta.extra["async"] is True
    assert meta.extra["function"] == "model.py:predict"


def test_two_versions_of_the_same_file_keep_separate_state(tmp_path):
    one = loaded(PythonAdapter(spec("python", version="1", path=write_platform(tmp_path / "a", factor="2"))))
    two = loaded(PythonAdapter(spec("python", version="2", path=write_platform(tmp_path / "b", factor="10"))))
    batch = Batch(columns=["x"], rows=[[1.0]])
    assert one.predict(batch)["y"].tolist() == [2.0] and two.predict(batch)["y"].tolist() == [10.0]
    assert one._func.__module__ != two._func.__module__


def test_async_predict_uses_one_private_loop_per_thread_and_unload_closes_them(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    adapter = loaded(PythonAdapter(spec("python", path=write_platform(tmp_path / "m"))))
    batch = Batch(columns=["x"], rows=[[1.0]])
    with ThreadPoolExecutor(4) as pool:
        assert [r["y"].tolist() for r in pool.map(lambda _: adapter.predict(batch), range(40))] == [[3.0]] * 40
    loops = [loop for _, loop in adapter._loops]
    # one for the loading thread (async init) plus at most one per pool thread, reused across calls
    assert 2 <= len(loops) <= 5, len(loops)
    adapter.unload()
    assert all(loop.is_closed() for loop in loops)


def test_platform_errors_are_reported_at_load(tmp_path):
    cases = {
        "syntax": ("def predict(df):\n    return df +\n", "import_failed", "SyntaxError"),
        "nopredict": ("def score(df):\n    return df\n", "import_failed", "defines no predict"),
        "initfails": ("def init(**kw):\n    raise OSError('no weights')\ndef predict(df):\n    return df\n",
                      "init_failed", "OSError: no weights"),
    }
    for name, (source, code, message) in cases.items():
        path = tmp_path / name / "model.py"
        path.parent.mkdir()
        path.write_text(source)
        with pytest.raises(ArtifactError, match=message) as info:
            PythonAdapter(spec("python", path=path)).load()
        assert info.value.code == code, name


def test_model_py_sha256_pin_is_checked_on_the_executed_bytes(tmp_path):
    path = write_platform(tmp_path / "m")
    pin = sha256_of(path)
    assert loaded(PythonAdapter(spec("python", path=path, sha256=pin))).predict(
        Batch(columns=["x"], rows=[[1.0]]))["y"].tolist() == [3.0]
    path.write_text(PLATFORM.replace("* _factor", "* _factor * 100"))
    with pytest.raises(ArtifactError) as info:
        PythonAdapter(spec("python", path=path, sha256=pin)).load()
    assert info.value.code == "hash_mismatch"


# -- decorated functions -------------------------------------------------------------------------

async def async_decorated(df):
    await asyncio.sleep(0)
    return df[["income"]] * 2


def test_from_callable_sync_with_params_and_async():
    adapter = loaded(PythonAdapter.from_callable(decorated_score, spec("python")))
    assert adapter.predict(Batch(columns=["income"], rows=[[52000]], params={"bonus": 2}))[
        "income"].tolist() == [54.0]
    assert adapter.metadata().extra["function"].endswith(":decorated_score")
    out = loaded(PythonAdapter.from_callable(async_decorated, spec("python"))).predict(
        Batch(columns=["income"], rows=[[1], [2]]))
    assert out["income"].tolist() == [2, 4]
    with pytest.raises(TypeError, match="needs a function"):
        PythonAdapter.from_callable(3, spec("python"))


# -- the example models, when built ----------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "legacy_models"


def test_example_platform_model_unchanged():
    build = EXAMPLES / "build"
    if not (build / "ltv_model.joblib").is_file():
        pytest.skip("examples/legacy_models/build not built (make examples)")
    adapter = loaded(PythonAdapter(spec("python", path=EXAMPLES / "platform_model" / "model.py",
                                        options={"init_kwargs": {"artifact_dir": str(build)}})))
    sample = pd.read_csv(build / "ltv_sample.csv")
    out = adapter.predict(Batch.from_frame(sample))
    assert out["ltv"].shape == (len(sample),) and np.isfinite(out["ltv"]).all()


def test_example_decorated_scorecard():
    if not (EXAMPLES / "build" / "scorecard_sample.csv").is_file():
        pytest.skip("examples/legacy_models/build not built (make examples)")
    from veneer.wrapper.decorator import DECORATED

    before, was_imported = list(DECORATED), "legacy_scoring" in sys.modules
    sys.path.insert(0, str(EXAMPLES))
    try:
        module = importlib.import_module("legacy_scoring")
    finally:
        sys.path.remove(str(EXAMPLES))
        # importing registers the function: leave the process-wide list and sys.modules as found
        DECORATED[:] = before
        if not was_imported:
            sys.modules.pop("legacy_scoring", None)
    sample = pd.read_csv(EXAMPLES / "build" / "scorecard_sample.csv")
    out = loaded(PythonAdapter.from_callable(module.score, spec("python"))).predict(Batch.from_frame(sample))
    scores = next(iter(out.values()))
    assert scores.tolist() == module.score(sample).tolist()
    assert ((scores >= 300) & (scores <= 850)).all()


@pytest.mark.slow
def test_async_platform_model_under_real_gunicorn_threads(tmp_path):
    """`veneer serve` (gthread workers) calls an async model.py from many threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from tests.helpers.server import VeneerServer

    write_platform(tmp_path / "ltv", factor="4")
    (tmp_path / "veneer.yaml").write_text(
        "prefix: risk\nauth: none\nmodels:\n  ltv:\n    versions:\n"
        "      - {version: '1', adapter: python, path: ltv/model.py}\n")

    def call(i: int) -> tuple[int, list]:
        r = requests.post(url + "/models/risk/ltv/", json={"dataframe_records": [{"x": i}, {"x": 0.5}]},
                          timeout=30)
        return r.status_code, r.json()

    with VeneerServer(tmp_path / "veneer.yaml", workers=2, threads=4) as server:
        url = server.url
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(call, range(48), timeout=90))
        bad = requests.post(url + "/models/risk/ltv/", json={"dataframe_records": [{"z": 1}]}, timeout=30)
    assert [status for status, _ in answers] == [200] * 48
    for i, (_, body) in enumerate(answers):
        assert body == {"predictions": [{"y": 4.0 * i}, {"y": 2.0}]}
    assert bad.status_code == 422 and "missing input column x" in bad.json()["error"]
