"""Serve an ONNX model through an onnxruntime ``InferenceSession``.

The session is created in ``load()``, which the server calls in each gunicorn
worker after fork: an ORT session's thread pools do not survive ``fork()``
(onnxruntime#9800), so ``fork_safe`` is False. The model bytes are read once
through ``read_verified`` (size cap, sha256 pin), parsed with ``onnx`` and
checked before ORT sees them: external data is confined to the model's folder
and embedded by ``_onnx_external``, so ORT never opens a path (CVE-2024-27318).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from veneer.adapters._artifact import read_verified
from veneer.adapters._onnx_external import embed_external_data
from veneer.adapters.base import AdapterMetadata, BaseAdapter, TensorSpec
from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import ArtifactError, ConfigError, InvalidInput, ModelNotReady

log = logging.getLogger(__name__)

#: ORT element type → (numpy dtype, OIP datatype)
_TYPES: dict[str, tuple[Any, str]] = {
    "tensor(float)": (np.float32, "FP32"), "tensor(double)": (np.float64, "FP64"),
    "tensor(float16)": (np.float16, "FP16"), "tensor(bool)": (np.bool_, "BOOL"),
    "tensor(int8)": (np.int8, "INT8"), "tensor(int16)": (np.int16, "INT16"),
    "tensor(int32)": (np.int32, "INT32"), "tensor(int64)": (np.int64, "INT64"),
    "tensor(uint8)": (np.uint8, "UINT8"), "tensor(uint16)": (np.uint16, "UINT16"),
    "tensor(uint32)": (np.uint32, "UINT32"), "tensor(uint64)": (np.uint64, "UINT64"),
    "tensor(string)": (np.object_, "BYTES"),
}
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")
_SOURCE_REF = re.compile(r"/\S+\.(?:h|cc|cpp|hpp):\d+ [^\n]*?\)\s")


class OnnxAdapter(BaseAdapter):
    """An ONNX file (``path``) run by onnxruntime; one session per worker process."""

    fork_safe: ClassVar[bool] = False
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "providers": {
                "type": "array", "items": {"type": "string"}, "minItems": 1,
                "default": ["CPUExecutionProvider"],
                "description": "onnxruntime execution providers in order of preference; one that is "
                               "not available falls back to CPUExecutionProvider with a warning."},
            "intra_op_threads": {
                "type": "integer", "minimum": 0, "default": 1,
                "description": "Threads inside one operator (0 = one per core). Default 1: veneer "
                               "scales with gunicorn workers, not inside a request."},
            "inter_op_threads": {
                "type": "integer", "minimum": 0, "default": 1,
                "description": "Threads running independent operators in parallel (0 = ORT default)."},
        },
    }

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self._session: Any = None
        self._inputs: list[_Port] = []
        self._outputs: list[_Port] = []
        self._extra: dict[str, Any] = {}

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Read and check the model, then create the session (in this process)."""
        import onnx
        import onnxruntime as ort
        from google.protobuf.message import DecodeError

        path = getattr(self.spec, "path", None)
        if path is None:
            raise ConfigError("The onnx adapter needs `path:` pointing at a .onnx file.",
                              path=_where(self.spec))
        path = Path(path)
        data = read_verified(path, getattr(self.spec, "sha256", None), what="ONNX model")
        model = onnx.ModelProto()
        try:
            model.ParseFromString(data)
        except DecodeError as e:
            raise ArtifactError(f"The ONNX model {path.name!r} is not a valid ONNX protobuf ({e}).",
                                fix="Re-export the model; check the file was not truncated or corrupted.",
                                code="corrupt_model") from e
        if not model.HasField("graph") or not model.graph.node:
            raise ArtifactError(f"The ONNX model {path.name!r} holds no graph (an empty or non-ONNX file).",
                                fix="Point `path:` at the exported .onnx model.", code="corrupt_model")
        if embed_external_data(model, path.parent):
            data = model.SerializeToString()
        providers, warnings = self._providers(ort)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(self.options.get("intra_op_threads", 1))
        options.inter_op_num_threads = int(self.options.get("inter_op_threads", 1))
        options.log_severity_level = 3  # ORT's warnings go to stderr unstructured; ours go to the log
        try:
            session = ort.InferenceSession(data, sess_options=options, providers=providers)
        except Exception as e:  # ORT raises its own pybind classes, not a common base
            raise _load_error(e, model, path.name, ort.__version__) from e
        self._inputs = [_Port.of(i) for i in session.get_inputs()]
        self._outputs = [_Port.of(o) for o in session.get_outputs()]
        producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
        self._extra = {
            "onnxruntime": ort.__version__, "onnx": onnx.__version__,
            "providers": list(session.get_providers()), "ir_version": int(model.ir_version),
            "opsets": {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import},
            "producer": producer, "intra_op_threads": options.intra_op_num_threads,
            "warnings": warnings,
        }
        self._session = session

    def _providers(self, ort: Any) -> tuple[list[str], list[str]]:
        requested = list(self.options.get("providers") or ["CPUExecutionProvider"])
        unknown = [p for p in requested if p not in ort.get_all_providers()]
        if unknown:
            raise ConfigError(f"Unknown onnxruntime provider(s) {unknown}.", path=_where(self.spec, "options.providers"),
                              fix=f"Use names from: {', '.join(ort.get_all_providers())}.")
        available = ort.get_available_providers()
        missing = [p for p in requested if p not in available]
        chosen = [p for p in requested if p in available]
        if "CPUExecutionProvider" not in chosen:
            chosen.append("CPUExecutionProvider")
        warnings = []
        if missing:
            hint = " (install onnxruntime-gpu and the CUDA libraries)" if "CUDAExecutionProvider" in missing else ""
            warnings.append(f"Provider(s) {', '.join(missing)} asked for but not available in this "
                            f"onnxruntime build{hint}; running on {', '.join(chosen)}.")
            log.warning("%s: %s", getattr(self.spec, "qualified_name", "onnx"), warnings[-1])
        return chosen, warnings

    def unload(self) -> None:
        """Drop the session (its memory and thread pools go with it)."""
        self._session = None

    # -- describing ------------------------------------------------------------------------

    def metadata(self) -> AdapterMetadata:
        """Inputs and outputs as the session reports them, plus runtime versions and providers."""
        return AdapterMetadata(platform="onnxruntime_onnx",
                               inputs=[p.spec() for p in self._inputs],
                               outputs=[p.spec() for p in self._outputs], extra=dict(self._extra))

    # -- predicting ------------------------------------------------------------------------

    def predict(self, batch: Batch) -> dict[str, np.ndarray]:
        """Run the session on the batch; every output by name (zipmap maps become 2-D arrays)."""
        session = self._session
        if session is None:
            raise ModelNotReady("The ONNX model is not loaded in this worker.",
                                fix="Wait for readiness (GET /v2/health/ready).")
        feeds = {p.name: p.coerce(arr) for p, arr in self._match(batch)}
        try:
            results = session.run(None, feeds)
        except Exception as e:
            # INVALID_ARGUMENT is ORT's verdict on the feed (dims, types); anything else is the model's fault
            if type(e).__name__ == "InvalidArgument" or isinstance(e, ValueError):
                raise InvalidInput(f"The ONNX model rejected the input: {_clean(e)}.",
                                   fix=f"Expected inputs: {self._describe()}.") from e
            raise
        return {p.name: _output_array(value) for p, value in zip(self._outputs, results)}

    def _match(self, batch: Batch) -> Iterator[tuple["_Port", Any]]:
        """Pair each model input with the data that feeds it."""
        if len(self._inputs) == 1:
            port = self._inputs[0]
            tensors = batch.tensors
            if tensors is not None and port.name in tensors:
                if len(tensors) > 1:
                    raise InvalidInput(f"Unexpected input(s) {sorted(set(tensors) - {port.name})}.",
                                       fix=f"This model takes one input: {self._describe()}.")
                yield port, tensors[port.name]
            else:  # rows, or one tensor under another name, or one 1-D tensor per column
                yield port, batch.array()
            return
        given = batch.named_tensors()
        missing = [p.name for p in self._inputs if p.name not in given]
        extra = sorted(set(given) - {p.name for p in self._inputs})
        if missing or extra:
            raise InvalidInput(f"Inputs do not match the model: missing {missing}, unexpected {extra}.",
                               fix=f"Send one value per input: {self._describe()}.")
        for port in self._inputs:
            yield port, given[port.name]

    def _describe(self) -> str:
        return ", ".join(f"{p.name} {p.oip}{list(p.shape)}" for p in self._inputs)


class _Port:
    """One session input/output: name, numpy dtype, OIP datatype, shape (-1 = any)."""

    __slots__ = ("name", "ort_type", "dtype", "oip", "shape")

    def __init__(self, name: str, ort_type: str, shape: tuple[int, ...]) -> None:
        self.name, self.ort_type, self.shape = name, ort_type, shape
        if ort_type in _TYPES:
            self.dtype, self.oip = _TYPES[ort_type]
        elif ort_type.startswith(("seq(map(", "map(")):  # sklearn ZipMap probabilities
            self.dtype, self.oip, self.shape = np.float32, "FP32", (-1, -1)
        else:
            self.dtype, self.oip = np.object_, "BYTES"

    @classmethod
    def of(cls, node: Any) -> "_Port":
        """From an ORT ``NodeArg``; symbolic and unknown dimensions become -1."""
        shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (node.shape or []))
        return cls(node.name, node.type, shape or (-1,))

    def spec(self) -> TensorSpec:
        """The OIP metadata entry."""
        return TensorSpec(self.name, self.oip, self.shape)

    def coerce(self, value: Any) -> np.ndarray:
        """The value as this input's dtype and rank, or InvalidInput saying what differs."""
        arr = np.asarray(value)
        want = np.dtype(self.dtype)
        if arr.dtype != want or want.kind == "O":  # object arrays may hold bytes (OIP BYTES)
            arr = self._cast(arr, want)
        rank = len(self.shape)
        if arr.ndim == rank - 1 and rank >= 2 and self.shape[-1] == 1:
            arr = arr.reshape(*arr.shape, 1)  # one column per input arrives as [rows]
        bad_dim = arr.ndim == rank and any(w >= 0 and w != g for w, g in zip(self.shape, arr.shape))
        if arr.ndim != rank or bad_dim:
            raise InvalidInput(
                f"Input {self.name!r} expects shape {list(self.shape)} ({self.oip}); got shape {list(arr.shape)}.",
                fix="-1 is any size; send rows with exactly the expected number of values.")
        return arr

    def _cast(self, arr: np.ndarray, want: np.dtype) -> np.ndarray:
        kind = arr.dtype.kind
        if want.kind == "O":
            if kind in "SO":
                return np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else str(v),
                                    otypes=[object])(arr)
            return arr.astype(str).astype(object)
        ok = ((want.kind == "f" and kind in "fiub")
              or (want.kind in "iu" and kind in "iub")
              or (want.kind in "iu" and kind == "f" and bool(np.all(np.isfinite(arr) & (arr == np.round(arr)))))
              or (want.kind == "b" and kind in "iu" and bool(np.isin(arr, (0, 1)).all())))
        if not ok and kind in "OU":  # rows decoded from JSON as objects or strings
            try:
                return arr.astype(want)
            except (ValueError, TypeError, OverflowError):
                pass
        if not ok:
            raise InvalidInput(
                f"Input {self.name!r} expects {self.oip} values; got {arr.dtype.name} values "
                f"that cannot be converted without loss.",
                fix=f"Send {self.oip} values for {self.name!r}.")
        return arr.astype(want)


def _output_array(value: Any) -> np.ndarray:
    """ORT outputs are arrays, or lists of dicts (ZipMap) that become [rows, classes]."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        keys = list(value[0])
        return np.array([[row[k] for k in keys] for row in value], dtype=np.float32)
    return np.asarray(value)


def _load_error(e: Exception, model: Any, name: str, ort_version: str) -> ArtifactError:
    """Turn an ORT session-creation failure into an ArtifactError with a reason code."""
    kind, msg = type(e).__name__, _clean(e)
    if "is not a registered function/op" in msg or "No opset import for domain" in msg:
        return ArtifactError(f"The ONNX model {name!r} needs an operator onnxruntime does not have: {msg}.",
                             fix="Export it with standard ONNX operators only; custom-op libraries are not "
                                 "loaded by veneer.", code="custom_op")
    if "opset" in msg.lower():
        limit = re.search(r"till opset (\d+)", msg)
        used = {(o.domain or "ai.onnx"): o.version for o in model.opset_import}
        return ArtifactError(
            f"The ONNX model {name!r} uses opsets {used}, which onnxruntime {ort_version} does not support"
            + (f" (ai.onnx up to {limit.group(1)})" if limit else f": {msg}") + ".",
            fix="Re-export with an older target_opset, or upgrade onnxruntime.", code="unsupported_opset")
    if "IR version" in msg:
        return ArtifactError(f"The ONNX model {name!r}: {msg}.", code="unsupported_ir_version",
                             fix="Re-export with an older onnx package, or upgrade onnxruntime.")
    if kind in ("InvalidProtobuf", "InvalidGraph"):
        return ArtifactError(f"The ONNX model {name!r} is invalid: {msg}.", code="corrupt_model",
                             fix="Re-export the model and run onnx.checker.check_model on it.")
    return ArtifactError(f"onnxruntime cannot load the ONNX model {name!r}: {msg}.", code="load_failed")


def _clean(e: Exception) -> str:
    """ORT's message without its error-code prefix and C++ source locations."""
    return _SOURCE_REF.sub("", _ORT_PREFIX.sub("", str(e).strip())).strip().rstrip(".")


def _where(spec: Any, key: str | None = None) -> str:
    name = getattr(spec, "qualified_name", "") or "model"
    version = getattr(spec, "version", "?")
    return f"models.{name} version {version}" + (f" {key}" if key else "")
