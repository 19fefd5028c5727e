"""Build the ONNX credit-risk models: a converted scikit-learn classifier and a two-input graph.

``credit_risk.onnx`` is a ``StandardScaler + LogisticRegression`` trained on synthetic loan
applications and converted with skl2onnx (``zipmap=False``, so the outputs are plain tensors).

    input   features       float32 [None, 6], columns in this order:
                0 age                  years, 21..75
                1 annual_income        thousands of dollars per year
                2 debt_to_income       ratio, 0..1
                3 credit_utilization   ratio of revolving credit used, 0..1
                4 num_late_payments    late payments in the last 24 months, 0..12
                5 years_employed       years with the current employer, 0..40
    outputs label          int64   [None]      1 = predicted default
            probabilities  float32 [None, 2]   P(no default), P(default)

The same names are written to ``credit_risk_features.json``.

``credit_risk_multi.onnx`` is a hand-written graph (onnx helper API) with two inputs and two
outputs, for adapters that must handle several named tensors:

    inputs  income      float32 [None, 1]  annual income, thousands of dollars
            history     float32 [None, 3]  num_late_payments, credit_utilization, years_of_credit_history
    outputs risk_score  float32 [None, 1]  sigmoid(w . x + b), probability of default
            label       int64   [None, 1]  1 when risk_score > 0.5

Also written: credit_risk_sample.csv (20 rows of the six features, header).
Run alone: ``python credit_risk/train.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 2018
FEATURES = ["age", "annual_income", "debt_to_income", "credit_utilization",
            "num_late_payments", "years_employed"]
N_TRAIN, N_SAMPLE = 4000, 20
OPSET = 17
# weights of the hand-written two-input model (documented so tests can recompute it)
MULTI_INCOME_WEIGHT = -0.02
MULTI_HISTORY_WEIGHTS = [0.55, 2.4, -0.09]
MULTI_BIAS = -0.6


def make_applications(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` synthetic loan applications (float32 columns) and their default labels."""
    age = rng.integers(21, 76, size=n).astype(np.float32)
    income = np.round(np.exp(rng.normal(np.log(58), 0.45, size=n)), 1).astype(np.float32)
    dti = np.clip(rng.beta(2.2, 5.5, size=n), 0, 1).astype(np.float32)
    util = np.clip(rng.beta(1.6, 3.0, size=n), 0, 1).astype(np.float32)
    late = np.clip(rng.poisson(0.3 + 2.5 * util), 0, 12).astype(np.float32)
    employed = np.clip(rng.gamma(2.0, 3.0, size=n), 0, np.maximum(age - 18, 0)).round(1).astype(np.float32)
    logit = (-3.0 - 0.012 * (age - 40) - 0.015 * (income - 58) + 3.2 * dti + 1.8 * util
             + 0.45 * late - 0.05 * employed)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    frame = pd.DataFrame(dict(zip(FEATURES, [age, income, dti, util, late, employed])))
    return frame, y


def build_sklearn_onnx(X: pd.DataFrame, y: np.ndarray):
    """Fit the scaler + logistic regression and convert it to an ONNX ModelProto."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(C=0.5, max_iter=1000))])
    pipe.fit(X.to_numpy(np.float32), y)  # trained on the bare array: the ONNX input is one tensor
    onx = convert_sklearn(
        pipe, name="credit_risk", initial_types=[("features", FloatTensorType([None, len(FEATURES)]))],
        options={id(pipe.named_steps["model"]): {"zipmap": False}},
        target_opset={"": OPSET, "ai.onnx.ml": 3})
    onx.doc_string = "Credit risk (synthetic data). features = " + ", ".join(FEATURES)
    return onx


def build_multi_input_onnx():
    """A two-input, two-output logistic score written with the onnx helper API."""
    from onnx import TensorProto, checker, helper, numpy_helper

    w_income = numpy_helper.from_array(np.array([[MULTI_INCOME_WEIGHT]], np.float32), "w_income")
    w_history = numpy_helper.from_array(np.array(MULTI_HISTORY_WEIGHTS, np.float32).reshape(3, 1),
                                        "w_history")
    bias = numpy_helper.from_array(np.array([MULTI_BIAS], np.float32), "bias")
    half = numpy_helper.from_array(np.array([0.5], np.float32), "half")
    nodes = [
        helper.make_node("MatMul", ["income", "w_income"], ["z_income"]),
        helper.make_node("MatMul", ["history", "w_history"], ["z_history"]),
        helper.make_node("Add", ["z_income", "z_history"], ["z_sum"]),
        helper.make_node("Add", ["z_sum", "bias"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["risk_score"]),
        helper.make_node("Greater", ["risk_score", "half"], ["is_risky"]),
        helper.make_node("Cast", ["is_risky"], ["label"], to=TensorProto.INT64),
    ]
    graph = helper.make_graph(
        nodes, "credit_risk_multi",
        inputs=[helper.make_tensor_value_info("income", TensorProto.FLOAT, [None, 1]),
                helper.make_tensor_value_info("history", TensorProto.FLOAT, [None, 3])],
        outputs=[helper.make_tensor_value_info("risk_score", TensorProto.FLOAT, [None, 1]),
                 helper.make_tensor_value_info("label", TensorProto.INT64, [None, 1])],
        initializer=[w_income, w_history, bias, half])
    model = helper.make_model(graph, producer_name="veneer-examples",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # the IR that opset 17 shipped with: loads in old and new onnxruntime
    model.doc_string = ("Two-input credit score. income: [None,1] thousands of dollars; history: [None,3] "
                        "num_late_payments, credit_utilization, years_of_credit_history.")
    checker.check_model(model)
    return model


def main(out_dir: Path) -> list[Path]:
    """Write both ONNX models, the feature list and a sample CSV to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    X, y = make_applications(N_TRAIN + N_SAMPLE, np.random.default_rng(SEED))
    onx = build_sklearn_onnx(X.iloc[:N_TRAIN], y[:N_TRAIN])
    paths = {name: out_dir / name for name in
             ("credit_risk.onnx", "credit_risk_multi.onnx", "credit_risk_features.json", "credit_risk_sample.csv")}
    paths["credit_risk.onnx"].write_bytes(onx.SerializeToString())
    paths["credit_risk_multi.onnx"].write_bytes(build_multi_input_onnx().SerializeToString())
    paths["credit_risk_features.json"].write_text(json.dumps(
        {"input": "features", "dtype": "float32", "shape": [None, len(FEATURES)], "features": FEATURES,
         "outputs": {"label": "int64 [None], 1 = default", "probabilities": "float32 [None, 2]"}},
        indent=2) + "\n")
    X.iloc[N_TRAIN:].to_csv(paths["credit_risk_sample.csv"], index=False)
    return list(paths.values())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "build")
    for path in main(parser.parse_args().out):
        print(path)
