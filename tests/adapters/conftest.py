"""Small real model artifacts built in a temporary folder, once per test session.

Built here rather than taken from ``examples/legacy_models/build`` so the adapter
tests run on a fresh checkout and say exactly what each model computes.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from veneer.wrapper.settings import VersionSpec

#: y = X @ W + B for the linear ONNX model (checked by value in the tests)
LINEAR_W = np.array([[1.0], [2.0], [-1.0]], dtype=np.float32)
LINEAR_B = np.array([0.5], dtype=np.float32)


def spec(adapter: str, **kw: Any) -> VersionSpec:
    """A VersionSpec as the config loader would build it (model ``risk/test``, version 1)."""
    kw.setdefault("version", "1")
    return VersionSpec(adapter=adapter, model="test", prefix="risk", origin="veneer.yaml:1", **kw)


def sha256_of(path: Path) -> str:
    """The pin a config would carry for ``path``."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def linear_model(opset: int = 17) -> Any:
    """``y = x @ W + b`` with x FP32 [N, 3] → y FP32 [N, 1] (onnx.helper, no converter)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        initializer=[numpy_helper.from_array(LINEAR_W, "W"), numpy_helper.from_array(LINEAR_B, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="veneer-tests")
    model.ir_version = 8
    return model


def two_input_model() -> Any:
    """``total = sum(amount, axis=1) * cast(count)``: amount FP32 [N, 2], count INT64 [N, 1] → two outputs."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["amount", "axes"], ["s"], keepdims=1),
         helper.make_node("Cast", ["count"], ["c"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["s", "c"], ["total"]),
         helper.make_node("Greater", ["total", "zero"], ["positive"])],
        "two_inputs",
        [helper.make_tensor_value_info("amount", TensorProto.FLOAT, [None, 2]),
         helper.make_tensor_value_info("count", TensorProto.INT64, [None, 1])],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, [None, 1]),
         helper.make_tensor_value_info("positive", TensorProto.BOOL, [None, 1])],
        initializer=[helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
                     helper.make_tensor("axes", TensorProto.INT64, [1], [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


@pytest.fixture(scope="session")
def linear_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The linear model saved as ``linear.onnx``."""
    import onnx

    path = tmp_path_factory.mktemp("onnx-linear") / "linear.onnx"
    onnx.save_model(linear_model(), str(path))
    return path


@pytest.fixture(scope="session")
def two_input_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two-input model saved as ``two.onnx``."""
    import onnx

    path = tmp_path_factory.mktemp("onnx-two") / "two.onnx"
    onnx.save_model(two_input_model(), str(path))
    return path


@pytest.fixture(scope="session")
def iris_like() -> tuple[np.ndarray, np.ndarray, Any]:
    """A fitted 3-class scikit-learn LogisticRegression on 4 features, and its training data."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(0)
    X = rng.rand(90, 4)
    y = (X[:, 0] * 3).astype(int)  # classes 0, 1, 2 by the first feature
    return X, y, LogisticRegression(max_iter=500).fit(X, y)


@pytest.fixture(scope="session")
def sklearn_onnx(tmp_path_factory: pytest.TempPathFactory, iris_like: Any) -> Path:
    """The classifier converted by skl2onnx (label INT64 + ZipMap probabilities)."""
    from skl2onnx import to_onnx

    X, _, clf = iris_like
    path = tmp_path_factory.mktemp("onnx-sklearn") / "clf.onnx"
    path.write_bytes(to_onnx(clf, X[:1].astype(np.float32), target_opset=15).SerializeToString())
    return path


# -- MLflow ---------------------------------------------------------------------------------

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # tests talk to 127.0.0.1 only
FRAUD_COLUMNS = ["amount", "hour", "foreign"]
PIP = ["scikit-learn", "pandas"]  # given explicitly so MLflow does not spawn a process to infer them


@pytest.fixture(scope="session")
def fraud_model() -> tuple[Any, Any]:
    """A scikit-learn classifier on a named DataFrame (double, long, long) and its training frame."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(1)
    frame = pd.DataFrame({"amount": rng.rand(80) * 100, "hour": rng.randint(0, 24, 80).astype(np.int64),
                          "foreign": rng.randint(0, 2, 80).astype(np.int64)})
    y = ((frame.amount > 60) & (frame.foreign == 1)).astype(np.int64)
    return LogisticRegression(max_iter=500).fit(frame, y), frame


@pytest.fixture(scope="session")
def mlflow_sklearn_dir(tmp_path_factory: pytest.TempPathFactory, fraud_model: Any) -> Path:
    """``mlflow.sklearn.save_model`` of the fraud classifier, with an inferred signature."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    clf, frame = fraud_model
    path = tmp_path_factory.mktemp("mlflow-local") / "fraud"
    with warnings.catch_warnings():  # MLflow's hint about integer columns and missing values
        warnings.simplefilter("ignore", UserWarning)
        signature = infer_signature(frame, clf.predict(frame))
    mlflow.sklearn.save_model(clf, str(path), signature=signature, pip_requirements=PIP)
    return path


@pytest.fixture(scope="session")
def mlflow_registry(tmp_path_factory: pytest.TempPathFactory, fraud_model: Any) -> str:
    """A real MLflow tracking + registry in a SQLite file: model ``fraud`` v1 (alias champion), v2."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    clf, frame = fraud_model
    root = tmp_path_factory.mktemp("mlflow-registry")
    uri = f"sqlite:///{root / 'registry.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("veneer-tests", artifact_location=(root / "artifacts").as_uri())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        signature = infer_signature(frame, clf.predict(frame))
    # the fluent API reads the process-wide URI (the registry defaults to it); restored after
    with _use_tracking_uri(uri):
        for _ in range(2):
            with mlflow.start_run(experiment_id=experiment):
                mlflow.sklearn.log_model(clf, name="model", signature=signature, pip_requirements=PIP,
                                         registered_model_name="fraud")
    client.set_registered_model_alias("fraud", "champion", "1")
    return uri
