"""The pickle adapter end to end on real scikit-learn models built here (CASES D56-D58, D62, D64-D66, D71).

Models are fitted in this module (tiny, deterministic) and written in tmp_path as
plain pickles and joblib files, so nothing depends on examples/legacy_models/build.
"""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from tests.adapters.conftest import sha256_of, spec
from tests.adapters.pickle_fixtures import call_pickle, install_user_module, touch_command
from veneer.adapters import pickle_file
from veneer.adapters._safe_unpickle import UnsafePickleError
from veneer.adapters.pickle_file import PickleAdapter
from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import ArtifactError, InvalidInput

COLUMNS = ["tenure", "plan", "spend"]


@pytest.fixture(scope="module")
def churn() -> tuple[Any, Any]:
    """A churn pipeline on a named DataFrame: scaled numbers + one-hot plan, then logistic regression."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.RandomState(7)
    frame = pd.DataFrame({"tenure": rng.rand(80) * 10, "plan": rng.choice(["basic", "pro"], 80),
                          "spend": rng.rand(80) * 100})
    y = np.where((frame.tenure < 4) | (frame.plan == "basic") & (frame.spend > 70), "churn", "stay")
    pre = ColumnTransformer([("num", StandardScaler(), ["tenure", "spend"]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])])
    return Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(frame, y), frame


@pytest.fixture(scope="module")
def numeric_models() -> tuple[dict[str, Any], np.ndarray]:
    """LogisticRegression, RandomForest and Ridge fitted on an unnamed 4-column matrix."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, Ridge

    rng = np.random.RandomState(3)
    X = rng.rand(60, 4)
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    return {"logreg": LogisticRegression().fit(X, y),
            "forest": RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y),
            "ridge": Ridge().fit(X, X @ [1.0, 2.0, 0.0, -1.0])}, X


def save(obj: Any, path: Path, how: str) -> Path:
    if how.startswith("pickle"):
        path.write_bytes(pickle.dumps(obj, protocol=int(how[-1])))
    else:
        compress = {"joblib": 0, "joblib-zlib3": 3, "joblib-lz4": ("lz4", 3)}[how]
        joblib.dump(obj, path, compress=compress)
    return path


def adapter_for(path: Path, **kw: Any) -> PickleAdapter:
    a = PickleAdapter(spec("pickle", path=path, **kw))
    a.load()
    return a


def rows_batch(frame: Any, columns: list[str] = COLUMNS) -> Batch:
    return Batch(columns=list(columns), rows=frame[columns].astype(object).values.tolist())


FORMATS = ["pickle2", "pickle5", "joblib", "joblib-zlib3",
           pytest.param("joblib-lz4", marks=pytest.mark.skipif(joblib.compressor.lz4 is None,
                                                                reason="lz4 is not installed"))]


# -- D66: legit models load under the default allowlist ------------------------------------------

@pytest.mark.parametrize("how", FORMATS)
def test_pipeline_loads_and_predicts(tmp_path: Path, churn, how: str) -> None:
    model, frame = churn
    a = adapter_for(save(model, tmp_path / "churn.bin", how))
    out = a.predict(rows_batch(frame))
    assert list(out) == ["predictions"]
    assert out["predictions"].tolist() == model.predict(frame).tolist()
    assert set(out["predictions"]) == {"churn", "stay"}


@pytest.mark.parametrize("how", FORMATS)
@pytest.mark.parametrize("name", ["logreg", "forest", "ridge"])
def test_numeric_models_load_and_predict(tmp_path: Path, numeric_models, name: str, how: str) -> None:
    models, X = numeric_models
    a = adapter_for(save(models[name], tmp_path / f"{name}.pkl", how))
    got = a.predict(Batch(rows=X.tolist()))["predictions"]
    np.testing.assert_array_equal(got, models[name].predict(X))


def test_probabilities_on_request(tmp_path: Path, churn) -> None:
    model, frame = churn
    a = adapter_for(save(model, tmp_path / "churn.joblib", "joblib"),
                    options={"outputs": ["predict", "predict_proba"]})
    out = a.predict(rows_batch(frame.head(5)))
    assert list(out) == ["predictions", "probabilities"]
    np.testing.assert_allclose(out["probabilities"], model.predict_proba(frame.head(5)))
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0)
    assert [o.name for o in a.metadata().outputs] == ["predictions", "probabilities"]


def test_outputs_the_model_lacks_fail_at_load(tmp_path: Path, numeric_models) -> None:
    path = save(numeric_models[0]["ridge"], tmp_path / "ridge.pkl", "pickle5")
    a = PickleAdapter(spec("pickle", path=path, options={"outputs": ["predict_proba"]}))
    with pytest.raises(ArtifactError) as ei:
        a.load()
    assert ei.value.code == "invalid_artifact" and "predict_proba" in str(ei.value)
    assert a.model is None


# -- columns and bad input -------------------------------------------------------------------------

def test_columns_reordered_and_extra_dropped(tmp_path: Path, churn) -> None:
    model, frame = churn
    a = adapter_for(save(model, tmp_path / "c.joblib", "joblib"))
    shuffled = frame[["spend", "tenure", "plan"]].assign(customer_id=range(len(frame)))
    batch = Batch(columns=list(shuffled.columns), rows=shuffled.astype(object).values.tolist())
    assert a.predict(batch)["predictions"].tolist() == model.predict(frame).tolist()


def test_unnamed_rows_are_positional(tmp_path: Path, churn) -> None:
    model, frame = churn
    a = adapter_for(save(model, tmp_path / "c.joblib", "joblib"))
    got = a.predict(Batch(rows=frame[COLUMNS].astype(object).values.tolist()))["predictions"]
    assert got.tolist() == model.predict(frame).tolist()
    with pytest.raises(InvalidInput) as ei:
        a.predict(Batch(rows=[[1.0, "pro"]]))
    assert "2 values" in str(ei.value) and "tenure, plan, spend" in str(ei.value)


def test_tensor_batch_one_tensor_per_column(tmp_path: Path, churn) -> None:
    model, frame = churn
    a = adapter_for(save(model, tmp_path / "c.joblib", "joblib"))
    tensors = {c: frame[c].to_numpy() for c in ["plan", "spend", "tenure"]}
    assert a.predict(Batch(tensors=tensors))["predictions"].tolist() == model.predict(frame).tolist()


def test_missing_column_is_422_naming_it(tmp_path: Path, churn) -> None:
    model, frame = churn
    a = adapter_for(save(model, tmp_path / "c.joblib", "joblib"))
    with pytest.raises(InvalidInput) as ei:
        a.predict(rows_batch(frame, ["spend", "plan"]))
    assert ei.value.status == 422 and "'tenure'" in str(ei.value)
    assert ei.value.details["missing"] == ["tenure"]


@pytest.mark.parametrize("row,needle", [([None, "pro", 10.0], "NaN"), (["ten", "pro", 10.0], "convert")])
def test_nan_and_strings_in_numeric_columns_are_422(tmp_path: Path, churn, row, needle: str) -> None:
    a = adapter_for(save(churn[0], tmp_path / "c.joblib", "joblib"))
    with pytest.raises(InvalidInput) as ei:
        a.predict(Batch(columns=COLUMNS, rows=[row]))
    assert needle in str(ei.value) and ei.value.status == 422


def test_numeric_model_row_width_and_strings(tmp_path: Path, numeric_models) -> None:
    a = adapter_for(save(numeric_models[0]["logreg"], tmp_path / "m.pkl", "pickle5"))
    with pytest.raises(InvalidInput) as ei:
        a.predict(Batch(rows=[[1.0, 2.0, 3.0]]))
    assert "3 values" in str(ei.value) and "4 features" in str(ei.value)
    with pytest.raises(InvalidInput) as ei:
        a.predict(Batch(rows=[[1.0, "x", 3.0, 4.0]]))
    assert "numbers" in str(ei.value)


# -- metadata --------------------------------------------------------------------------------------

def test_metadata_of_a_named_pipeline(tmp_path: Path, churn) -> None:
    path = save(churn[0], tmp_path / "c.joblib", "joblib-zlib3")
    meta = adapter_for(path).metadata()
    assert meta.platform == "sklearn"
    assert [(i.name, i.datatype) for i in meta.inputs] == [("tenure", "FP64"), ("plan", "BYTES"),
                                                            ("spend", "FP64")]
    assert [(o.name, o.datatype, o.shape) for o in meta.outputs] == [("predictions", "BYTES", (-1,))]
    assert meta.extra["sha256"] == sha256_of(path)
    assert meta.extra["estimator"] == "sklearn.pipeline.Pipeline"
    assert meta.extra["classes"] == ["churn", "stay"] and meta.extra["loader"] == "allowlist"
    assert meta.extra["steps"] == ["pre: ColumnTransformer", "clf: LogisticRegression"]
    assert "saved_with" not in meta.extra


def test_metadata_of_an_unnamed_matrix_model(tmp_path: Path, numeric_models) -> None:
    meta = adapter_for(save(numeric_models[0]["forest"], tmp_path / "f.pkl", "pickle5")).metadata()
    assert [(i.name, i.datatype, i.shape) for i in meta.inputs] == [("input-0", "FP64", (-1, 4))]
    assert meta.outputs[0].datatype == "INT64"


def test_version_skew_is_reported(tmp_path: Path, churn, monkeypatch, caplog) -> None:
    """D66: sklearn's InconsistentVersionWarning carries the saved-with version into metadata."""
    import sklearn
    import sklearn.base

    with monkeypatch.context() as m:
        m.setattr(sklearn.base, "__version__", "1.2.2")  # what __getstate__ stamps into the pickle
        path = save(churn[0], tmp_path / "old.joblib", "joblib")
    with caplog.at_level(logging.WARNING, logger="veneer.adapters.pickle_file"):
        a = adapter_for(path)
    extra = a.metadata().extra
    assert extra["saved_with"] == {"sklearn": "1.2.2"}
    assert extra["installed"]["sklearn"] == sklearn.__version__
    assert "1.2.2" in caplog.text
    assert a.predict(rows_batch(churn[1]))["predictions"].tolist() == churn[0].predict(churn[1]).tolist()


# -- D56, D57: pins and TOCTOU ---------------------------------------------------------------------

def test_sha256_pin(tmp_path: Path, churn) -> None:
    path = save(churn[0], tmp_path / "c.joblib", "joblib")
    pin = sha256_of(path)
    assert adapter_for(path, sha256=pin).model is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    a = PickleAdapter(spec("pickle", path=path, sha256=pin))
    with pytest.raises(ArtifactError) as ei:
        a.load()
    assert ei.value.code == "hash_mismatch" and pin in str(ei.value)
    assert a.model is None


def test_file_swapped_after_hashing_is_not_what_loads(tmp_path: Path, churn, numeric_models,
                                                      monkeypatch) -> None:
    """D57: the swap lands right after the verified read; the model comes from the hashed bytes."""
    path = save(churn[0], tmp_path / "c.joblib", "joblib")
    marker = tmp_path / "pwned"
    real_read = pickle_file.read_verified

    def read_then_swap(*args: Any, **kw: Any) -> bytes:
        data = real_read(*args, **kw)
        path.write_bytes(call_pickle("os", "system", touch_command(marker)))
        return data

    monkeypatch.setattr(pickle_file, "read_verified", read_then_swap)
    a = adapter_for(path, sha256=sha256_of(path))
    assert a.metadata().extra["estimator"] == "sklearn.pipeline.Pipeline"
    assert a.predict(rows_batch(churn[1]))["predictions"].tolist() == churn[0].predict(churn[1]).tolist()
    assert not marker.exists() and path.read_bytes().startswith(b"\x80\x04")


# -- D58, D62, D64, D65, D71: refusals -------------------------------------------------------------

def test_malicious_pickle_refused_and_never_runs(tmp_path: Path, caplog) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(call_pickle("os", "system", touch_command(marker)))
    a = PickleAdapter(spec("pickle", path=path))
    with caplog.at_level(logging.ERROR, logger="veneer.adapters.pickle_file"), \
            pytest.raises(UnsafePickleError) as ei:
        a.load()
    assert ei.value.code == "unsafe_pickle" and "'os.system'" in str(ei.value)
    assert not marker.exists() and a.model is None
    assert "os.system" in caplog.text


def test_malicious_compressed_joblib_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (touch_command(marker),)

    path = tmp_path / "model.joblib"
    joblib.dump({"model": Evil()}, path, compress=3)
    with pytest.raises(UnsafePickleError):
        PickleAdapter(spec("pickle", path=path)).load()
    assert not marker.exists()


def test_scanner_disagreement_logged_allowlist_wins(tmp_path: Path, caplog) -> None:
    pytest.importorskip("picklescan", reason="picklescan is not installed")
    path = tmp_path / "model.pkl"
    path.write_bytes(call_pickle("numpy.testing", "rundocs", "x"))
    with caplog.at_level(logging.INFO, logger="veneer.adapters.pickle_file"), pytest.raises(UnsafePickleError):
        PickleAdapter(spec("pickle", path=path)).load()
    assert "picklescan said clean" in caplog.text and "refused numpy.testing.rundocs" in caplog.text


def test_corrupt_and_truncated_files(tmp_path: Path, churn) -> None:
    path = save(churn[0], tmp_path / "c.pkl", "pickle5")
    path.write_bytes(path.read_bytes()[:-40])
    a = PickleAdapter(spec("pickle", path=path))
    with pytest.raises(ArtifactError) as ei:
        a.load()
    assert ei.value.code == "corrupt" and a.model is None


def test_zip_named_pkl_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    with zipfile.ZipFile(path, "w") as z:  # the layout of a torch.save checkpoint
        z.writestr("archive/data.pkl", call_pickle("os", "system", "id"))
        z.writestr("archive/version", "3\n")
    with pytest.raises(ArtifactError) as ei:
        PickleAdapter(spec("pickle", path=path)).load()
    assert ei.value.code == "unsupported_format" and "ZIP" in str(ei.value)


def test_joblib_named_file_holding_plain_pickle_loads(tmp_path: Path, numeric_models) -> None:
    models, X = numeric_models
    a = adapter_for(save(models["logreg"], tmp_path / "m.joblib", "pickle5"))
    np.testing.assert_array_equal(a.predict(Batch(rows=X.tolist()))["predictions"], models["logreg"].predict(X))


@pytest.mark.parametrize("name", ["model.skops", "model.pt", "model.onnx"])
def test_foreign_extension_never_falls_back_to_pickle(tmp_path: Path, numeric_models, name: str) -> None:
    path = save(numeric_models[0]["logreg"], tmp_path / name, "pickle5")  # a valid pickle, mislabelled
    with pytest.raises(ArtifactError) as ei:
        PickleAdapter(spec("pickle", path=path)).load()
    assert ei.value.code == "unsupported_format"


def test_not_a_predictor(tmp_path: Path) -> None:
    path = tmp_path / "d.pkl"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(ArtifactError) as ei:
        PickleAdapter(spec("pickle", path=path)).load()
    assert ei.value.code == "invalid_artifact" and "dict" in str(ei.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as ei:
        PickleAdapter(spec("pickle", path=tmp_path / "nope.pkl")).load()
    assert ei.value.code == "not_found"


# -- user code: allow_modules and trusted ----------------------------------------------------------

def test_custom_predictor_needs_allow_modules(tmp_path: Path, monkeypatch) -> None:
    mylib = install_user_module(tmp_path, monkeypatch)
    path = tmp_path / "thing.pkl"
    path.write_bytes(pickle.dumps(mylib.Thing(3)))
    with pytest.raises(UnsafePickleError) as ei:
        PickleAdapter(spec("pickle", path=path)).load()
    assert "veneer_test_mylib.Thing" in str(ei.value) and "allow_modules" in str(ei.value)
    a = adapter_for(path, allow_modules=("veneer_test_mylib",))
    assert a.predict(Batch(rows=[[1, 2], [3, 4]]))["predictions"] == [9.0, 21.0]
    assert a.metadata().platform == "python_pickle"


def test_plain_callable(tmp_path: Path, monkeypatch) -> None:
    mylib = install_user_module(tmp_path, monkeypatch)
    path = tmp_path / "fn.pkl"
    path.write_bytes(pickle.dumps(mylib.total))
    a = adapter_for(path, allow_modules=("veneer_test_mylib:total",))
    assert a.predict(Batch(rows=[[1, 2], [3, 4]])).tolist() == [3.0, 7.0]


def test_trusted_loads_without_allowlist_and_says_so(tmp_path: Path, monkeypatch, caplog) -> None:
    mylib = install_user_module(tmp_path, monkeypatch)
    path = tmp_path / "thing.joblib"
    joblib.dump(mylib.Thing(2), path, compress=3)
    with caplog.at_level(logging.WARNING):
        a = adapter_for(path, trusted=True)
    assert a.metadata().extra["loader"] == "trusted"
    assert "trusted" in caplog.text
    assert a.predict(Batch(rows=[[1, 1]]))["predictions"] == [4.0]


def test_options_schema_is_valid_json_schema() -> None:
    import jsonschema

    schema = PickleAdapter.options_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    assert v.is_valid({"outputs": ["predict", "predict_proba"], "input": "frame", "scan": "off"})
    assert not v.is_valid({"outputs": ["eval"]}) and not v.is_valid({"method": "x"})
    assert PickleAdapter.fork_safe is True


def test_importing_the_adapter_stays_light() -> None:
    """sklearn, pandas, scipy and joblib are imported by load(), never by importing the adapter."""
    import subprocess
    import sys

    code = ("import sys, veneer.adapters.pickle_file, veneer.adapters._safe_unpickle; "
            "print(sorted(m for m in ('sklearn', 'pandas', 'scipy', 'joblib', 'picklescan') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
