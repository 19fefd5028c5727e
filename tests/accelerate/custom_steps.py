"""A legacy-style custom transformer (importable, so a pickle of it loads): skl2onnx has no converter."""

from __future__ import annotations

from sklearn.base import BaseEstimator, TransformerMixin


class Doubler(BaseEstimator, TransformerMixin):
    """Multiplies every feature by two (a stand-in for hand-written feature engineering)."""

    def fit(self, X, y=None):
        """Nothing to learn."""
        return self

    def transform(self, X):
        """``2 * X``."""
        return X * 2.0
