"""A legacy-style custom transformer (importable, so a pickle of it loads): skl2onnx has no converter."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class Doubler(BaseEstimator, TransformerMixin):
    """Multiplies every feature by two (a stand-in for hand-written feature engineering)."""

    def fit(self, X, y=None):
        """Nothing to learn."""
        return self

    def transform(self, X):
        """``2 * X`` as a plain array (as most hand-written legacy steps return)."""
        return np.asarray(X, dtype=float) * 2.0
