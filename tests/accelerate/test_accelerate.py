"""ONNX acceleration in one process: conversion, identical answers, shadow -> promoted, demotion, fallback.

Real scikit-learn pickles from the examples, real skl2onnx and ONNX Runtime. The
one fake is the "wrong conversion": ONNX's output is perturbed by a monkeypatch,
because no shipped converter is wrong on these models.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import joblib
import numpy as np
import pandas as pd
import pytest

from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import InvalidInput

from .conftest import FOREST_COLUMNS, loaded, make_spec

CASES = [  # file, held-back sample, label column, outputs
    ("churn_2017.joblib", "churn_holdout.csv", "churned", ["predict", "predict_proba"]),
    ("forest_100.joblib", "forest_holdout.csv", "defaulted", ["predict", "predict_proba"]),
    ("gbm.joblib", "forest_holdout.csv", "defaulted", ["predict", "predict_proba"]),
]


def rows_batch(df: pd.DataFrame) -> Batch:
    """A batch as the JSON records codec builds it (numeric matrix, or rows of values)."""
    if all(k in "fi" for k in df.dtypes.map(lambda d: d.kind)):
        return Batch(columns=list(df.columns), rows=df.to_numpy(dtype=np.float64))
    return Batch(columns=list(df.columns), rows=df.values.tolist())


@pytest.mark.parametrize("name,sample,label,outputs", CASES, ids=[c[0].split(".")[0] for c in CASES])
def test_promoted_onnx_answers_like_sklearn_on_held_back_rows(build, name, sample, label, outputs):
    df = pd.read_csv(build / sample).drop(columns=[label])
    train, held = df.iloc[:200], df.iloc[200:]
    adapter = loaded(make_spec(build / name, outputs=outputs, promote_after_rows=200, audit_every=0))
    assert adapter.check_report()["converted"] is True
    adapter.predict(rows_batch(train))  # 200 agreeing rows in shadow, answered by sklearn
    assert adapter.engine() == "sklearn"
    assert adapter.check_report()["state"] == "promoted"

    got = adapter.predict(rows_batch(held))
    assert adapter.engine() == "onnx"
    reference = joblib.load(build / name)
    np.testing.assert_array_equal(got["predictions"], reference.predict(held))
    want = reference.predict_proba(held)
    assert got["probabilities"].dtype == np.float64 and got["probabilities"].shape == want.shape
    assert np.max(np.abs(got["probabilities"] - want)) <= 1e-6
    one = adapter.predict(Batch.from_frame(held.head(1)))  # the DataFrame path, one row
    assert adapter.engine() == "onnx"
    np.testing.assert_array_equal(one["predictions"], reference.predict(held.head(1)))


def test_shadow_counts_rows_until_the_threshold(build):
    df = pd.read_csv(build / "forest_holdout.csv")[FOREST_COLUMNS]
    adapter = loaded(make_spec(build / "gbm.joblib", promote_after_rows=25))
    adapter.predict(rows_batch(df.head(10)))
    report = adapter.check_report()
    assert (report["state"], report["rows_agreed"], report["engine"]) == ("shadow", 10, "sklearn")
    adapter.predict(rows_batch(df.iloc[10:24]))
    assert adapter.check_report()["state"] == "shadow"
    adapter.predict(rows_batch(df.iloc[24:26]))
    report = adapter.check_report()
    assert report["state"] == "promoted" and report["rows_agreed"] == 26 and report["disagreements"] == 0
    meta = adapter.metadata()
    assert meta.extra["acceleration"]["engine"] == "onnx"  # served metadata says which engine answers


def test_promotion_is_shared_with_a_worker_started_later(build, state_dir):
    df = pd.read_csv(build / "forest_holdout.csv")[FOREST_COLUMNS]
    spec = make_spec(build / "gbm.joblib", promote_after_rows=50)
    first = loaded(spec)
    first.predict(rows_batch(df.head(60)))
    assert first.check_report()["state"] == "promoted"
    files = list((state_dir / "accelerate").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["state"] == "promoted"

    later = loaded(spec)  # a fresh adapter reads the shared file on its first request
    later.predict(rows_batch(df.head(1)))
    assert later.engine() == "onnx"
    assert later.check_report()["rows_agreed"] >= 50


def test_counts_from_several_workers_add_up(build):
    df = pd.read_csv(build / "forest_holdout.csv")[FOREST_COLUMNS]
    spec = make_spec(build / "gbm.joblib", promote_after_rows=50)
    a, b = loaded(spec), loaded(spec)
    a.predict(rows_batch(df.head(30)))
    a._proc.shadow.flush()  # what the sync thread does every refresh_seconds
    b.predict(rows_batch(df.iloc[30:55]))  # 30 + 25 >= 50: b promotes for both
    assert b.check_report()["state"] == "promoted"
    a._proc.shadow.flush()
    a.predict(rows_batch(df.head(1)))
    assert a.engine() == "onnx"


def test_probe_file_promotes_at_load_and_measures_the_speedup(build):
    adapter = loaded(make_spec(build / "forest_100.joblib", outputs=["predict", "predict_proba"],
                               probe=build / "forest_sample.csv"))
    adapter.predict(Batch.from_frame(pd.read_csv(build / "forest_sample.csv").head(1)))
    assert adapter.engine() == "onnx"  # probe checked when the process first predicted
    report = adapter.check_report()
    assert report["probe_checked"] is True and report["reason"].startswith("probe file: 100 rows")
    one = report["speedup"]["one_row"]
    assert one["sklearn_ms"] > one["onnx_ms"] > 0 and one["speedup"] > 1


@contextmanager
def perturbed(delta: float = 1e-3):
    """Make the ONNX session answer slightly differently (the injected wrong conversion)."""
    from veneer.adapters.accelerate.runner import Runner

    real = Runner.run

    def wrong(self, feeds):
        out = real(self, feeds)
        out["predict_proba"] = out["predict_proba"] + delta
        return out
    with pytest.MonkeyPatch.context() as mp:  # its own undo: the state dir env stays set
        mp.setattr(Runner, "run", wrong)
        yield


def test_disagreement_in_shadow_demotes_for_every_worker(build, caplog, state_dir):
    from prometheus_client import REGISTRY

    df = pd.read_csv(build / "forest_holdout.csv")[FOREST_COLUMNS]
    spec = make_spec(build / "gbm.joblib", outputs=["predict", "predict_proba"], promote_after_rows=20)
    adapter = loaded(spec)
    before = REGISTRY.get_sample_value("veneer_acceleration_disagreements_total",
                                       {"model": "t/m", "version": "1"}) or 0
    with perturbed():
        result = adapter.predict(rows_batch(df.head(30)))
    want = joblib.load(build / "gbm.joblib").predict_proba(df.head(30))
    np.testing.assert_array_equal(result["probabilities"], want)  # the client got sklearn's answer
    report = adapter.check_report()
    assert report["state"] == "demoted" and report["disagreements"] == 1
    assert report["first_difference"]["row"] == 0 and report["first_difference"]["output"] == "predict_proba"
    assert "row 0 differs in predict_proba" in caplog.text and "credit_score" in caplog.text
    assert REGISTRY.get_sample_value("veneer_acceleration_disagreements_total",
                                     {"model": "t/m", "version": "1"}) == before + 1
    adapter.predict(rows_batch(df.head(30)))  # agreeing rows no longer count: demotion is final
    assert adapter.check_report()["state"] == "demoted" and adapter.engine() == "sklearn"
    later = loaded(spec)
    later.predict(rows_batch(df.head(30)))
    assert later.engine() == "sklearn" and later.check_report()["state"] == "demoted"


def test_audit_after_promotion_demotes_and_answers_from_sklearn(build):
    df = pd.read_csv(build / "forest_holdout.csv")[FOREST_COLUMNS]
    adapter = loaded(make_spec(build / "gbm.joblib", outputs=["predict", "predict_proba"],
                               promote_after_rows=20, audit_every=2))
    adapter.predict(rows_batch(df.head(20)))
    adapter.predict(rows_batch(df.head(5)))
    assert adapter.engine() == "onnx"
    with perturbed():
        got = adapter.predict(rows_batch(df.head(5)))  # second promoted request: audited
    assert adapter.engine() == "sklearn"
    want = joblib.load(build / "gbm.joblib").predict_proba(df.head(5))
    np.testing.assert_array_equal(got["probabilities"], want)
    assert adapter.check_report()["state"] == "demoted"
    assert "audit after promotion" in adapter.check_report()["reason"]


def test_rows_onnx_cannot_take_go_to_sklearn_even_when_promoted(build):
    df = pd.read_csv(build / "forest_holdout.csv")[FOREST_COLUMNS]
    adapter = loaded(make_spec(build / "forest_100.joblib", promote_after_rows=10, audit_every=0))
    adapter.predict(rows_batch(df.head(10)))
    with_nan = df.head(2).copy()
    with_nan.iloc[0, 0] = np.nan
    got = adapter.predict(rows_batch(with_nan))  # the forest takes NaN; ONNX is never asked
    assert adapter.engine() == "sklearn"
    np.testing.assert_array_equal(got["predictions"], joblib.load(build / "forest_100.joblib").predict(with_nan))
    with pytest.raises(InvalidInput, match="income"):
        adapter.predict(rows_batch(df.head(1).drop(columns=["income"])))
    assert adapter.check_report()["state"] == "promoted"


def test_custom_transformer_falls_back_with_the_reason(build, tmp_path):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from .custom_steps import Doubler

    df = pd.read_csv(build / "forest_holdout.csv")
    X, y = df[FOREST_COLUMNS], df["defaulted"]
    model = Pipeline([("double", Doubler()), ("forest", RandomForestClassifier(n_estimators=5, random_state=0))])
    model.fit(X, y)
    joblib.dump(model, tmp_path / "custom.joblib")
    adapter = loaded(make_spec(tmp_path / "custom.joblib"))
    report = adapter.check_report()
    assert report["converted"] is False and report["reason_code"] == "unsupported_transformer"
    assert "custom class tests.accelerate.custom_steps.Doubler" in report["reason"]
    got = adapter.predict(rows_batch(X.head(50)))
    assert adapter.engine() is None  # the X-Veneer-Engine header names the platform, as without accelerate
    assert adapter.metadata().platform == "sklearn"
    np.testing.assert_array_equal(got["predictions"], model.predict(X.head(50)))
    assert adapter.metadata().extra["acceleration"]["state"] == "not_converted"


def test_adapters_without_sklearn_models_are_not_wrapped(tmp_path):
    """A server-wide `accelerate: onnx` leaves onnx/http/python versions exactly as they were."""
    from veneer.adapters.onnx import OnnxAdapter
    from veneer.sidecar.model_store import build_adapter
    from veneer.wrapper.settings import VersionSpec

    spec = VersionSpec(version="1", adapter="onnx", path=tmp_path / "m.onnx", model="m", prefix="t",
                       accelerate="onnx")
    assert type(build_adapter(spec)) is OnnxAdapter


def test_unsupported_output_method_falls_back(build):
    adapter = loaded(make_spec(build / "forest_100.joblib", outputs=["predict", "predict_log_proba"]))
    report = adapter.check_report()
    assert report["converted"] is False and "predict_log_proba" in report["reason"]


def test_compare_labels_exactly_and_numbers_within_tolerance():
    from veneer.adapters.accelerate.shadow import compare

    sk = {"predict": np.array([0, 1, 1]), "predict_proba": np.array([[0.9, 0.1], [0.3, 0.7], [0.001, 0.999]])}
    same = {"predict": np.array([0, 1, 1]),
            "predict_proba": sk["predict_proba"] + np.array([[5e-7, -5e-7], [0, 0], [9e-7, 0]])}
    assert compare(sk, same, 1e-6) is None
    label = compare(sk, {**same, "predict": np.array([0, 1, 0])}, 1e-6)
    assert (label.row, label.output, label.sklearn, label.onnx) == (2, "predict", 1, 0)
    far = compare(sk, {**same, "predict_proba": sk["predict_proba"] + 2e-6}, 1e-6)
    assert (far.row, far.output) == (0, "predict_proba")
    big = {"predict": np.array([1.0e6])}
    assert compare(big, {"predict": np.array([1.0e6 + 0.5])}, 1e-6) is None  # relative for large values
    assert compare(big, {"predict": np.array([1.0e6 + 2.0])}, 1e-6) is not None
    assert compare({"predict": np.array(["a", "b"], dtype=object)},
                   {"predict": np.array(["a", "c"], dtype=object)}, 1e-6).row == 1


def test_mlflow_sklearn_flavor_is_accelerated(build):
    """The example MLflow model (sklearn flavor, a pipeline with a text column) through the mlflow adapter."""
    from veneer.sidecar.model_store import build_adapter
    from veneer.wrapper.settings import VersionSpec

    if not (build / "mlflow_fraud" / "MLmodel").exists() or not (build / "fraud_holdout.csv").exists():
        pytest.skip("example MLflow model not built")
    spec = VersionSpec(version="1", adapter="mlflow", path=build / "mlflow_fraud", model="fraud", prefix="t",
                       accelerate="onnx", options={"accelerate": {"promote_after_rows": 100, "audit_every": 0}})
    adapter = build_adapter(spec)
    adapter.load()
    held = pd.read_csv(build / "fraud_holdout.csv").drop(columns=["is_fraud"])
    adapter.predict(Batch.from_frame(held.head(100)))
    assert adapter.engine() == "sklearn" and adapter.check_report()["state"] == "promoted"
    assert adapter.check_report()["string_inputs"] == ["merchant_category"]
    got = adapter.predict(Batch.from_frame(held.iloc[100:]))
    assert adapter.engine() == "onnx"
    want = adapter.inner.predict(Batch.from_frame(held.iloc[100:]))
    np.testing.assert_array_equal(got, np.asarray(want))
    assert got.sum() > 0  # the held-back sample has frauds: labels are not all one class


def test_unseen_category_keeps_sklearns_refusal_after_promotion(build, tmp_path):
    """OneHotEncoder(handle_unknown="error") refuses a new value; ONNX would answer zeros, so it never sees it."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = pd.read_csv(build / "churn_holdout.csv")
    X, y = df.drop(columns=["churned"]), df["churned"]
    strict = Pipeline([("pre", ColumnTransformer([
        ("num", StandardScaler(), ["tenure_months", "monthly_charges", "total_charges", "support_calls"]),
        ("cat", OneHotEncoder(handle_unknown="error"), ["contract", "payment_method", "internet_service"])])),
        ("clf", LogisticRegression(max_iter=1000))]).fit(X, y)
    joblib.dump(strict, tmp_path / "strict.joblib")
    adapter = loaded(make_spec(tmp_path / "strict.joblib", promote_after_rows=50, audit_every=0))
    adapter.predict(rows_batch(X.head(50)))
    adapter.predict(rows_batch(X.iloc[50:60]))
    assert adapter.engine() == "onnx"
    odd = X.head(2).copy()
    odd.iloc[1, odd.columns.get_loc("contract")] = "lifetime"
    with pytest.raises(InvalidInput, match="lifetime|unknown categor"):
        adapter.predict(rows_batch(odd))
    assert adapter.engine() == "sklearn" and adapter.check_report()["state"] == "promoted"


@pytest.mark.parametrize("kind", ["gbm", "ridge"])
def test_regression_outputs_agree_within_the_relative_tolerance(build, tmp_path, kind):
    """Regressors: float32 trees agree to ~1e-7 of the value, a double-precision linear pipeline to ~1e-15."""
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = pd.read_csv(build / "forest_holdout.csv")
    X, y = df[[c for c in FOREST_COLUMNS if c != "income"]], df["income"] * 1000  # dollars, ~1e4..1e5
    model = (GradientBoostingRegressor(n_estimators=30, random_state=0) if kind == "gbm"
             else make_pipeline(StandardScaler(), Ridge()))
    joblib.dump(model.fit(X, y), tmp_path / "reg.joblib")
    adapter = loaded(make_spec(tmp_path / "reg.joblib", promote_after_rows=200, audit_every=0))
    adapter.predict(Batch.from_frame(X.head(200)))
    got = adapter.predict(Batch.from_frame(X.iloc[200:]))["predictions"]
    assert adapter.engine() == "onnx"
    want = model.predict(X.iloc[200:])
    assert got.shape == want.shape and got.dtype == np.float64
    assert np.all(np.abs(got - want) <= 1e-6 * np.maximum(np.abs(want), 1.0))
    assert adapter.check_report()["numeric_inputs"] == ("float32" if kind == "gbm" else "float64")
