"""Train the customer lifetime-value regressor that ``platform_model/model.py`` serves.

A ``GradientBoostingRegressor`` on synthetic subscription customers, fitted on a DataFrame
so ``feature_names_in_`` holds the column names, pickled with joblib.

Inputs (in this order):
    tenure_months     int64    months as a customer, 0..72
    monthly_charges   float64  dollars per month
    num_products      int64    subscribed products, 1..6
    support_calls     int64    calls to support in the last 90 days
    age               int64    customer age, years
Target: ``ltv`` (float64), expected lifetime value in dollars.

Outputs (build folder): ltv_model.joblib, ltv_sample.csv (20 input rows).
Run alone: ``python platform_model/train.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor

SEED = 2019
FEATURES = ["tenure_months", "monthly_charges", "num_products", "support_calls", "age"]
N_TRAIN, N_SAMPLE = 4000, 20


def make_customers(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` synthetic customers and their lifetime value in dollars."""
    tenure = rng.integers(0, 73, size=n)
    monthly = np.round(rng.uniform(18, 120, size=n), 2)
    products = np.clip(rng.poisson(1.8, size=n) + 1, 1, 6)
    calls = np.clip(rng.poisson(1.3, size=n), 0, 10)
    age = rng.integers(18, 86, size=n)
    # expected remaining months shrink with support calls, grow with products and tenure
    remaining = np.clip(24 + 0.5 * tenure + 6 * products - 4 * calls + 0.1 * (age - 40), 3, None)
    ltv = np.round(monthly * (tenure + remaining) * rng.lognormal(0, 0.12, size=n), 2)
    frame = pd.DataFrame({"tenure_months": tenure.astype(np.int64), "monthly_charges": monthly,
                          "num_products": products.astype(np.int64), "support_calls": calls.astype(np.int64),
                          "age": age.astype(np.int64)})
    return frame, ltv


def main(out_dir: Path) -> list[Path]:
    """Train the regressor and write ``ltv_model.joblib`` and ``ltv_sample.csv`` to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    X, y = make_customers(N_TRAIN + N_SAMPLE, np.random.default_rng(SEED))
    model = GradientBoostingRegressor(n_estimators=120, max_depth=3, random_state=SEED)
    model.fit(X.iloc[:N_TRAIN], y[:N_TRAIN])
    joblib.dump(model, out_dir / "ltv_model.joblib")
    X.iloc[N_TRAIN:].to_csv(out_dir / "ltv_sample.csv", index=False)
    return [out_dir / "ltv_model.joblib", out_dir / "ltv_sample.csv"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "build")
    for path in main(parser.parse_args().out):
        print(path)
