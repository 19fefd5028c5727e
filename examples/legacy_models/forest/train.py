"""Train the loan-default forest (100 trees) and a gradient-boosting model for the acceleration work.

Both are fitted on a pandas DataFrame of named float64 columns (numeric only), so
``feature_names_in_`` holds the names and a converter can read the input types from the model.

Inputs (float64, in this order):
    age                 years
    income              thousands of dollars per year
    loan_amount         thousands of dollars
    loan_term_months    12..84
    credit_score        300..850
    debt_to_income      ratio, 0..1
    num_open_accounts   0..25
    num_delinquencies   0..10
Label: ``defaulted`` (int64, 1 = defaulted).

Outputs (build folder): forest_100.joblib (RandomForestClassifier, 100 trees),
gbm.joblib (GradientBoostingClassifier, 100 stages), forest_sample.csv (100 input rows; the
bench takes 1 or 100 of them), forest_holdout.csv (1,000 rows, ``defaulted`` last).
Run alone: ``python forest/train.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

SEED = 2016
FEATURES = ["age", "income", "loan_amount", "loan_term_months", "credit_score",
            "debt_to_income", "num_open_accounts", "num_delinquencies"]
LABEL = "defaulted"
N_TRAIN, N_HOLDOUT, N_SAMPLE = 5000, 1000, 100


def make_loans(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` synthetic loans (all features float64) with a default label."""
    age = rng.integers(21, 76, size=n).astype(np.float64)
    income = np.round(np.exp(rng.normal(np.log(60), 0.5, size=n)), 1)
    loan = np.round(np.clip(income * rng.uniform(0.1, 0.9, size=n), 1, None), 1)
    term = rng.choice([12.0, 24.0, 36.0, 48.0, 60.0, 72.0, 84.0], size=n)
    score = np.clip(np.round(rng.normal(680, 70, size=n)), 300, 850)
    dti = np.round(np.clip(rng.beta(2.2, 5.0, size=n), 0, 1), 3)
    accounts = np.clip(rng.poisson(6, size=n), 0, 25).astype(np.float64)
    delinquencies = np.clip(rng.poisson(np.clip((720 - score) / 80, 0.05, None)), 0, 10).astype(np.float64)
    logit = (-1.7 - 0.012 * (score - 680) + 2.5 * (dti - 0.3) + 0.35 * delinquencies
             + 0.9 * (loan / income - 0.5) + 0.008 * (term - 36) - 0.01 * (age - 40)
             + 0.6 * (accounts > 12))
    defaulted = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    frame = pd.DataFrame(dict(zip(FEATURES, [age, income, loan, term, score, dti, accounts, delinquencies])))
    frame[LABEL] = defaulted
    return frame


def main(out_dir: Path) -> list[Path]:
    """Train both models and write them, with the sample and holdout CSVs, to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = make_loans(N_TRAIN + N_HOLDOUT, np.random.default_rng(SEED))
    train, holdout = data.iloc[:N_TRAIN], data.iloc[N_TRAIN:]
    X, y = train[FEATURES], train[LABEL]

    # n_jobs=1: the pickle must behave the same on any host, and one row must not pay for a pool
    forest = RandomForestClassifier(n_estimators=100, max_depth=12, min_samples_leaf=2,
                                    random_state=SEED, n_jobs=1).fit(X, y)
    gbm = GradientBoostingClassifier(n_estimators=100, max_depth=3, learning_rate=0.1,
                                     random_state=SEED).fit(X, y)
    joblib.dump(forest, out_dir / "forest_100.joblib")
    joblib.dump(gbm, out_dir / "gbm.joblib")
    holdout[FEATURES].head(N_SAMPLE).to_csv(out_dir / "forest_sample.csv", index=False)
    holdout[FEATURES + [LABEL]].to_csv(out_dir / "forest_holdout.csv", index=False)
    return [out_dir / n for n in ("forest_100.joblib", "gbm.joblib", "forest_sample.csv", "forest_holdout.csv")]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "build")
    for path in main(parser.parse_args().out):
        print(path)
