"""What the accelerator needs from the adapter it wraps: the estimator, its inputs, its answer's shape.

Only the ``pickle`` and ``mlflow`` (sklearn flavor) adapters are accelerated; for
anything else ``source_for`` gives the reason it is not.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


class Source:
    """The scikit-learn object behind an adapter, and how to translate between its answers and ONNX's."""

    def __init__(self, model: Any, methods: list[str], features: Callable[[Any], Any],
                 names: dict[str, str] | None, *, by_name: bool = False) -> None:
        self.model = model
        self.methods = methods
        self.features = features      # batch -> what the adapter passes to scikit-learn
        self._names = names           # method -> output name in the adapter's dict answer (None: bare array)
        #: the adapter picks fitted columns by name from any order (so may ONNX's fast row path)
        self.by_name = by_name

    @property
    def classes(self) -> Any:
        """The classifier's ``classes_`` (label dtype), or None."""
        return getattr(self.model, "classes_", None)

    def split(self, result: Any) -> dict[str, np.ndarray]:
        """The adapter's answer as method -> array."""
        if self._names is None or not isinstance(result, dict):
            return {"predict": np.asarray(result)}
        return {m: np.asarray(result[self._names[m]]) for m in self.methods}

    def answer(self, outputs: dict[str, np.ndarray]) -> Any:
        """ONNX's method -> array in the form the adapter itself returns."""
        if self._names is None:
            return outputs["predict"]
        return {self._names[m]: outputs[m] for m in self.methods}


class NoSource(Exception):
    """The wrapped adapter holds nothing scikit-learn can convert; the message says why."""


def source_for(adapter: Any) -> Source:
    """The ``Source`` of a loaded adapter, or ``NoSource`` with the reason."""
    kind = type(adapter).__name__
    if kind == "PickleAdapter":
        from veneer.adapters.pickle_file import OUTPUT_NAMES

        model = adapter.model
        if not hasattr(model, "predict") and not hasattr(model, "predict_proba"):
            raise NoSource("the pickle holds a plain callable, not an estimator")
        methods = list(adapter._outputs)
        return Source(model, methods, adapter._features, {m: OUTPUT_NAMES[m] for m in methods},
                      by_name=getattr(adapter, "_input", "auto") != "array")
    if kind == "MlflowAdapter":
        impl = getattr(getattr(adapter, "_model", None), "_model_impl", None)
        model = getattr(impl, "sklearn_model", None)
        if model is None:
            raise NoSource("the MLflow model is not of the sklearn flavor")
        return Source(model, ["predict"], adapter._input, None)
    raise NoSource(f"the {getattr(adapter.spec, 'adapter', kind)!r} adapter is not accelerated "
                   "(only pickle and mlflow sklearn models are)")
