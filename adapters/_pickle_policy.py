"""Which globals a pickle may name: the allowlist policy of the safe unpickler.

A pickle runs code only through the globals it names (``GLOBAL``/``STACK_GLOBAL``
opcodes, resolved by ``find_class``) and then calls. So the policy decides, for
each ``module.name``, before anything is imported:

1. **Denied, always** (unless the version is ``trusted``): code execution, import
   and attribute-lookup indirection, file/network access, nested deserializers and
   scanners (``_DENIED_MODULES``, ``_DENIED_NAMES``), including the parts of numpy,
   scipy, scikit-learn and pandas that read files or evaluate strings. This wins
   over ``allow_modules``: naming ``os`` there does not admit ``os.system``.
2. **Exact stdlib constructors** (``EXACT``): container and value types pickles of
   models really contain (``set``, ``slice``, ``OrderedDict``, ``datetime``...).
3. **Library roots** (``ROOTS``: numpy, scipy, sklearn, pandas): classes, numpy
   ufuncs, pickle reconstructors (``_reconstruct``, ``__pyx_unpickle_*``...), and
   functions of the few modules whose functions are estimator parameters
   (``SelectKBest(score_func=f_classif)``). Other functions are refused: a function
   is a call the attacker chooses, and ``numpy.ones((10**12,))`` needs no import.
4. **The config's ``allow_modules``**: ``"pkg.mod"`` admits any non-module object
   defined in that module tree; ``"pkg.mod:name"`` admits exactly one global.

After import, the object's own ``__module__`` is checked again, so a re-export
(``somelib.partial`` being ``functools.partial``) is judged by where it lives.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any, Iterable

ROOTS = ("numpy", "scipy", "sklearn", "pandas")

#: Module trees never admitted: execution, import indirection, files, network, deserializers.
_DENIED_MODULES = frozenset({
    "os", "posix", "nt", "posixpath", "ntpath", "subprocess", "_posixsubprocess", "pty", "sys",
    "importlib", "pkgutil", "runpy", "zipimport", "imp", "code", "codeop", "ctypes", "_ctypes",
    "multiprocessing", "concurrent", "threading", "_thread", "signal", "asyncio",
    "socket", "ssl", "select", "selectors", "urllib", "http", "ftplib", "smtplib", "telnetlib",
    "xmlrpc", "webbrowser", "shutil", "tempfile", "glob", "io", "_io", "pathlib", "fileinput",
    "zipfile", "tarfile", "gzip", "bz2", "lzma", "shelve", "dbm", "sqlite3",
    "pickle", "_pickle", "pickletools", "marshal", "copy", "dill", "cloudpickle", "joblib",
    "torch", "tensorflow", "keras", "yaml", "jsonpickle", "skops",
    "fickling", "picklescan", "modelscan",
    "inspect", "pydoc", "cProfile", "profile", "pdb", "bdb", "timeit", "trace", "logging",
    "operator", "_operator", "functools", "_functools", "types", "gc", "weakref", "site",
    "sysconfig", "platform", "distutils", "setuptools", "pip",
    "numpy.testing", "numpy.f2py", "numpy.distutils", "numpy.ctypeslib", "numpy.lib.npyio",
    "numpy.lib._npyio_impl", "numpy.lib.format", "numpy.lib._format_impl", "numpy.lib._datasource",
    "numpy.lib._iotools", "numpy.lib.utils", "numpy.lib._utils_impl", "numpy._core._internal",
    "numpy.core._internal", "numpy._core.memmap", "numpy.core.memmap", "numpy._pytesttester",
    "numpy._utils", "numpy.__config__",
    "scipy.io", "scipy.datasets", "scipy.misc", "scipy._lib", "scipy.weave", "scipy.LowLevelCallable",
    "sklearn.datasets", "sklearn.utils._testing", "sklearn.utils.estimator_checks",
    "sklearn.utils._estimator_html_repr", "sklearn.utils._show_versions", "sklearn.utils.discovery",
    "sklearn.utils.parallel", "sklearn.utils._joblib", "sklearn.utils._user_interface",
    "sklearn.tree._export", "sklearn.externals", "sklearn._config", "sklearn.experimental",
    "sklearn.__check_build", "sklearn._build_utils", "sklearn.set_config", "sklearn.config_context",
    "pandas.io", "pandas.testing", "pandas._testing", "pandas.util", "pandas.plotting",
    "pandas.core.computation", "pandas._config", "pandas.compat", "pandas.api", "pandas.conftest",
    "pandas.read_pickle", "pandas.eval", "pandas.set_option", "pandas.core.config_init",
})

#: Single globals never admitted although their module is harmless (builtins' reflection and I/O).
_DENIED_NAMES = frozenset({
    f"builtins.{n}" for n in ("eval", "exec", "compile", "open", "__import__", "getattr", "setattr",
                              "delattr", "globals", "locals", "vars", "input", "breakpoint",
                              "help", "exit", "quit", "memoryview", "type", "super", "__build_class__")
} | {"numpy.load", "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.fromfile",
     "numpy.loadtxt", "numpy.genfromtxt", "numpy.savetxt", "numpy.memmap", "numpy.fromregex",
     "numpy.DataSource", "numpy.vectorize", "numpy.frompyfunc", "numpy.ufunc.__call__"})

#: stdlib globals admitted exactly (value and container types found in pickled models).
EXACT = frozenset({
    *(f"builtins.{n}" for n in ("set", "frozenset", "slice", "complex", "object", "bytes", "str",
                                "int", "float", "bool", "list", "dict", "tuple",
                                "bytearray", "NotImplemented", "Ellipsis")),
    "collections.OrderedDict", "collections.defaultdict", "collections.deque", "collections.Counter",
    "copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__",
    "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta", "datetime.timezone",
    "decimal.Decimal", "fractions.Fraction", "uuid.UUID", "_codecs.encode",
    # time zones of tz-aware pandas data: rebuilt by zone name from the tz database
    "zoneinfo.ZoneInfo", "zoneinfo.ZoneInfo._unpickle", "pytz._p", "pytz._UTC",
    # pandas >= 3 backs string columns with pyarrow; these rebuild its arrays from buffers
    "pyarrow.lib._restore_array", "pyarrow.lib.py_buffer", "pyarrow.lib.type_for_alias",
})

#: Reconstructor functions inside ROOTS, by name: they rebuild an object of a class that is
#: itself passed through the policy, and take no callable argument.
_RECONSTRUCTOR = re.compile(
    r"^(_reconstruct|scalar|_frombuffer|_new_\w+|newObj|__pyx_unpickle_\w+|_?_?unpickle\w*"
    r"|_\w+_unpickle|__\w+_ctor|_mareconstruct|_restore\w*|__nat_unpickle)$")

#: Modules inside ROOTS whose plain functions are estimator parameters, pure computation.
_FUNCTION_MODULES = ("sklearn.feature_selection", "sklearn.metrics", "scipy.special", "scipy.stats")

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SCALARS = (int, float, complex, str, bytes, bool, type(None))


def _under(module: str, trees: Iterable[str]) -> str | None:
    for tree in trees:
        if module == tree or module.startswith(tree + "."):
            return tree
    return None


def denied(module: str, name: str) -> bool:
    """``module.name`` is a known gadget or file/exec path (refused even if allow-listed)."""
    full = f"{module}.{name}"
    return (_under(module, _DENIED_MODULES) is not None or _under(full, _DENIED_MODULES) is not None
            or full in _DENIED_NAMES)


def well_formed(module: str, name: str) -> bool:
    """Dotted identifiers only; a dotted name (nested class) has no ``__`` part (``C.__init__``)."""
    if not (isinstance(module, str) and isinstance(name, str)):
        return False
    if not (_DOTTED.match(module) and _DOTTED.match(name)):
        return False
    parts = name.split(".")
    return len(parts) == 1 or not any(p.startswith("__") for p in parts)


class Grant:
    """Why a global may be imported: ``exact``, ``root`` or ``user`` (from ``allow_modules``)."""

    EXACT, ROOT, USER = "exact", "root", "user"


def parse_allow(allow_modules: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Split ``allow_modules`` entries into whole module trees and exact ``mod:name`` globals."""
    trees, exact = set(), set()
    for entry in allow_modules:
        mod, sep, name = str(entry).strip().partition(":")
        (exact.add(f"{mod}.{name}") if sep else trees.add(mod))
    return frozenset(trees), frozenset(exact)


def grant(module: str, name: str, trees: frozenset[str], exact: frozenset[str]) -> str | None:
    """The grant under which ``module.name`` may be imported, or None."""
    full = f"{module}.{name}"
    if full in EXACT:
        return Grant.EXACT
    if full in exact or _under(module, trees):
        return Grant.USER
    if _under(module, ROOTS):
        return Grant.ROOT
    return None


def kind_refusal(obj: Any, how: str, canonical: str) -> str | None:
    """Why ``obj`` (resolved under grant ``how``) is not admitted, or None if it is."""
    if isinstance(obj, ModuleType):
        return "it is a module (a pickle can reach any function through a module)"
    if how == Grant.EXACT:
        return None
    if how == Grant.USER:
        return None
    if isinstance(obj, type):
        return None
    if type(obj).__name__ == "ufunc" and type(obj).__module__ == "numpy":
        return None  # elementwise math, takes no callable
    if callable(obj):
        short = canonical.rpartition(".")[2]
        if _RECONSTRUCTOR.match(short) or _under(canonical.rpartition(".")[0], _FUNCTION_MODULES):
            return None
        return ("it is a function, and only classes, ufuncs and pickle reconstructors are "
                "admitted from numpy, scipy, scikit-learn and pandas")
    if isinstance(obj, _SCALARS):
        return None
    return f"it is a module-level {type(obj).__name__} object, which the pickle could modify"


def canonical_name(obj: Any, module: str, name: str) -> str:
    """Where ``obj`` is really defined (``__module__.__qualname__``), else the requested name."""
    mod = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if isinstance(mod, str) and isinstance(qual, str) and not isinstance(obj, ModuleType):
        return f"{mod}.{qual}"
    return f"{module}.{name}"
