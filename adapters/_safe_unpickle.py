"""Load pickle and joblib bytes through an allowlist, so a model file cannot run code.

``safe_loads(data, allow_modules=...)`` sniffs the bytes (pickle, or joblib's
zlib/gzip/bz2/xz/lzma/lz4 containers, inflated in memory under a size cap), then
unpickles with ``SafeUnpickler``: every global the pickle names goes through the
policy of ``_pickle_policy`` before it is even imported, and anything refused
raises ``UnsafePickleError`` naming the global. ``trusted_loads`` is the plain
joblib/pickle load for versions marked ``trusted: true``.

``SafeUnpickler`` is Python's pure-Python unpickler (``pickle._Unpickler``) because
its opcodes can be overridden: it refuses ``BUILD``/``SETITEM``/``APPEND`` on classes
and on module-level objects (which would monkeypatch the process for every later
model), reads joblib's in-line numpy arrays itself (never calling joblib's loader,
whose object-array path unpickles with whatever it was given), checks declared array
sizes against the bytes actually present, and bounds ``numpy``'s ``_reconstruct``.
"""

from __future__ import annotations

import _compat_pickle
import importlib
import io
import logging
import math
import pickle
import struct
import warnings
from types import ModuleType
from typing import Any, Callable, Iterable

import numpy as np

from veneer.adapters import _pickle_policy as policy
from veneer.adapters._artifact import DEFAULT_MAX_BYTES, decompress_capped, sniff_format
from veneer.wrapper.errors import ArtifactError

log = logging.getLogger(__name__)

_MAX_NESTING = 4  # joblib nests one pickle per object array; deeper is not a joblib file
_ENCODINGS = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1", "utf-8", "utf8", "ascii"})


class UnsafePickleError(ArtifactError):
    """The pickle names a global the allowlist refuses; ``details["global_name"]`` says which."""

    code = "unsafe_pickle"

    def __init__(self, global_name: str, reason: str, *, what: str = "pickle", gadget: bool = False) -> None:
        fix = ("Only `trusted: true` on this version loads a pickle that reaches for it; do that "
               "only for a file you built yourself." if gadget else
               f"If you trust this file's origin, add {global_name.rpartition('.')[0]!r} (or "
               f"'{global_name.rpartition('.')[0]}:{global_name.rpartition('.')[2]}') to the version's "
               "allow_modules, or mark the version `trusted: true`.")
        super().__init__(f"The {what} refers to {global_name!r}, which is refused: {reason}.",
                         fix=fix, global_name=global_name)
        self.global_name = global_name


class _ArrayWrapper:
    """Stands in for joblib's ``NumpyArrayWrapper`` so joblib's own reader is never called."""


class SafeUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """Allowlist unpickler over an in-memory file; see the module docstring."""

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, file: io.BytesIO, *, allow_modules: Iterable[str] = (), what: str = "pickle",
                 depth: int = 0) -> None:
        super().__init__(file, fix_imports=True)
        self._file = file
        self._size = len(file.getbuffer())
        self._allow = tuple(allow_modules)
        self._trees, self._exact = policy.parse_allow(self._allow)
        self._what = what
        self._depth = depth
        self._globals: dict[int, Any] = {}  # id -> object returned by find_class (kept alive)
        self._substitutes: dict[str, Callable[..., Any]] = {
            "_codecs.encode": _codecs_encode,
            "builtins.bytearray": self._bytearray,
            "builtins.bytes": self._bytes,
            "numpy._core.multiarray._reconstruct": self._reconstruct,
            "numpy.core.multiarray._reconstruct": self._reconstruct,
            "numpy._core._ufunc_reconstruct": self._ufunc_reconstruct,
            "numpy.core._ufunc_reconstruct": self._ufunc_reconstruct,
            "joblib.numpy_pickle.NumpyArrayWrapper": _ArrayWrapper,
            "builtins.getattr": self._getattr,
        }

    # -- globals ---------------------------------------------------------------------------------

    def find_class(self, module: str, name: str) -> Any:
        """Resolve ``module.name`` if the policy admits it, else raise ``UnsafePickleError``."""
        if self.proto < 3 and isinstance(module, str) and isinstance(name, str):
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            else:
                module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full = f"{module}.{name}"
        if not policy.well_formed(module, name):
            raise UnsafePickleError(full, "it is not a plain dotted name (a pickle never needs to reach "
                                    "dunder attributes through one)", what=self._what, gadget=True)
        if full in self._substitutes:
            return self._remember(self._substitutes[full])
        if full.startswith("joblib.numpy_pickle_compat."):
            raise ArtifactError(f"The {self._what} is a joblib < 0.10 dump ({full}).",
                                fix="Load it once with a trusted joblib and re-save it with joblib.dump.",
                                code="unsupported_format")
        if policy.denied(module, name):
            raise UnsafePickleError(full, "it can run code, import modules, or read and write files",
                                    what=self._what, gadget=True)
        how = policy.grant(module, name, self._trees, self._exact)
        if how is None and module == "__main__":
            raise UnsafePickleError(full, "it was defined in the script that saved the model, so no "
                                    "module can provide it; move it into an importable module and "
                                    "allow that module", what=self._what)
        if how is None:
            raise UnsafePickleError(full, "it is not on the allowlist (numpy, scipy, scikit-learn, "
                                    f"pandas{', ' + ', '.join(self._allow) if self._allow else ''})",
                                    what=self._what)
        obj = self._resolve(module, name)
        canonical = policy.canonical_name(obj, module, name)
        if canonical != full and how != policy.Grant.EXACT and not isinstance(obj, ModuleType):
            cmod, _, cname = canonical.rpartition(".")
            if policy.denied(cmod, cname) or policy.grant(cmod, cname, self._trees, self._exact) is None:
                raise UnsafePickleError(full, f"it is {canonical!r} re-exported", what=self._what,
                                        gadget=policy.denied(cmod, cname))
        why = policy.kind_refusal(obj, how, canonical)
        if why:
            raise UnsafePickleError(full, why, what=self._what)
        return self._remember(obj)

    def _resolve(self, module: str, name: str) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core -> numpy._core shim
                obj: Any = importlib.import_module(module)
            for i, part in enumerate(name.split(".")):
                if i and not isinstance(obj, type):  # dotted names walk nested classes only
                    raise AttributeError(f"{part!r} is looked up on a {type(obj).__name__}")
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as e:
            raise ArtifactError(
                f"The {self._what} needs {module}.{name}, which cannot be imported here ({e}).",
                fix="It was probably saved with another version of that library: install the version "
                    "it was saved with, or re-save the model with the installed one.",
                code="import_error", global_name=f"{module}.{name}") from e
        return obj

    def _remember(self, obj: Any) -> Any:
        self._globals[id(obj)] = obj
        return obj

    # -- bounded stand-ins -----------------------------------------------------------------------

    def _bytearray(self, *args: Any) -> bytearray:
        if args and isinstance(args[0], int) and args[0] > self._size:
            raise _bomb(self._what, f"bytearray({args[0]})", self._size)
        return bytearray(*args)

    def _bytes(self, *args: Any) -> bytes:
        if args and isinstance(args[0], int) and args[0] > self._size:
            raise _bomb(self._what, f"bytes({args[0]})", self._size)
        return bytes(*args)

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        if not (isinstance(subtype, type) and issubclass(subtype, np.ndarray)):
            raise UnsafePickleError("numpy._core.multiarray._reconstruct",
                                    f"it was asked to build a {subtype!r}, not an array", what=self._what)
        dims = (shape,) if isinstance(shape, int) else tuple(shape)
        nbytes = math.prod(int(d) for d in dims) * np.dtype(dtype).itemsize
        if nbytes > self._size:  # real pickles pass shape (0,) and fill the data in with BUILD
            raise _bomb(self._what, f"an array of shape {dims}", self._size)
        return np.ndarray.__new__(subtype, dims, dtype)

    def _getattr(self, obj: Any, name: Any) -> Any:
        # protocol >= 4 pickles classmethod reconstructors as getattr(Class, "name")
        # (zoneinfo.ZoneInfo._unpickle); only that shape, re-checked as the global Class.name
        if not (isinstance(obj, type) and id(obj) in self._globals and isinstance(name, str)):
            raise UnsafePickleError(f"builtins.getattr({type(obj).__name__}, {name!r})",
                                    "getattr is only admitted on an allow-listed class", what=self._what,
                                    gadget=True)
        return self.find_class(obj.__module__, f"{obj.__qualname__}.{name}")

    def _ufunc_reconstruct(self, module: str, name: str) -> Any:
        obj = self.find_class(module, name)
        if not isinstance(obj, np.ufunc):
            raise UnsafePickleError(f"{module}.{name}", "it is not a numpy ufunc", what=self._what)
        return obj

    # -- opcodes that modify an object -----------------------------------------------------------

    def _check_target(self, target: Any, op: str) -> None:
        if id(target) in self._globals or isinstance(target, (type, ModuleType)):
            label = policy.canonical_name(target, type(target).__module__, type(target).__qualname__)
            raise UnsafePickleError(label, f"the pickle tries to modify it in place ({op}), which would "
                                    "change it for the whole process", what=self._what, gadget=True)

    def _read_wrapped_array(self, w: _ArrayWrapper) -> np.ndarray:
        shape = tuple(int(d) for d in getattr(w, "shape", ()))
        dtype, order = getattr(w, "dtype", None), getattr(w, "order", "C")
        if not isinstance(dtype, np.dtype) or order not in ("C", "F"):
            raise _corrupt(self._what, "a joblib array header has no valid dtype/order")
        if dtype.hasobject:
            if self._depth >= _MAX_NESTING:
                raise _corrupt(self._what, "object arrays are nested deeper than joblib writes them")
            arr = SafeUnpickler(self._file, allow_modules=self._allow, what=self._what,
                                depth=self._depth + 1).load()
            if not isinstance(arr, np.ndarray):
                raise _corrupt(self._what, "a joblib object array holds no array")
        else:
            if getattr(w, "numpy_array_alignment_bytes", None) is not None:
                pad = self._file.read(1)
                self._file.read(pad[0] if pad else 0)
            count = math.prod(shape)
            nbytes = count * dtype.itemsize
            left = self._size - self._file.tell()
            if nbytes > left:
                raise _corrupt(self._what, f"an array of shape {shape} ({dtype}) needs {nbytes} bytes "
                               f"but only {left} follow")
            arr = np.empty(count, dtype=dtype)
            if nbytes:
                self._file.readinto(arr.view(np.uint8))
            arr = arr.reshape(shape[::-1]).transpose() if order == "F" else arr.reshape(shape)
        if not arr.dtype.isnative:
            arr = arr.byteswap().view(arr.dtype.newbyteorder("="))
        sub = getattr(w, "subclass", np.ndarray)
        if sub is np.matrix:
            return np.asmatrix(arr)
        if isinstance(sub, type) and issubclass(sub, np.ndarray) and sub is not np.ndarray:
            return arr.view(sub)
        return arr


def _guard(opcode: bytes, target: Callable[[SafeUnpickler], Any], op: str) -> None:
    base = pickle._Unpickler.dispatch[opcode[0]]  # type: ignore[attr-defined]

    def run(self: SafeUnpickler) -> None:
        try:
            obj = target(self)
        except IndexError:  # malformed stack: let the base opcode raise its own error
            obj = None
        if obj is not None:
            self._check_target(obj, op)
        base(self)
        if opcode == pickle.BUILD and isinstance(self.stack[-1], _ArrayWrapper):
            self.stack[-1] = self._read_wrapped_array(self.stack[-1])

    SafeUnpickler.dispatch[opcode[0]] = run


_guard(pickle.BUILD, lambda u: u.stack[-2], "BUILD")
_guard(pickle.SETITEM, lambda u: u.stack[-3], "SETITEM")
_guard(pickle.APPEND, lambda u: u.stack[-2], "APPEND")
_guard(pickle.SETITEMS, lambda u: u.metastack[-1][-1], "SETITEMS")
_guard(pickle.APPENDS, lambda u: u.metastack[-1][-1], "APPENDS")
_guard(pickle.ADDITEMS, lambda u: u.metastack[-1][-1], "ADDITEMS")


def _codecs_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` for protocol-2 bytes (latin-1/utf-8 only: other codecs import modules)."""
    if not isinstance(encoding, str) or encoding.lower().replace("_", "-") not in _ENCODINGS:
        raise UnsafePickleError("_codecs.encode", f"codec {encoding!r} is not a text encoding")
    return str(obj).encode(encoding, errors) if isinstance(obj, str) else bytes(obj)


def _bomb(what: str, thing: str, size: int) -> ArtifactError:
    return ArtifactError(f"The {what} asks for {thing}, far more memory than its {size} bytes can fill.",
                         fix="This is not a legitimate model file; do not load it.", code="too_large")


def _corrupt(what: str, why: str) -> ArtifactError:
    return ArtifactError(f"The {what} is damaged: {why}.", fix="Copy or re-save the file.", code="corrupt")


def unpack(data: bytes, *, what: str = "pickle", max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The raw pickle stream of ``data``: sniffed, and inflated when joblib compressed it."""
    fmt = sniff_format(data, what=what)
    if fmt == "pickle":
        return data
    inner = decompress_capped(data, fmt, max_bytes=max_bytes, what=what)
    if sniff_format(inner, what=f"{what} (inside its {fmt} compression)") != "pickle":
        raise ArtifactError(f"The {what} is compressed twice ({fmt}, then again).",
                            fix="joblib compresses once; re-save the model with joblib.dump.",
                            code="unsupported_format")
    return inner


def safe_loads(data: bytes, *, allow_modules: Iterable[str] = (), what: str = "pickle",
               max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """The object in pickle/joblib ``data``, admitting only allow-listed globals.

    Raises ``UnsafePickleError`` (code ``unsafe_pickle``) before any refused global is
    imported or called, and ``ArtifactError`` with ``unsupported_format``, ``corrupt``,
    ``too_large``, ``import_error`` (a global that does not exist here) for the other failures.
    """
    raw = unpack(data, what=what, max_bytes=max_bytes)
    return _run(lambda: SafeUnpickler(io.BytesIO(raw), allow_modules=allow_modules, what=what).load(), what)


def trusted_loads(data: bytes, *, what: str = "pickle", max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Plain joblib/pickle load of ``data``, for versions marked ``trusted: true`` (logged)."""
    log.warning("Loading the %s without the allowlist because its version is marked trusted: "
                "any code inside it runs with veneer's permissions.", what)
    raw = unpack(data, what=what, max_bytes=max_bytes)
    try:
        import joblib
    except ImportError:
        return _run(lambda: pickle.loads(raw), what)
    return _run(lambda: joblib.load(io.BytesIO(raw)), what)


def _run(load: Callable[[], Any], what: str) -> Any:
    try:
        return load()
    except ArtifactError:
        raise
    except MemoryError as e:
        raise ArtifactError(f"The {what} needs more memory than is available to load.",
                            fix="Load it on a larger machine if it is legitimate.", code="too_large") from e
    except RecursionError as e:
        raise _corrupt(what, "it is nested too deeply") from e
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error, UnicodeDecodeError, OverflowError) as e:
        raise ArtifactError(f"The {what} cannot be unpickled: {type(e).__name__}: {e}.",
                            fix="The file is truncated, damaged, uses out-of-band buffers, or was saved "
                                "with incompatible library versions; re-save it.",
                            code="corrupt") from e


def picklescan_verdict(data: bytes) -> str | None:
    """picklescan's opinion of ``data`` if it is installed (else None), for the load log.

    ``dangerous: a.b, ...`` when it flags globals as dangerous; ``clean`` otherwise, with
    the globals it only found unknown in parentheses (picklescan itself passes those).
    The allowlist alone decides whether the file loads (CASES D71).
    """
    try:
        from picklescan.scanner import SafetyLevel, scan_pickle_bytes
    except ImportError:
        return None
    try:
        result = scan_pickle_bytes(io.BytesIO(data), "artifact")
    except Exception as e:  # a scanner crash is a verdict to log, not a reason to fail the load
        return f"error: {type(e).__name__}: {e}"
    if result.scan_err:
        return "error: scan failed"

    def names(level: Any) -> list[str]:
        return sorted({f"{g.module}.{g.name}" for g in result.globals if g.safety == level})

    if names(SafetyLevel.Dangerous):
        return f"dangerous: {', '.join(names(SafetyLevel.Dangerous))}"
    unknown = names(SafetyLevel.Suspicious)
    return f"clean (unknown to it: {', '.join(unknown)})" if unknown else "clean"
