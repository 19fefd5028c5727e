"""The table of adapters, found by short name and imported only when used.

Importing veneer never imports onnxruntime or mlflow: the table holds dotted
paths, and ``get_adapter_class`` imports one on first use, turning a missing
optional dependency into an ``ImportError`` that says which extra to install
(the fsspec registry pattern). A full ``"package.module:Class"`` path works too,
and third-party adapters can register through the ``veneer.adapters`` entry-point
group, read on the first lookup of an unknown name.
"""

from __future__ import annotations

import difflib
import importlib
import types
from typing import Any

from veneer.wrapper.errors import ConfigError

KNOWN_ADAPTERS: dict[str, dict[str, str]] = {
    "http": {"class": "veneer.adapters.http:HttpAdapter",
             "err": "the http adapter needs only veneer's core dependencies"},
    "mlflow": {"class": "veneer.adapters.mlflow_model:MlflowAdapter",
               "err": "install the MLflow extra: pip install 'veneer[mlflow]'"},
    "onnx": {"class": "veneer.adapters.onnx:OnnxAdapter",
             "err": "install the ONNX extra: pip install 'veneer[onnx]'"},
    "pickle": {"class": "veneer.adapters.pickle_file:PickleAdapter",
               "err": "install scikit-learn and joblib: pip install 'veneer[sklearn]'"},
    "python": {"class": "veneer.adapters.python_code:PythonAdapter",
               "err": "the python adapter needs only veneer's core dependencies"},
}
assert list(KNOWN_ADAPTERS) == sorted(KNOWN_ADAPTERS), "keep KNOWN_ADAPTERS sorted"

_registered: dict[str, Any] = {}
_entry_points_read = False

#: Read-only view of adapters registered at run time (classes or dotted paths).
registry = types.MappingProxyType(_registered)


def register_adapter(name: str, cls_or_path: Any, clobber: bool = False) -> None:
    """Make ``name`` resolve to a class (or ``"pkg.mod:Class"``); refuses silent overwrite."""
    if not clobber and (name in _registered or name in KNOWN_ADAPTERS):
        raise ValueError(f"An adapter named {name!r} is already registered; pass clobber=True to replace it.")
    _registered[name] = cls_or_path


def known_names() -> list[str]:
    """All adapter names that can be asked for."""
    _read_entry_points()
    return sorted(set(KNOWN_ADAPTERS) | set(_registered))


def get_adapter_class(name: str) -> type:
    """The adapter class for ``name``; unknown names list the known ones."""
    target = _registered.get(name)
    if target is None and name in KNOWN_ADAPTERS:
        target = KNOWN_ADAPTERS[name]["class"]
    if target is None and ":" in name:
        target = name
    if target is None:
        _read_entry_points()
        target = _registered.get(name)
    if target is None:
        close = difflib.get_close_matches(name, known_names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"Unknown adapter {name!r}.{hint} Known adapters: {', '.join(known_names())}.")
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        err = KNOWN_ADAPTERS.get(name, {}).get("err", f"install the package that provides {module_name!r}")
        raise ImportError(f"Adapter {name!r} cannot be imported ({e}); {err}.") from e
    try:
        return getattr(module, attr)
    except AttributeError as e:
        raise ConfigError(f"Adapter path {target!r}: module {module_name!r} has no {attr!r}.") from e


def _read_entry_points() -> None:
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="veneer.adapters"):
        _registered.setdefault(ep.name, ep.value)
