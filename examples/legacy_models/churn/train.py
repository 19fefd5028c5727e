"""Train the legacy churn models: the 2017 pipeline (v1), its 2019 retrain (v2) and a 2021 draft (v3).

Each is a scikit-learn ``Pipeline(ColumnTransformer(...), classifier)`` fitted on a pandas
DataFrame (so ``feature_names_in_`` holds the column names) and pickled with joblib, the way
the analytics team shipped them. The data is synthetic but shaped like a telco customer table.

Inputs (one row per customer, in this order):
    tenure_months     int64    months as a customer, 0..72
    monthly_charges   float64  dollars per month, 18..120
    total_charges     float64  dollars billed so far (about tenure * monthly)
    support_calls     int64    calls to support in the last 90 days, 0..10
    contract          str      "Month-to-month" | "One year" | "Two year"
    payment_method    str      "Electronic check" | "Mailed check" | "Bank transfer" | "Credit card"
    internet_service  str      "DSL" | "Fiber optic" | "No"
Label: ``churned`` (int64, 1 = left within the quarter).

Outputs (build folder): churn_2017.joblib, churn_2019.joblib, churn_2021.joblib,
churn_sample.csv (20 input rows), churn_holdout.csv (500 rows, ``churned`` last).

Run alone: ``python churn/train.py [--out DIR]`` (default: ../build next to this folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

SEED = 2017
NUMERIC = ["tenure_months", "monthly_charges", "total_charges", "support_calls"]
CATEGORICAL = ["contract", "payment_method", "internet_service"]
FEATURES = NUMERIC + CATEGORICAL
LABEL = "churned"
N_TRAIN, N_HOLDOUT, N_SAMPLE = 6000, 500, 20

CONTRACTS = ["Month-to-month", "One year", "Two year"]
PAYMENTS = ["Electronic check", "Mailed check", "Bank transfer", "Credit card"]
INTERNET = ["DSL", "Fiber optic", "No"]


def make_customers(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` synthetic customers with a churn label drawn from a known logistic rule."""
    contract = rng.choice(CONTRACTS, size=n, p=[0.55, 0.25, 0.20])
    # long contracts go with long tenure, as in real telco books
    base_tenure = np.select([contract == "Two year", contract == "One year"], [48, 30], 10)
    tenure = np.clip(rng.poisson(base_tenure) + rng.integers(0, 12, size=n), 0, 72)
    internet = rng.choice(INTERNET, size=n, p=[0.35, 0.45, 0.20])
    base_charge = np.select([internet == "Fiber optic", internet == "DSL"], [85.0, 55.0], 22.0)
    monthly = np.clip(np.round(base_charge + rng.normal(0, 12, size=n), 2), 18.0, 120.0)
    total = np.round(np.maximum(tenure, 1) * monthly * rng.uniform(0.93, 1.02, size=n), 2)
    payment = rng.choice(PAYMENTS, size=n, p=[0.35, 0.20, 0.22, 0.23])
    calls = np.clip(rng.poisson(1.2 + 0.02 * monthly.clip(0, 100) / 10, size=n), 0, 10)

    logit = (-1.6 - 0.045 * tenure + 0.025 * (monthly - 60) + 0.45 * calls
             + np.select([contract == "Month-to-month", contract == "One year"], [1.3, 0.0], -1.2)
             + np.where(payment == "Electronic check", 0.6, 0.0)
             + np.where(internet == "Fiber optic", 0.5, 0.0))
    churned = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame({
        "tenure_months": tenure.astype(np.int64),
        "monthly_charges": monthly.astype(np.float64),
        "total_charges": total.astype(np.float64),
        "support_calls": calls.astype(np.int64),
        "contract": contract.astype(object),
        "payment_method": payment.astype(object),
        "internet_service": internet.astype(object),
        LABEL: churned,
    })


def _pipeline(classifier) -> Pipeline:
    pre = ColumnTransformer([
        ("num", StandardScaler(), NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
    ])
    return Pipeline([("preprocess", pre), ("model", classifier)])


def main(out_dir: Path) -> list[Path]:
    """Train the three churn versions and write them, with the sample and holdout CSVs, to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    data = make_customers(N_TRAIN + N_HOLDOUT, rng)
    train, holdout = data.iloc[:N_TRAIN], data.iloc[N_TRAIN:]
    X, y = train[FEATURES], train[LABEL]

    models = {
        # 2017: the original logistic regression
        "churn_2017.joblib": _pipeline(LogisticRegression(C=1.0, max_iter=1000)),
        # 2019: the retrain that moved to boosted trees
        "churn_2019.joblib": _pipeline(GradientBoostingClassifier(
            n_estimators=80, max_depth=3, learning_rate=0.1, random_state=SEED)),
        # 2021: a balanced-class, more regularised candidate (served as a draft)
        "churn_2021.joblib": _pipeline(LogisticRegression(C=0.1, class_weight="balanced", max_iter=1000)),
    }
    written = []
    for name, pipe in models.items():
        pipe.fit(X, y)
        joblib.dump(pipe, out_dir / name)
        written.append(out_dir / name)

    holdout[FEATURES].head(N_SAMPLE).to_csv(out_dir / "churn_sample.csv", index=False)
    holdout[FEATURES + [LABEL]].to_csv(out_dir / "churn_holdout.csv", index=False)
    written += [out_dir / "churn_sample.csv", out_dir / "churn_holdout.csv"]
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "build")
    for path in main(parser.parse_args().out):
        print(path)
