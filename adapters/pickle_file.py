"""The ``pickle`` adapter: scikit-learn estimators, pipelines, and other pickled predictors.

Loads a pickle or joblib file (plain or compressed) through ``read_verified`` (size
cap, sha256 pin, one read) and the allowlist unpickler (``_safe_unpickle``); a
version marked ``trusted: true`` is loaded by plain joblib/pickle instead, with a
warning. The object may be a scikit-learn estimator or pipeline, anything with
``predict``/``predict_proba``, or a plain callable (called with the feature matrix).

Options (``options_schema``)::

    outputs: [predict, predict_proba]   # methods to call, in order; default [predict]
    input: auto | frame | array          # how rows reach the model (see ``PickleAdapter.predict``)
    max_bytes: 2147483648                # file (and inflated joblib) size cap
    load_memory_mb: 512                  # trial load in a child under RLIMIT_AS first (off by default)
    scan: auto | off                     # also log picklescan's opinion when it is installed
    accelerate: {tolerance, promote_after_rows, audit_every, refresh_seconds, threads}
                                         # tuning of `accelerate: onnx` (veneer.adapters.accelerate)
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, ClassVar

import numpy as np

from veneer.adapters._artifact import DEFAULT_MAX_BYTES, read_verified, sha256_hex
from veneer.adapters._safe_unpickle import (UnsafePickleError, picklescan_verdict, safe_loads,
                                            trusted_loads, unpack)
from veneer.adapters.accelerate.options import OPTIONS_SCHEMA as ACCELERATE_OPTIONS
from veneer.adapters.base import AdapterMetadata, BaseAdapter
from veneer.adapters import _pickle_meta as meta
from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import ArtifactError, InvalidInput, VeneerError

log = logging.getLogger(__name__)

#: Output name each method's result is reported under.
OUTPUT_NAMES = {"predict": "predictions", "predict_proba": "probabilities",
                "predict_log_proba": "log_probabilities", "decision_function": "decision_function",
                "transform": "transformed", "score_samples": "scores"}
#: Extensions of formats that are not pickles: a file named so is refused even if it unpickles
#: (a mislabelled file is a smell, and a .skops loader must never fall back to pickle).
_FOREIGN_SUFFIXES = {".skops": "skops", ".onnx": "onnx", ".pt": "PyTorch", ".pth": "PyTorch",
                     ".safetensors": "safetensors", ".h5": "Keras", ".keras": "Keras",
                     ".npy": "NumPy", ".npz": "NumPy", ".mlmodel": "Core ML"}


class PickleAdapter(BaseAdapter):
    """A pickled/joblib'd predictor behind the adapter interface; safe loading by default."""

    fork_safe: ClassVar[bool] = True  # loaded in the master, shared copy-on-write by the workers
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "outputs": {"type": "array", "items": {"enum": sorted(OUTPUT_NAMES)}, "minItems": 1,
                        "uniqueItems": True, "default": ["predict"],
                        "description": "Methods called for each request, each giving one output: "
                                       "predict -> predictions, predict_proba -> probabilities, "
                                       "decision_function, predict_log_proba, transform, score_samples."},
            "input": {"enum": ["auto", "frame", "array"], "default": "auto",
                      "description": "frame: a pandas DataFrame in the model's column order; array: a "
                                     "2-D numpy array; auto: frame when the model was fitted on named "
                                     "columns (feature_names_in_), else array."},
            "max_bytes": {"type": "integer", "minimum": 1, "default": DEFAULT_MAX_BYTES,
                          "description": "Largest file (and inflated joblib content) accepted, in bytes."},
            "load_memory_mb": {"type": ["integer", "null"], "minimum": 16, "default": None,
                               "description": "If set, first try the load in a child process limited to "
                                              "this much extra memory (RLIMIT_AS), so a pickle that "
                                              "inflates far beyond its size is refused instead of "
                                              "exhausting the server. Costs one extra load."},
            "load_timeout_s": {"type": "number", "exclusiveMinimum": 0, "default": 120,
                               "description": "Time limit of that trial load."},
            "scan": {"enum": ["auto", "off"], "default": "auto",
                     "description": "auto: also run picklescan (when installed) and log its verdict next "
                                    "to the allowlist's; the allowlist alone decides."},
            "accelerate": ACCELERATE_OPTIONS,  # issue 8: tuning of `accelerate: onnx`
        },
    }

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.model: Any = None
        self._outputs: list[str] = list(self.options.get("outputs") or [])
        self._input = self.options.get("input", "auto")
        self._extra: dict[str, Any] = {}

    # -- load --------------------------------------------------------------------------------

    def load(self) -> None:
        """Read, verify and unpickle the artifact; refuse anything that is not a predictor."""
        spec = self.spec
        path = getattr(spec, "path", None)
        if path is None:
            raise ArtifactError(f"Version {spec.version!r} of {spec.qualified_name!r} has no path.",
                                fix="Set path: to the .pkl or .joblib file.", code="not_found")
        kind = _FOREIGN_SUFFIXES.get(path.suffix.lower())
        if kind:
            raise ArtifactError(f"{path.name!r} is named like a {kind} file; the pickle adapter does not "
                                "load those.", fix=f"Use the {kind} adapter, or rename the file if it "
                                "really is a pickle.", code="unsupported_format")
        limit = int(self.options.get("max_bytes", DEFAULT_MAX_BYTES))
        what = f"pickle {path.name!r}"
        data = read_verified(path, spec.sha256, max_bytes=limit, what=what)
        scanner = self._scan(data, what, limit)
        memory_mb = self.options.get("load_memory_mb")
        if memory_mb and not spec.trusted:
            from veneer.adapters._load_probe import probe

            probe(data, allow_modules=spec.allow_modules, memory_bytes=int(memory_mb) << 20,
                  timeout=float(self.options.get("load_timeout_s", 120)), what=what)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if spec.trusted:
                    obj = trusted_loads(data, what=what, max_bytes=limit)
                else:
                    obj = safe_loads(data, allow_modules=spec.allow_modules, what=what, max_bytes=limit)
            except UnsafePickleError as e:
                log.error("Refused %s of %s: allowlist refused %s; picklescan said %s.", what,
                          spec.qualified_name, e.global_name, scanner or "nothing (not installed)")
                raise
        self._check_predictor(obj, what)
        self.model = obj
        self._extra = meta.describe(obj, sha256=sha256_hex(data), trusted=bool(spec.trusted),
                                    caught=caught, scanner=scanner)
        if "saved_with" in self._extra:
            log.warning("%s of %s was saved with scikit-learn %s and runs on %s; predictions may differ.",
                        what, spec.qualified_name, self._extra["saved_with"].get("sklearn"),
                        self._extra["installed"].get("sklearn"))
        if scanner and scanner.startswith("dangerous"):
            log.warning("picklescan flags %s (%s) but the allowlist admitted it; the allowlist decides.",
                        what, scanner)

    def _scan(self, data: bytes, what: str, limit: int) -> str | None:
        if self.options.get("scan", "auto") == "off":
            return None
        try:
            verdict = picklescan_verdict(unpack(data, what=what, max_bytes=limit))
        except ArtifactError:
            return None  # the real load reports the format problem
        if verdict is not None:
            log.info("picklescan on %s: %s", what, verdict)
        return verdict

    def _check_predictor(self, obj: Any, what: str) -> None:
        if not self._outputs:
            self._outputs = ["predict"] if hasattr(obj, "predict") or not hasattr(obj, "predict_proba") \
                else ["predict_proba"]
        if not any(hasattr(obj, m) for m in OUTPUT_NAMES) and callable(obj):
            if self._outputs != ["predict"]:
                raise ArtifactError(f"The {what} holds a plain callable; outputs {self._outputs} need methods.",
                                    fix="Remove options.outputs for a callable.", code="invalid_artifact")
            return
        missing = [m for m in self._outputs if not callable(getattr(obj, m, None))]
        if missing:
            raise ArtifactError(
                f"The {what} holds a {type(obj).__name__}, which has no {', '.join(missing)} method.",
                fix="Choose options.outputs among the methods it has "
                    f"({', '.join(m for m in OUTPUT_NAMES if hasattr(obj, m)) or 'none'}), or pickle "
                    "a fitted predictor.", code="invalid_artifact")

    # -- predict -----------------------------------------------------------------------------

    def predict(self, batch: Batch) -> dict[str, Any] | Any:
        """Call the configured methods on the batch; ``{"predictions": ..., ...}``.

        Columns: a model fitted on named columns (``feature_names_in_``) gets a DataFrame
        with exactly those columns in the order it was fitted with, whatever order they
        arrive in; extra columns are dropped; a missing one is a 422 naming it. Rows
        without names (KServe ``instances`` lists, one OIP 2-D tensor) are taken
        positionally and must have one value per fitted column. Models without names
        get a 2-D array and a row-width check against ``n_features_in_``. A plain
        callable gets the same matrix and its return value as is.
        """
        model = self.model
        if model is None:
            raise ArtifactError("The pickle adapter predicts before load().", code="load_failed")
        X = self._features(batch)
        try:
            if self._outputs == ["predict"] and not hasattr(model, "predict"):
                return model(X)
            return {OUTPUT_NAMES[m]: getattr(model, m)(X) for m in self._outputs}
        except VeneerError:
            raise
        except (ValueError, TypeError) as e:
            raise InvalidInput(f"The model rejected the input: {_first_line(e).rstrip('.')}.",
                               fix=_fix_for(e)) from e

    def _features(self, batch: Batch) -> Any:
        names = meta.feature_names(self.model)
        use_frame = self._input == "frame" or (self._input == "auto" and names is not None)
        if use_frame:
            return _ordered_frame(batch, names)
        X = batch.array()
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        if X.ndim != 2:
            raise InvalidInput(f"The input has shape {list(X.shape)}; this model takes a table [rows, features].",
                               fix="Send one row per instance.")
        width = getattr(self.model, "n_features_in_", None)
        if isinstance(width, (int, np.integer)) and X.shape[1] != width:
            raise InvalidInput(f"Each row has {X.shape[1]} values; this model takes {int(width)} features.",
                               fix=f"Send {int(width)} values per row, in the order the model was trained on.")
        if X.dtype == object:
            X = _numeric_or_raise(X)
        return X

    # -- metadata ----------------------------------------------------------------------------

    def metadata(self) -> AdapterMetadata:
        """Platform, inputs from ``feature_names_in_``/``n_features_in_``, outputs, versions, sha256."""
        model = self.model
        if model is None:
            return AdapterMetadata(platform="sklearn", extra={"loaded": False})
        inputs = meta.input_specs(model)
        outputs = [meta.output_spec(model, m, OUTPUT_NAMES[m]) for m in self._outputs]
        platform = "sklearn" if meta.is_sklearn(model) else "python_pickle"
        return AdapterMetadata(platform=platform, inputs=inputs, outputs=outputs,
                               extra={**self._extra, "outputs": list(self._outputs)})

    def unload(self) -> None:
        """Drop the model (memory is freed when no request holds it)."""
        self.model = None


def _ordered_frame(batch: Batch, names: list[str] | None) -> Any:
    frame = batch.frame()
    if names is None:
        return frame
    cols = list(frame.columns)
    if cols and all(isinstance(c, (int, np.integer)) for c in cols):  # unnamed rows: positional
        if len(cols) != len(names):
            raise InvalidInput(f"Each row has {len(cols)} values; this model takes {len(names)} columns: "
                               f"{', '.join(names)}.", fix="Send named columns, or one value per column in this order.")
        frame = frame.set_axis(names, axis=1)
        return frame
    present = {str(c) for c in cols}
    missing = [n for n in names if n not in present]
    if missing:
        raise InvalidInput(f"Missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; "
                           f"this model takes {', '.join(names)}.",
                           fix="Send every column the model was trained on (extra columns are ignored).",
                           missing=missing)
    if [str(c) for c in cols] != names:
        frame = frame.rename(columns=str)[names]
    return frame


def _numeric_or_raise(X: np.ndarray) -> np.ndarray:
    try:
        return X.astype(np.float64)
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"The input holds non-numeric values ({_first_line(e)}); this model takes numbers.",
                           fix="Send numbers in every column.") from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


def _fix_for(e: BaseException) -> str:
    msg = str(e)
    if "NaN" in msg or "missing values" in msg:
        return "Fill in every value: this model does not accept missing values (null/NaN)."
    if "convert" in msg or "could not" in msg or "string" in msg:
        return "Send numbers in the numeric columns."
    if "feature" in msg or "columns" in msg or "shape" in msg:
        return "Send the columns the model metadata lists, one value each per row."
    return "Check the input against the model's metadata."
