# -*- coding: utf-8 -*-
"""
Retail credit scorecard -- risk analytics, v1 (March 2015).

Points-based scorecard calibrated on the 2012-2014 book. Higher score = lower risk.
Called nightly by the batch job (``score(df)``) and by the loan desk spreadsheet export.

Input columns (one row per applicant):
    age                             years
    annual_income                   dollars per year
    debt_to_income                  ratio, 0..1
    num_late_payments               late payments in the last 24 months
    months_since_last_delinquency   months, blank/NaN when never delinquent
    home_ownership                  "OWN" | "MORTGAGE" | "RENT" (anything else scores as RENT)

Returns a pandas Series of integer scores (named "score", same index as the input),
clipped to 300..850. See ``score_band`` for the letter bands the desk uses.

Do NOT change the points without sign-off from model risk (ticket RISK-412).
"""
import numpy as np
import pandas as pd

import veneer

BASE_POINTS = 600
MIN_SCORE, MAX_SCORE = 300, 850

# (upper bound exclusive, points) -- read top to bottom, first match wins
AGE_POINTS = [(25, -15), (35, 0), (50, 12), (65, 20), (200, 10)]
INCOME_POINTS = [(20000, -40), (40000, -10), (75000, 15), (150000, 35), (np.inf, 45)]
DTI_POINTS = [(0.15, 40), (0.30, 15), (0.45, -20), (0.60, -55), (np.inf, -90)]
HOME_POINTS = {"OWN": 30, "MORTGAGE": 20, "RENT": 0}
LATE_PAYMENT_PENALTY = 35          # per late payment, capped below
LATE_PAYMENT_CAP = 5
RECENT_DELINQUENCY_POINTS = -60    # delinquency within the last 12 months
OLD_DELINQUENCY_POINTS = -20

REQUIRED_COLUMNS = ["age", "annual_income", "debt_to_income", "num_late_payments",
                    "months_since_last_delinquency", "home_ownership"]


def _bin_points(values, table):
    values = np.asarray(values, dtype=float)
    points = np.zeros(len(values))
    assigned = np.zeros(len(values), dtype=bool)
    for upper, pts in table:
        hit = (~assigned) & (values < upper)
        points[hit] = pts
        assigned |= hit
    return points


@veneer.model("scorecard", prefix="risk", version="1", stage="production")
def score(df):
    """Scorecard points for each applicant row of ``df`` (a pandas DataFrame); returns a Series."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError("scorecard input is missing columns: %s" % ", ".join(missing))

    pts = np.full(len(df), float(BASE_POINTS))
    pts += _bin_points(df["age"], AGE_POINTS)
    pts += _bin_points(df["annual_income"], INCOME_POINTS)
    pts += _bin_points(df["debt_to_income"], DTI_POINTS)

    late = np.minimum(np.asarray(df["num_late_payments"], dtype=float), LATE_PAYMENT_CAP)
    pts -= LATE_PAYMENT_PENALTY * late

    since = pd.to_numeric(df["months_since_last_delinquency"], errors="coerce")
    pts += np.where(since.isnull(), 0, np.where(since < 12, RECENT_DELINQUENCY_POINTS, OLD_DELINQUENCY_POINTS))

    home = df["home_ownership"].astype(str).str.upper().map(HOME_POINTS).fillna(0)
    pts += home.values

    result = np.clip(np.round(pts), MIN_SCORE, MAX_SCORE).astype(int)
    return pd.Series(result, index=df.index, name="score")


def score_band(df):
    """Letter band per row (A best .. E worst), as printed on the loan desk report."""
    s = score(df)
    return pd.cut(s, bins=[0, 580, 640, 700, 760, 1000], labels=["E", "D", "C", "B", "A"],
                  right=False).astype(str)


if __name__ == "__main__":
    # the 2015 smoke test: python legacy_scoring.py
    demo = pd.DataFrame({
        "age": [23, 41, 58],
        "annual_income": [18000, 62000, 140000],
        "debt_to_income": [0.52, 0.28, 0.10],
        "num_late_payments": [3, 0, 0],
        "months_since_last_delinquency": [4, np.nan, 60],
        "home_ownership": ["RENT", "MORTGAGE", "OWN"],
    })
    print(pd.concat([demo, score(demo), score_band(demo).rename("band")], axis=1))
