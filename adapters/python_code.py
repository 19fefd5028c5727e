"""Serve a plain Python function: ``module:function``, a platform ``model.py``, or a decorated function.

Three ways in, one way out:

- ``options.callable: "pricing.score:predict"`` imports the function (``options.search_path``
  is put first on ``sys.path``) and calls ``f(df)`` or ``f(df, params)``;
- ``path: model.py`` in the in-house hosting platform's style: the file is executed
  unchanged under a unique module name (from the bytes checked against ``sha256``),
  ``init(artifact_dir=...)`` runs once in ``load()``, then ``predict(df)`` per request
  (``predict(df, **params)`` when it takes keyword arguments);
- ``PythonAdapter.from_callable(func, spec)`` for ``@veneer.model`` functions.

Functions may be ``async``: each calling thread keeps a private event loop (a gthread
worker reuses its threads), which costs ~13 µs per call against ~160 µs for ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any, Callable, ClassVar

from veneer.adapters._artifact import read_verified
from veneer.adapters.base import AdapterMetadata, BaseAdapter, TensorSpec
from veneer.wrapper.batch import Batch, normalize_outputs
from veneer.wrapper.errors import ArtifactError, ConfigError, InvalidInput, ModelNotReady, VeneerError

_CALLABLE = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"
_TENSOR_LIST = {"type": "array", "items": {
    "type": "object", "required": ["name", "datatype"], "additionalProperties": False,
    "properties": {"name": {"type": "string"}, "datatype": {"type": "string"},
                   "shape": {"type": "array", "items": {"type": "integer"}}}}}


class PythonAdapter(BaseAdapter):
    """A Python function called with the request's rows as a pandas DataFrame."""

    fork_safe: ClassVar[bool] = True
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "callable": {"type": ["string", "null"], "pattern": _CALLABLE, "default": None,
                         "description": "The function to serve, as 'package.module:function'."},
            "search_path": {"type": ["string", "null"], "default": None,
                            "description": "Folder (relative to the config file) put first on sys.path "
                                           "before importing `callable`."},
            "init_kwargs": {"type": "object", "default": {},
                            "description": "Extra keyword arguments for a model.py's init()."},
            "inputs": {**_TENSOR_LIST, "default": [],
                       "description": "Declared inputs for metadata (name, OIP datatype, shape)."},
            "outputs": {**_TENSOR_LIST, "default": [],
                        "description": "Declared outputs for metadata (name, OIP datatype, shape)."},
        },
    }

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self._given: Callable[..., Any] | None = None   # set by from_callable
        self._func: Callable[..., Any] | None = None
        self._style = "df"  # "df" | "df_params" | "df_kwargs": how params reach the function
        self._form = "callable"
        self._name = ""
        self._local = threading.local()
        self._loops: list[tuple[int, asyncio.AbstractEventLoop]] = []
        self._lock = threading.Lock()

    @classmethod
    def from_callable(cls, func: Callable[..., Any], spec: Any) -> "PythonAdapter":
        """An adapter around an already imported function (``@veneer.model``); ``load()`` imports nothing."""
        if not callable(func):
            raise TypeError(f"from_callable needs a function, got {func!r}.")
        adapter = cls(spec)
        adapter._given = func
        return adapter

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Import (or take) the function; for a model.py, execute it and run ``init`` once."""
        target = self.options.get("callable")
        path = getattr(self.spec, "path", None)
        if self._given is not None:
            func, self._form = self._given, "decorated"
            self._name = f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', '?')}"
        elif target and path is not None:
            raise ConfigError("The python adapter takes either `path:` (a model.py) or `options.callable`, "
                              "not both.", path=_where(self.spec))
        elif target:
            func, self._form, self._name = self._import_callable(str(target)), "callable", str(target)
        elif path is not None:
            func, self._form = self._exec_model_file(Path(path)), "platform"
            self._name = f"{Path(path).name}:predict"
        else:
            raise ConfigError("The python adapter needs `options.callable: module:function` or "
                              "`path: model.py`.", path=_where(self.spec))
        self._style = _call_style(func, self._form)
        self._func = func

    def _import_callable(self, target: str) -> Callable[..., Any]:
        module_name, _, attr = target.partition(":")
        search = self.options.get("search_path")
        if search and str(search) not in sys.path:
            sys.path.insert(0, str(search))
        try:
            obj: Any = importlib.import_module(module_name)
        except Exception as e:  # ImportError, or whatever the module raises at import
            raise ArtifactError(f"Importing {module_name!r} for {target!r} failed: {type(e).__name__}: {e}.",
                                fix="Check the module name and options.search_path.", code="import_failed") from e
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError as e:
                raise ArtifactError(f"Module {module_name!r} has no {attr!r}.",
                                    fix="Check the function name after ':'.", code="import_failed") from e
        if not callable(obj):
            raise ArtifactError(f"{target!r} is a {type(obj).__name__}, not a function.", code="import_failed")
        return obj

    def _exec_model_file(self, path: Path) -> Callable[..., Any]:
        """Run model.py from the verified bytes under a unique module name; call its ``init``."""
        source = read_verified(path, getattr(self.spec, "sha256", None), what="model.py", max_bytes=16 * 1024**2)
        key = hashlib.sha256(f"{path}|{getattr(self.spec, 'version', '')}".encode()).hexdigest()[:12]
        name = f"veneer_user_{re.sub(r'[^0-9A-Za-z_]', '_', Path(path).stem)}_{key}"
        mod_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(mod_spec)  # sets __file__: the model finds its files
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.append(folder)  # sibling imports, after installed packages so nothing is shadowed
        sys.modules[name] = module
        try:
            exec(compile(source, str(path), "exec"), module.__dict__)
        except Exception as e:
            sys.modules.pop(name, None)
            raise ArtifactError(f"Running {path.name!r} failed: {type(e).__name__}: {e}.",
                                fix="Fix the error in the file (it is run unchanged, as the platform did).",
                                code="import_failed") from e
        predict = getattr(module, "predict", None)
        if not callable(predict):
            raise ArtifactError(f"{path.name!r} defines no predict(df) function.",
                                fix="The platform style needs a module-level predict(df, *args, **kwargs).",
                                code="import_failed")
        init = getattr(module, "init", None)
        if callable(init):
            kwargs = {"artifact_dir": folder, **dict(self.options.get("init_kwargs") or {})}
            try:
                self._await(init(**_accepted(init, kwargs)))
            except Exception as e:
                raise ArtifactError(f"init() of {path.name!r} failed: {type(e).__name__}: {e}.",
                                    code="init_failed") from e
        return predict

    def unload(self) -> None:
        """Forget the function and close the event loops this process made for it."""
        self._func = None
        with self._lock:
            loops, self._loops = self._loops, []
        for pid, loop in loops:
            if pid == os.getpid() and not loop.is_running():
                loop.close()

    # -- describing and predicting -------------------------------------------------------------

    def metadata(self) -> AdapterMetadata:
        """Declared inputs/outputs (``options.inputs``/``outputs``), else one generic table input."""
        declared = [_tensor(t) for t in self.options.get("inputs") or []]
        extra = {"python": sys.version.split()[0], "form": self._form, "function": self._name,
                 "async": bool(self._func and inspect.iscoroutinefunction(self._func))}
        if not declared:
            extra["note"] = "inputs not declared: the function receives the rows as a DataFrame"
        return AdapterMetadata(platform="python", inputs=declared or [TensorSpec("input", "BYTES", (-1, -1))],
                               outputs=[_tensor(t) for t in self.options.get("outputs") or []], extra=extra)

    def predict(self, batch: Batch) -> dict[str, Any]:
        """Call the function on ``batch.frame()``; its ValueError/KeyError/TypeError become 422."""
        func = self._func
        if func is None:
            raise ModelNotReady("The Python model is not loaded.", fix="Wait for readiness (GET /v2/health/ready).")
        frame = batch.frame()
        params = dict(batch.params or {})
        try:
            if self._style == "df_params":
                result = func(frame, params)
            elif self._style == "df_kwargs" and params:
                result = func(frame, **params)
            else:
                result = func(frame)
            result = self._await(result)
        except (ValueError, KeyError, TypeError) as e:
            if isinstance(e, VeneerError):
                raise
            detail = f"missing key {e}" if isinstance(e, KeyError) else str(e)
            raise InvalidInput(f"The model rejected the input: {type(e).__name__}: {detail}",
                               fix="Check the columns and values the model expects.") from e
        return _check_output(result, batch.n_rows, self._name)

    def _await(self, value: Any) -> Any:
        """Run an awaitable on this thread's private loop (made on first use, per process)."""
        if not inspect.isawaitable(value):
            return value
        local = self._local
        loop = getattr(local, "loop", None)
        if loop is None or loop.is_closed() or local.pid != os.getpid():
            loop = asyncio.new_event_loop()
            local.loop, local.pid = loop, os.getpid()
            with self._lock:
                self._loops.append((os.getpid(), loop))
        return loop.run_until_complete(value)


def _call_style(func: Callable[..., Any], form: str) -> str:
    """How params are passed: ``f(df, params)`` (a second positional), ``f(df, **params)`` (platform), or not."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return "df"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    has_var_pos = any(p.kind is p.VAR_POSITIONAL for p in params)
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    if form == "platform":
        return "df_kwargs" if has_var_kw else "df"
    if len(positional) >= 2 or (positional and has_var_pos):
        return "df_params"
    if not positional and not has_var_pos:
        raise ArtifactError(f"{getattr(func, '__qualname__', func)!r} takes no positional argument; "
                            "veneer calls f(df) or f(df, params).", code="import_failed")
    return "df"


def _accepted(func: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``func`` can take (all of them when it has ``**kwargs``)."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return kwargs
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in kwargs.items() if k in names}


def _check_output(result: Any, n_rows: int, name: str) -> dict[str, Any]:
    """Normalized outputs, or a 500 that names the function and what it returned."""
    problem = None
    if result is None or isinstance(result, (str, bytes)) or not (
            isinstance(result, (dict, list, tuple)) or hasattr(result, "__array__") or hasattr(result, "to_numpy")):
        problem = f"a {type(result).__name__}"
    else:
        try:
            outputs = normalize_outputs(result)
        except (ValueError, TypeError) as e:  # ragged lists, unconvertible values
            problem = f"a {type(result).__name__} that is not a table ({e})"
        else:
            for key, arr in outputs.items():
                if arr.ndim == 0 or arr.shape[0] != n_rows:
                    problem = f"output {key!r} with shape {list(arr.shape)} for {n_rows} input rows"
                    break
            if not outputs:
                problem = "no outputs"
    if problem:
        raise VeneerError(f"The model function {name!r} returned {problem}; expected a DataFrame, array, "
                          f"list or dict of arrays with one entry per input row.",
                          fix="Fix the function's return value.", code="bad_model_output")
    return outputs


def _tensor(t: dict[str, Any]) -> TensorSpec:
    return TensorSpec(str(t["name"]), str(t["datatype"]), tuple(t.get("shape") or (-1,)))


def _where(spec: Any) -> str:
    return f"models.{getattr(spec, 'qualified_name', '') or 'model'} version {getattr(spec, 'version', '?')}"
