"""Save the fraud classifier as an MLflow model directory (``mlflow.sklearn.save_model``).

A ``ColumnTransformer + RandomForestClassifier`` pipeline trained on synthetic card
transactions. The MLflow signature is inferred from the named DataFrame, with an input example.

Inputs (MLflow signature, in this order):
    amount               double  transaction amount, dollars
    hour_of_day          long    0..23, local time
    distance_from_home   double  km between the card's home and the merchant
    txn_count_24h        long    transactions on the card in the previous 24 hours
    is_foreign           long    1 when the merchant is abroad, else 0
    merchant_category    string  "grocery" | "fuel" | "online" | "travel" | "electronics" | "restaurant"
Output: the predicted label (long, 1 = fraud), from ``predict``.
Label column in the holdout CSV: ``is_fraud``.

Outputs (build folder): mlflow_fraud/ (the model directory), fraud_sample.csv (20 input rows),
fraud_holdout.csv (500 rows, ``is_fraud`` last).

MLflow is kept offline and quiet: no tracking server, no telemetry, pip requirements given
explicitly (so MLflow does not spawn a process to infer them).
Run alone: ``python fraud_mlflow/train.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 2020
NUMERIC = ["amount", "hour_of_day", "distance_from_home", "txn_count_24h", "is_foreign"]
CATEGORICAL = ["merchant_category"]
FEATURES = NUMERIC + CATEGORICAL
LABEL = "is_fraud"
CATEGORIES = ["grocery", "fuel", "online", "travel", "electronics", "restaurant"]
N_TRAIN, N_HOLDOUT, N_SAMPLE = 5000, 500, 20


@contextlib.contextmanager
def _quiet_mlflow():
    """Silence MLflow's logger and warnings while saving, then restore them (build_all may run in pytest)."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def make_transactions(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` synthetic card transactions with a fraud label (about 8-10 % fraud)."""
    category = rng.choice(CATEGORIES, size=n, p=[0.28, 0.15, 0.22, 0.08, 0.10, 0.17])
    typical = {"grocery": 45, "fuel": 50, "online": 70, "travel": 350, "electronics": 250, "restaurant": 40}
    amount = np.round(np.array([typical[c] for c in category]) * rng.lognormal(0, 0.8, size=n), 2)
    hour = rng.choice(24, size=n, p=np.r_[np.full(6, 0.01), np.full(18, 0.94 / 18)]).astype(np.int64)
    foreign = (rng.uniform(size=n) < 0.06).astype(np.int64)
    distance = np.round(rng.exponential(12, size=n) + foreign * rng.exponential(900, size=n), 1)
    count = rng.poisson(2.5, size=n).astype(np.int64)
    logit = (-5.3 + 0.9 * np.log1p(amount / 100) + 1.4 * (hour < 6) + 1.6 * foreign
             + 0.35 * np.log1p(distance) + 0.25 * count
             + np.where(np.isin(category, ["online", "electronics"]), 0.9, 0.0))
    is_fraud = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame({"amount": amount, "hour_of_day": hour, "distance_from_home": distance,
                         "txn_count_24h": count, "is_foreign": foreign,
                         "merchant_category": category.astype(object), LABEL: is_fraud})


def main(out_dir: Path) -> list[Path]:
    """Train the classifier and save ``mlflow_fraud/`` plus the sample and holdout CSVs in ``out_dir``."""
    # set before mlflow is imported: telemetry must never leave the machine
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    out_dir.mkdir(parents=True, exist_ok=True)
    data = make_transactions(N_TRAIN + N_HOLDOUT, np.random.default_rng(SEED))
    train, holdout = data.iloc[:N_TRAIN], data.iloc[N_TRAIN:]
    pipe = Pipeline([
        ("preprocess", ColumnTransformer([
            ("num", StandardScaler(), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])),
        ("model", RandomForestClassifier(n_estimators=40, max_depth=8, class_weight="balanced_subsample",
                                         random_state=SEED, n_jobs=1)),
    ])
    pipe.fit(train[FEATURES], train[LABEL])

    example = train[FEATURES].head(3)
    model_dir = out_dir / "mlflow_fraud"
    if model_dir.exists():  # save_model refuses an existing directory
        shutil.rmtree(model_dir)
    with _quiet_mlflow():
        mlflow.sklearn.save_model(
            pipe, str(model_dir),
            signature=infer_signature(train[FEATURES], pipe.predict(train[FEATURES])),
            input_example=example,
            pip_requirements=["scikit-learn", "pandas", "numpy"],
            # cloudpickle (model.pkl) is what MLflow 1.x/2.x wrote, so this is the legacy layout;
            # MLflow 3 would default to skops, which refuses tree models without a trust list
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE)

    holdout[FEATURES].head(N_SAMPLE).to_csv(out_dir / "fraud_sample.csv", index=False)
    holdout[FEATURES + [LABEL]].to_csv(out_dir / "fraud_holdout.csv", index=False)
    return [model_dir, out_dir / "fraud_sample.csv", out_dir / "fraud_holdout.csv"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "build")
    for path in main(parser.parse_args().out):
        print(path)
