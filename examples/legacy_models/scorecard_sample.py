"""Write ``scorecard_sample.csv``: 20 synthetic applicants for the 2015 scorecard (``legacy_scoring.py``).

Columns: age (int), annual_income (dollars, int), debt_to_income (0..1), num_late_payments (int),
months_since_last_delinquency (int, empty when never delinquent), home_ownership (OWN | MORTGAGE | RENT).
Run alone: ``python scorecard_sample.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 2015
N_SAMPLE = 20


def make_applicants(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` applicants; about a third have a past delinquency."""
    late = np.clip(rng.poisson(0.7, size=n), 0, 8)
    delinquent = (late > 0) & (rng.uniform(size=n) < 0.8)
    since = np.where(delinquent, rng.integers(1, 84, size=n), -1)
    return pd.DataFrame({
        "age": rng.integers(19, 80, size=n),
        "annual_income": (np.round(np.exp(rng.normal(np.log(52000), 0.55, size=n)), -2)).astype(np.int64),
        "debt_to_income": np.round(rng.beta(2.2, 5.0, size=n), 3),
        "num_late_payments": late,
        "months_since_last_delinquency": pd.array(np.where(since < 0, None, since), dtype="Int64"),
        "home_ownership": rng.choice(["OWN", "MORTGAGE", "RENT"], size=n, p=[0.2, 0.4, 0.4]),
    })


def main(out_dir: Path) -> list[Path]:
    """Write the sample CSV to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    make_applicants(N_SAMPLE, np.random.default_rng(SEED)).to_csv(out_dir / "scorecard_sample.csv", index=False)
    return [out_dir / "scorecard_sample.csv"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "build")
    for path in main(parser.parse_args().out):
        print(path)
