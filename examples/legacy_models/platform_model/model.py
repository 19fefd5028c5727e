"""Customer lifetime value, packaged for the in-house model hosting platform (2019).

The platform imports this file, awaits ``init()`` once per worker, then awaits
``predict(df)`` for each request with the rows as a pandas DataFrame, and expects a
DataFrame back. Veneer's ``python`` adapter loads it unchanged.

Input columns: tenure_months, monthly_charges, num_products, support_calls, age.
Output: a DataFrame with one float column ``ltv`` (dollars), same index as the input.

The artifact ``ltv_model.joblib`` is built by ``examples/legacy_models/build_all.py``
(``platform_model/train.py``). ``init`` looks for it in the ``artifact_dir`` keyword the
platform passes (the folder of the served config), then in ``../build`` next to this file.
"""

import os

ARTIFACT = "ltv_model.joblib"
FEATURES = ["tenure_months", "monthly_charges", "num_products", "support_calls", "age"]

_model = None


def _find_artifact(artifact_dir=None):
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = []
    if artifact_dir:
        candidates.append(os.path.join(str(artifact_dir), ARTIFACT))
    candidates.append(os.path.join(here, "..", "build", ARTIFACT))
    for path in candidates:
        if os.path.isfile(path):
            return os.path.normpath(path)
    raise FileNotFoundError(
        "%s not found (looked in: %s); build it with: python examples/legacy_models/build_all.py"
        % (ARTIFACT, ", ".join(os.path.normpath(c) for c in candidates)))


async def init(*args, **kwargs):
    """Load the regressor once; ``artifact_dir`` (keyword) says where the built artifacts are."""
    global _model
    import joblib  # the platform wants imports cheap until init

    _model = joblib.load(_find_artifact(kwargs.get("artifact_dir")))


async def predict(df, *args, **kwargs):
    """Lifetime value per row of ``df``, as a DataFrame with the column ``ltv``."""
    import pandas as pd

    if _model is None:
        raise RuntimeError("predict() called before init(); the platform awaits init() first")
    missing = [c for c in FEATURES if c not in df.columns]
    if missing:
        raise ValueError("missing input columns %s; expected %s" % (missing, FEATURES))
    values = _model.predict(df[FEATURES].astype("float64"))
    return pd.DataFrame({"ltv": values.round(2)}, index=df.index)
