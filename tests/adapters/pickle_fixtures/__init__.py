"""Malicious and broken pickles, generated at run time (never committed as binaries).

``call_pickle(module, name, *args)`` writes the opcodes of ``module.name(*args)`` by
hand, so a pickle can name a global whose module is not installed (``torch``,
``fickling``) and no real pickler is needed to build a weapon. Arguments may be
``str``, ``int``, ``bytes``, lists of those, or ``Ref(module, name[, args])`` for a
nested call (gadget chains such as ``getattr(import_module("os"), "system")``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Ref:
    """A global, called with ``args`` when ``args`` is not None (a nested gadget)."""

    module: str
    name: str
    args: tuple[Any, ...] | None = None


def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    return (b"\x8c" + bytes([len(b)]) + b) if len(b) < 256 else (b"X" + struct.pack("<I", len(b)) + b)


def _value(v: Any) -> bytes:
    if isinstance(v, Ref):
        out = _str(v.module) + _str(v.name) + b"\x93"  # STACK_GLOBAL
        if v.args is not None:
            out += b"(" + b"".join(_value(a) for a in v.args) + b"t"
            out += b"R"  # REDUCE
        return out
    if isinstance(v, bool):
        return b"\x88" if v else b"\x89"
    if isinstance(v, int):
        return b"\x8a" + bytes([8]) + v.to_bytes(8, "little", signed=True)  # LONG1
    if isinstance(v, float):
        return b"G" + struct.pack(">d", v)  # BINFLOAT
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, bytes):
        return b"C" + bytes([len(v)]) + v if len(v) < 256 else b"B" + struct.pack("<I", len(v)) + v
    if isinstance(v, (list, tuple)):
        body = b"(" + b"".join(_value(x) for x in v)
        return body + (b"t" if isinstance(v, tuple) else b"l")
    if v is None:
        return b"N"
    raise TypeError(f"cannot encode {v!r}")


def call_pickle(module: str, name: str, *args: Any, proto: int = 4) -> bytes:
    """Pickle bytes whose load calls ``module.name(*args)``.

    ``proto=0`` writes the text ``GLOBAL`` opcode (``c module\\nname``), as in the
    classic ``cos\\nsystem`` exploit; otherwise protocol 4 with ``STACK_GLOBAL``.
    """
    if proto == 0:
        if not all(isinstance(a, str) for a in args):
            raise TypeError("protocol 0 form takes str arguments only")
        strs = b"".join(b"V" + a.encode("raw_unicode_escape") + b"\n" for a in args)
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n(" + strs + b"tR."
    return b"\x80\x04" + _value(Ref(module, name, tuple(args))) + b"."


def touch_command(marker: Path) -> str:
    """A shell command that proves execution by creating ``marker``."""
    return f"touch {marker}"


def python_touch(marker: Path) -> str:
    """Python source that proves execution by creating ``marker``."""
    return f"open({str(marker)!r}, 'w').write('pwned')"


USER_MODULE = "veneer_test_mylib"
_USER_SOURCE = '''
import os
from os import system
from functools import partial

import numpy as np

REGISTRY = {}


class Thing:
    def __init__(self, k=2):
        self.k = k

    def predict(self, X):
        return [self.k * sum(r) for r in np.asarray(X, dtype=float)]


def double(x):
    return 2 * x


def total(X):
    return np.asarray(X, dtype=float).sum(axis=1)
'''


def install_user_module(folder: Path, monkeypatch: Any) -> Any:
    """Write and import ``veneer_test_mylib`` (a legacy project's own code) from ``folder``.

    It re-exports ``os.system`` and ``functools.partial`` the way real modules import
    them, so tests can check that a re-export is judged where it is defined.
    """
    import importlib
    import sys

    (folder / f"{USER_MODULE}.py").write_text(_USER_SOURCE)
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop(USER_MODULE, None)
    monkeypatch.setitem(sys.modules, USER_MODULE, importlib.import_module(USER_MODULE))
    return sys.modules[USER_MODULE]
