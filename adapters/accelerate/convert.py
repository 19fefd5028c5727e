"""Convert a fitted scikit-learn estimator or pipeline to ONNX, or say why not.

The ONNX inputs follow what the model was fitted on: one ``[rows, n]`` tensor for a
model that takes a numeric matrix, or one ``[rows, 1]`` tensor per column (named as in
``feature_names_in_``) when the model starts with a ``ColumnTransformer``; a column
goes in as a string tensor when an encoder learnt string categories for it.

Numeric columns are declared ``double`` first (what scikit-learn computes in), except
for tree models, which scikit-learn itself evaluates on ``float32`` inputs; when a
declaration does not produce a valid graph (skl2onnx mixes float and double inside
some pipelines, caught by ONNX's type check), the other one is tried. Whether the
result really answers like scikit-learn is not decided here: the shadow comparison
decides. Conversion never raises to the caller: ``NotConvertible`` carries the reason.

Runs in the gunicorn master (pure Python, no ONNX Runtime); the session is created
later, in each worker (``runner.py``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

#: Methods an ONNX graph can answer, and the graph output each maps to.
ACCELERATED_METHODS = ("predict", "predict_proba")


class NotConvertible(Exception):
    """The model cannot be accelerated; ``reason`` says why in one sentence, ``code`` classifies it."""

    def __init__(self, reason: str, code: str = "conversion_failed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class InputLayout:
    """How rows reach the graph: ``matrix`` (one tensor ``X``) or ``columns`` (one tensor per column)."""

    kind: str
    columns: tuple[str, ...] | None           # fitted column names, in order (None: positional matrix)
    width: int
    numeric: str                              # "float32" or "float64"
    strings: frozenset[str] = frozenset()     # columns fed as string tensors (layout "columns")
    #: text columns whose encoder refuses unseen values (handle_unknown="error"): the values it knows.
    #: ONNX would encode an unseen value as all zeros; such rows go to scikit-learn (and its 422).
    closed: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class Conversion:
    """A converted model: serialized ONNX, how to feed it, which graph output answers each method."""

    onnx_bytes: bytes
    layout: InputLayout
    outputs: dict[str, str]                   # method -> graph output name
    input_names: tuple[str, ...]
    seconds: float
    attempts: list[str] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        """Digest of the ONNX bytes (part of the promotion state's key)."""
        return hashlib.sha256(self.onnx_bytes).hexdigest()


def convert(model: Any, methods: list[str]) -> Conversion:
    """Convert ``model`` for ``methods``; raise ``NotConvertible`` with the reason otherwise."""
    unsupported = [m for m in methods if m not in ACCELERATED_METHODS]
    if unsupported:
        raise NotConvertible(f"output method(s) {', '.join(unsupported)} have no ONNX equivalent; "
                             f"only {' and '.join(ACCELERATED_METHODS)} are accelerated", "unsupported_output")
    try:
        import onnx
        from skl2onnx import convert_sklearn
    except ImportError as e:
        raise NotConvertible(f"skl2onnx/onnx are not installed ({e}); pip install 'veneer[onnx]'",
                             "missing_dependency") from e
    blocker = first_unsupported(model)
    if blocker:
        raise NotConvertible(blocker, "unsupported_transformer")
    start = time.perf_counter()
    attempts: list[str] = []
    for numeric in _numeric_order(model):
        layout = plan_inputs(model, numeric)
        try:
            # a fixed graph name (skl2onnx picks a random one), so logs and digests are comparable
            onx = convert_sklearn(model, name="veneer_accelerated", initial_types=_initial_types(layout),
                                  options=_options(model))
            onnx.checker.check_model(onx, full_check=True)
        except Exception as e:  # skl2onnx raises many kinds; each is just "this declaration fails"
            attempts.append(f"{numeric} inputs: {_first_line(e)}")
            continue
        outputs = _map_outputs([o.name for o in onx.graph.output], methods)
        return Conversion(onnx_bytes=onx.SerializeToString(), layout=layout, outputs=outputs,
                          input_names=tuple(i.name for i in onx.graph.input),
                          seconds=time.perf_counter() - start, attempts=attempts)
    raise NotConvertible("skl2onnx could not produce a valid graph (" + "; ".join(attempts) + ")")


def first_unsupported(model: Any) -> str | None:
    """A reason naming the first step skl2onnx has no converter for (a custom class...), or None."""
    try:
        from skl2onnx._supported_operators import sklearn_operator_name_map as registered
    except ImportError:  # older/newer layout: let the conversion itself tell
        return None
    for step in walk(model):
        cls = type(step)
        if cls in registered:
            continue
        module = cls.__module__ or ""
        origin = "unsupported transformer" if module.startswith("sklearn.") else "custom class"
        return f"{origin} {module}.{cls.__qualname__} has no skl2onnx converter"
    return None


def walk(model: Any):
    """Every estimator inside a model: pipeline steps, column transformers' parts, the model itself."""
    yield model
    steps = getattr(model, "steps", None)
    if isinstance(steps, list):
        for _, step in steps:
            if step not in (None, "passthrough", "drop"):
                yield from walk(step)
    parts = getattr(model, "transformers_", None) or getattr(model, "transformer_list", None)
    if isinstance(parts, list):
        for part in parts:
            trans = part[1]
            if trans not in (None, "passthrough", "drop"):
                yield from walk(trans)


def plan_inputs(model: Any, numeric: str) -> InputLayout:
    """The input layout for ``model`` with numeric columns declared as ``numeric``."""
    names = _feature_names(model)
    head = model.steps[0][1] if isinstance(getattr(model, "steps", None), list) else model
    if type(head).__name__ == "ColumnTransformer" and names:
        return InputLayout("columns", tuple(names), len(names), numeric,
                           frozenset(_string_columns(head, names)), _closed_columns(head, names))
    width = int(getattr(model, "n_features_in_", 0) or (len(names) if names else 0))
    if not width:
        raise NotConvertible("the model does not record how many features it takes (n_features_in_)",
                             "unknown_inputs")
    return InputLayout("matrix", tuple(names) if names else None, width, numeric)


def _feature_names(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else None


def _string_columns(ct: Any, names: list[str]) -> set[str]:
    out: set[str] = set()
    for _, trans, cols in getattr(ct, "transformers_", []):
        if trans in ("drop", None) or not _learns_strings(trans):
            continue
        for c in _column_names(cols, names):
            out.add(c)
    return out


def _closed_columns(ct: Any, names: list[str]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for _, trans, cols in getattr(ct, "transformers_", []):
        if trans in ("drop", "passthrough", None):
            continue
        for step in walk(trans):
            cats = getattr(step, "categories_", None)
            if cats is None or getattr(step, "handle_unknown", "error") != "error":
                continue
            for col, known in zip(_column_names(cols, names), cats):
                out[col] = frozenset(str(v) for v in known)
            break
    return out


def _learns_strings(trans: Any) -> bool:
    """True when an encoder in ``trans`` learnt string (object) categories."""
    for step in walk(trans):
        cats = getattr(step, "categories_", None)
        if cats and any(getattr(c, "dtype", None) is not None and c.dtype.kind in "OUS" for c in cats):
            return True
    return False


def _column_names(cols: Any, names: list[str]) -> list[str]:
    import numpy as np

    if isinstance(cols, str):
        return [cols]
    if isinstance(cols, slice):
        return names[cols]
    arr = np.asarray(cols)
    if arr.dtype.kind == "b":
        return [n for n, keep in zip(names, arr) if keep]
    if arr.dtype.kind in "iu":
        return [names[i] for i in arr]
    return [str(c) for c in arr]


def _numeric_order(model: Any) -> tuple[str, ...]:
    # scikit-learn's trees compare float32 features against their thresholds: float32 is
    # what the model really sees, and a double declaration makes ONNX compare differently
    trees = any(type(s).__module__.startswith(("sklearn.tree", "sklearn.ensemble")) for s in walk(model))
    return ("float32", "float64") if trees else ("float64", "float32")


def _initial_types(layout: InputLayout) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    num = FloatTensorType if layout.numeric == "float32" else DoubleTensorType
    if layout.kind == "matrix":
        return [("X", num([None, layout.width]))]
    return [(c, StringTensorType([None, 1]) if c in layout.strings else num([None, 1]))
            for c in layout.columns or ()]


def _options(model: Any) -> dict[Any, Any]:
    final = model.steps[-1][1] if isinstance(getattr(model, "steps", None), list) else model
    # plain arrays of probabilities, not a list of {class: p} maps
    return {id(final): {"zipmap": False}} if hasattr(final, "classes_") else {}


def _map_outputs(names: list[str], methods: list[str]) -> dict[str, str]:
    out = {}
    for m in methods:
        if m == "predict":
            out[m] = names[0]
        elif "probabilities" in names:
            out[m] = "probabilities"
        else:
            raise NotConvertible("the converted graph has no probabilities output for predict_proba",
                                 "unsupported_output")
    return out


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {(lines[0] if lines else '')[:240]}"
