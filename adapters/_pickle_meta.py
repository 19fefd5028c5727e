"""What the pickle adapter can tell about a loaded estimator: columns, types, classes, versions.

scikit-learn records the column names a model was fitted on (``feature_names_in_``)
and their count (``n_features_in_``), but not their types; a fitted encoder's
``categories_`` does reveal which columns held strings, so those are reported as
``BYTES`` and the rest as ``FP64`` (what a numeric pipeline computes in).
"""

from __future__ import annotations

from importlib import metadata as dist_metadata
from typing import Any, Iterable

import numpy as np

from veneer.adapters.base import TensorSpec

_DATATYPES = {"b": "BOOL", "i1": "INT8", "i2": "INT16", "i4": "INT32", "i8": "INT64",
              "u1": "UINT8", "u2": "UINT16", "u4": "UINT32", "u8": "UINT64",
              "f2": "FP16", "f4": "FP32", "f8": "FP64"}
_MAX_CLASSES = 100


def datatype_of(dtype: Any) -> str:
    """The OIP datatype of a numpy dtype (strings and objects are ``BYTES``)."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return "BOOL"
    return _DATATYPES.get(f"{dt.kind}{dt.itemsize}", "BYTES" if dt.kind in "OSUT" else "FP64")


def is_sklearn(model: Any) -> bool:
    """The object is a scikit-learn estimator (a Pipeline counts)."""
    return type(model).__module__.startswith("sklearn.")


def feature_names(model: Any) -> list[str] | None:
    """Column names the model was fitted on, or None if it was fitted on an unnamed matrix."""
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def _first_step(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[0][1] if isinstance(steps, list) and steps else model


def _has_string_categories(transformer: Any) -> list[bool] | None:
    cats = getattr(_first_step(transformer), "categories_", None)
    if not isinstance(cats, list):
        return None
    return [np.asarray(c).dtype.kind in "OSUT" for c in cats]


def _string_columns(model: Any) -> set[str]:
    """Columns an encoder shows to be categorical strings."""
    first = _first_step(model)
    out: set[str] = set()
    names = feature_names(first) or []
    flags = _has_string_categories(first)
    if flags is not None:
        return {n for n, s in zip(names, flags) if s}
    for _, trans, cols in getattr(first, "transformers_", []) or []:
        flags = _has_string_categories(trans) if not isinstance(trans, str) else None
        if flags is None:
            continue
        col_names = _column_names(cols, names)
        out.update(n for n, s in zip(col_names, flags) if s)
    return out


def _column_names(cols: Any, names: list[str]) -> list[str]:
    cols = list(cols) if isinstance(cols, (list, tuple, np.ndarray)) else [cols]
    result = []
    for c in cols:
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < len(names):
            result.append(names[c])
        elif isinstance(c, (bool, np.bool_)):
            continue  # boolean masks: rare, and ambiguous without the mask's position
        else:
            result.append(str(c))
    return result


def input_specs(model: Any) -> list[TensorSpec]:
    """One ``[-1]`` column per fitted name, or one ``input-0`` matrix ``[-1, n_features]``."""
    names = feature_names(model)
    if names is not None:
        strings = _string_columns(model)
        return [TensorSpec(n, "BYTES" if n in strings else "FP64", (-1,)) for n in names]
    width = getattr(model, "n_features_in_", None)
    width = int(width) if isinstance(width, (int, np.integer)) else -1
    return [TensorSpec("input-0", "FP64", (-1, width))]


def output_spec(model: Any, method: str, name: str) -> TensorSpec:
    """Datatype and shape of one output: labels take the dtype of ``classes_``."""
    classes = getattr(model, "classes_", None)
    n_classes = len(classes) if isinstance(classes, (list, np.ndarray)) else -1
    if method == "predict":
        if isinstance(classes, np.ndarray):
            return TensorSpec(name, datatype_of(classes.dtype), (-1,))
        n_out = getattr(model, "n_outputs_", 1)
        return TensorSpec(name, "FP64", (-1,) if n_out in (1, None) else (-1, int(n_out)))
    if method in ("predict_proba", "predict_log_proba"):
        return TensorSpec(name, "FP64", (-1, n_classes))
    if method == "decision_function":
        return TensorSpec(name, "FP64", (-1,) if n_classes in (-1, 2) else (-1, n_classes))
    if method == "score_samples":
        return TensorSpec(name, "FP64", (-1,))
    return TensorSpec(name, "FP64", (-1, -1))


def _json_ready(values: Iterable[Any]) -> list[Any]:
    out = []
    for v in values:
        v = v.item() if isinstance(v, np.generic) else v
        out.append(v if isinstance(v, (bool, int, float, str)) or v is None else str(v))
    return out


def _installed(name: str) -> str | None:
    try:
        return dist_metadata.version(name)
    except dist_metadata.PackageNotFoundError:
        return None


def describe(model: Any, *, sha256: str, trusted: bool, caught: list[Any], scanner: str | None) -> dict[str, Any]:
    """``AdapterMetadata.extra``: estimator, steps, classes, loader, versions (saved vs installed)."""
    kind = type(model)
    extra: dict[str, Any] = {"estimator": f"{kind.__module__}.{kind.__qualname__}", "sha256": sha256,
                             "loader": "trusted" if trusted else "allowlist",
                             "installed": {k: v for k in ("scikit-learn", "numpy", "pandas")
                                           if (v := _installed(k))}}
    if "scikit-learn" in extra["installed"]:
        extra["installed"]["sklearn"] = extra["installed"].pop("scikit-learn")
    steps = getattr(model, "steps", None)
    if isinstance(steps, list):
        extra["steps"] = [f"{n}: {type(s).__name__}" for n, s in steps]
    classes = getattr(model, "classes_", None)
    if isinstance(classes, (list, np.ndarray)):
        extra["classes"] = _json_ready(list(classes)[:_MAX_CLASSES])
    saved = {getattr(w.message, "original_sklearn_version", None) for w in caught
             if type(w.message).__name__ == "InconsistentVersionWarning"} - {None}
    if saved:
        extra["saved_with"] = {"sklearn": sorted(str(v) for v in saved)[0]}
        extra["warnings"] = [f"saved with scikit-learn {extra['saved_with']['sklearn']}, running "
                             f"{extra['installed'].get('sklearn', 'unknown')}"]
    if scanner is not None:
        extra["picklescan"] = scanner
    return extra
