"""Feed a converted model through ONNX Runtime and shape its answers like scikit-learn's.

A ``Runner`` is created in the process that predicts (a gunicorn worker, after
fork): ONNX Runtime's thread pools do not survive ``fork``. Inputs the graph cannot
take faithfully (missing values, text in a numeric column, a column not sent) raise
``NotFeedable``: the wrapper then answers that request from scikit-learn, which
gives the client the adapter's usual error or answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .convert import Conversion


class NotFeedable(Exception):
    """These rows cannot go through the ONNX graph unchanged; scikit-learn answers them."""


class Runner:
    """One ONNX Runtime session of a ``Conversion``; thread-safe (``InferenceSession.run`` is)."""

    def __init__(self, conversion: Conversion, *, threads: int = 1, classes: Any = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # a worker already runs several request threads; one intra-op thread each avoids oversubscription
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(conversion.onnx_bytes, sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.conversion = conversion
        self.layout = conversion.layout
        self.dtype = np.float32 if self.layout.numeric == "float32" else np.float64
        self.classes = classes
        self._index_cache: dict[tuple[str, ...], np.ndarray] = {}

    # -- inputs ----------------------------------------------------------------------------
    def feeds_from_batch(self, batch: Any) -> dict[str, np.ndarray] | None:
        """Fast path for an all-numeric row matrix (no DataFrame); None when it does not apply."""
        rows = batch.rows
        if self.layout.kind != "matrix" or not isinstance(rows, np.ndarray) or rows.ndim != 2:
            return None
        if rows.dtype.kind not in "fiu":
            return None
        names = self.layout.columns
        if names is None or batch.columns is None:  # positional on one side: rows as sent, like the adapter
            if rows.shape[1] != self.layout.width:
                return None
            X = rows
        else:
            idx = self._index(tuple(batch.columns))
            if idx is None:
                return None
            X = rows[:, idx]
        X = np.ascontiguousarray(X, dtype=self.dtype)
        if np.isnan(X).any():
            raise NotFeedable("missing values")
        return {"X": X}

    def _index(self, columns: tuple[str, ...]) -> np.ndarray | None:
        idx = self._index_cache.get(columns)
        if idx is None:
            pos = {c: i for i, c in enumerate(columns)}
            try:
                idx = np.array([pos[c] for c in self.layout.columns or ()], dtype=np.intp)
            except KeyError:
                return None  # a missing column: the adapter's own 422 says which
            if len(self._index_cache) < 64:
                self._index_cache[columns] = idx
        return idx

    def feeds_from_features(self, X: Any) -> dict[str, np.ndarray]:
        """Feeds from what the adapter would pass to scikit-learn (DataFrame or 2-D array)."""
        if self.layout.kind == "matrix":
            arr = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
            if arr.ndim != 2 or arr.shape[1] != self.layout.width:
                raise NotFeedable(f"shape {list(arr.shape)}")
            try:
                arr = np.ascontiguousarray(arr, dtype=self.dtype)
            except (TypeError, ValueError) as e:
                raise NotFeedable(str(e)) from e
            if np.isnan(arr).any():
                raise NotFeedable("missing values")
            return {"X": arr}
        if not hasattr(X, "columns"):
            raise NotFeedable("rows without column names")
        feeds = {}
        for name, col in zip(self.conversion.input_names, self.layout.columns or ()):
            if col not in X.columns:
                raise NotFeedable(f"column {col!r} missing")
            values = X[col].to_numpy()
            if col in self.layout.strings:
                if not all(type(v) is str for v in values):
                    raise NotFeedable(f"column {col!r} holds non-text values")
                known = self.layout.closed.get(col)
                if known is not None and not known.issuperset(values):
                    raise NotFeedable(f"column {col!r} holds a category the encoder never saw")
                feeds[name] = values.astype(object).reshape(-1, 1)
            else:
                try:
                    arr = values.astype(self.dtype).reshape(-1, 1)
                except (TypeError, ValueError) as e:
                    raise NotFeedable(str(e)) from e
                if np.isnan(arr).any():
                    raise NotFeedable("missing values")
                feeds[name] = arr
        return feeds

    # -- outputs ---------------------------------------------------------------------------
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Method name -> answer, shaped and typed like scikit-learn's."""
        names = list(dict.fromkeys(self.conversion.outputs.values()))
        got = dict(zip(names, self.session.run(names, feeds)))
        out = {}
        for method, name in self.conversion.outputs.items():
            out[method] = self._conform(method, got[name])
        return out

    def _conform(self, method: str, arr: np.ndarray) -> np.ndarray:
        if method == "predict":
            if arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr.reshape(-1)
            if self.classes is not None and arr.dtype != self.classes.dtype and self.classes.dtype.kind in "iufb":
                arr = arr.astype(self.classes.dtype)
            elif arr.dtype.kind == "f":
                arr = arr.astype(np.float64)  # scikit-learn regressors answer in float64
            return arr
        return arr.astype(np.float64)
