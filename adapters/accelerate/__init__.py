"""Verified ONNX acceleration of scikit-learn models served by the pickle and mlflow adapters.

``wrap(adapter, spec)`` is called by the model store for versions with
``accelerate: onnx``, on the constructed (not yet loaded) adapter, and returns the
adapter to use instead. The wrapper converts the estimator with skl2onnx at load,
compares ONNX with scikit-learn in shadow, promotes ONNX after enough agreeing rows
(or an agreeing ``probe:`` file), demotes it on any difference, and shares that
state across gunicorn workers (see ``wrapper.py``, ``shadow.py``, ``state.py``).

Nothing heavy is imported here: skl2onnx, onnx and onnxruntime load inside functions.
"""

from __future__ import annotations

import logging
from typing import Any

from .options import OPTIONS_SCHEMA

__all__ = ["ACCELERATED_ADAPTERS", "OPTIONS_SCHEMA", "wrap"]


#: adapter classes whose models may be scikit-learn estimators
ACCELERATED_ADAPTERS = frozenset({"PickleAdapter", "MlflowAdapter"})


def wrap(adapter: Any, spec: Any) -> Any:
    """The accelerated stand-in for ``adapter`` (an ``AcceleratedAdapter`` delegating to it).

    Adapters that never hold a scikit-learn model (onnx, http, python) are returned
    unchanged: a server-wide ``accelerate: onnx`` default simply does not apply to them.
    """
    if type(adapter).__name__ not in ACCELERATED_ADAPTERS:
        logging.getLogger("veneer.accelerate").info(
            "%s v%s: accelerate: onnx does not apply to the %r adapter", getattr(spec, "qualified_name", "?"),
            getattr(spec, "version", "?"), getattr(spec, "adapter", type(adapter).__name__))
        return adapter
    from .wrapper import AcceleratedAdapter

    return AcceleratedAdapter(adapter, spec)
