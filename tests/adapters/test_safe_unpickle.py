"""The allowlist unpickler against real exploits and real models (CASES D58-D63, D65, D71).

Every malicious pickle here is built at run time by ``pickle_fixtures`` (or by the real
pickler from a ``__reduce__``) and, where the target exists here, a control test shows
that plain ``pickle.loads`` of the same bytes really does run the payload: the refusal
is what keeps the marker file from appearing, not a broken fixture.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest

from tests.adapters.pickle_fixtures import (Ref, call_pickle, install_user_module, python_touch,
                                            touch_command)
from veneer.adapters._safe_unpickle import (UnsafePickleError, picklescan_verdict, safe_loads,
                                            trusted_loads)
from veneer.wrapper.errors import ArtifactError


@pytest.fixture()
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


def refused(data: bytes, **kw) -> UnsafePickleError:
    with pytest.raises(UnsafePickleError) as ei:
        safe_loads(data, **kw)
    assert ei.value.code == "unsafe_pickle"
    return ei.value


class _Reduce:
    """Pickles as ``func(*args)`` through the real pickler (what an attacker's script writes)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


# -- D58: direct code execution ------------------------------------------------------------------

def test_control_plain_pickle_really_runs_the_payload(marker: Path) -> None:
    pickle.loads(call_pickle("os", "system", touch_command(marker), proto=0))
    assert marker.exists()


@pytest.mark.parametrize("proto", [0, 4])
@pytest.mark.parametrize("module,name,payload", [
    ("os", "system", "shell"), ("posix", "system", "shell"), ("nt", "system", "shell"),
    ("builtins", "eval", "python"), ("builtins", "exec", "python"),
    ("subprocess", "getoutput", "shell"), ("subprocess", "Popen", "shell"),
    ("subprocess", "check_output", "shell"), ("__builtin__", "eval", "python"),
])
def test_code_execution_globals_refused(marker: Path, module: str, name: str, payload: str,
                                        proto: int) -> None:
    arg = touch_command(marker) if payload == "shell" else python_touch(marker)
    err = refused(call_pickle(module, name, arg, proto=proto))
    expected = "builtins.eval" if module == "__builtin__" and proto == 0 else f"{module}.{name}"
    assert err.global_name == expected
    assert repr(expected) in str(err) and "trusted: true" in str(err)
    assert not marker.exists()


def test_real_pickler_reduce_exploit_refused(marker: Path) -> None:
    data = pickle.dumps(_Reduce(os.system, touch_command(marker)), protocol=5)
    err = refused(data)
    assert err.global_name in ("posix.system", "nt.system")
    assert not marker.exists()


def test_exploit_inside_a_legit_looking_model(marker: Path) -> None:
    """The gadget sits in a dict beside a real estimator: the whole load is refused."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    data = pickle.dumps({"model": model, "hook": _Reduce(eval, python_touch(marker))}, protocol=4)
    assert refused(data).global_name == "builtins.eval"
    assert not marker.exists()


# -- D59: indirection gadgets --------------------------------------------------------------------

@pytest.mark.parametrize("gadget", [
    Ref("importlib", "import_module", ("os",)),
    Ref("pkgutil", "resolve_name", ("os:system",)),
    Ref("operator", "attrgetter", ("system",)),
    Ref("operator", "methodcaller", ("system", "id")),
    Ref("functools", "partial", (Ref("os", "system"), "id")),
    Ref("inspect", "getattr_static", ("x", "y")),
    Ref("pydoc", "locate", ("os.system",)),
    Ref("cProfile", "run", ("import os",)),
    Ref("logging", "FileHandler", ("/tmp/veneer-should-not-exist",)),
    Ref("urllib.request", "urlopen", ("http://127.0.0.1:9/",)),
    Ref("builtins", "__import__", ("os",)),
    Ref("builtins", "compile", ("1", "x", "eval")),
    Ref("builtins", "open", ("/etc/passwd",)),
    Ref("types", "FunctionType", ("x",)),
    Ref("runpy", "run_path", ("/tmp/x.py",)),
    Ref("ctypes", "CDLL", ("libc.so.6",)),
], ids=lambda r: f"{r.module}.{r.name}")
def test_indirection_gadgets_refused(gadget: Ref) -> None:
    data = b"\x80\x04" + call_pickle(gadget.module, gadget.name, *gadget.args)[2:]
    assert refused(data).global_name == f"{gadget.module}.{gadget.name}"


def test_getattr_chain_refused_at_first_link(marker: Path) -> None:
    data = call_pickle("builtins", "getattr", Ref("importlib", "import_module", ("os",)), "system")
    assert refused(data).global_name == "importlib.import_module"


def test_getattr_only_reaches_allowlisted_names_of_allowlisted_classes() -> None:
    # getattr on a non-class value: refused as a gadget
    err = refused(call_pickle("builtins", "getattr", "a string", "upper"))
    assert "getattr" in err.global_name
    # getattr(np.ndarray, "tofile") is checked as the global numpy.ndarray.tofile: a function
    err = refused(call_pickle("builtins", "getattr", Ref("numpy", "ndarray"), "tofile"))
    assert err.global_name == "numpy.ndarray.tofile" and "function" in str(err)
    # walking into dunders through a dotted name is refused as malformed
    for name in ("BaseEstimator.__init__.__globals__", "BaseEstimator.__class__", "BaseEstimator.__init__"):
        assert "plain dotted name" in str(refused(call_pickle("sklearn.base", name)))
    err = refused(call_pickle("builtins", "getattr", Ref("numpy", "ndarray"), "__class__"))
    assert "plain dotted name" in str(err)


# -- D60, D61: nested deserializers and scanner tampering ---------------------------------------

@pytest.mark.parametrize("module,name", [
    ("pickle", "loads"), ("_pickle", "loads"), ("marshal", "loads"), ("numpy", "load"),
    ("joblib", "load"), ("torch", "load"), ("dill", "loads"), ("pandas", "read_pickle"),
    ("fickling", "load"), ("picklescan.scanner", "scan_pickle_bytes"), ("modelscan", "scan"),
])
def test_nested_deserializers_and_scanners_refused(module: str, name: str) -> None:
    err = refused(call_pickle(module, name, b"\x80\x04N."))
    assert err.global_name == f"{module}.{name}"
    assert "only `trusted: true`" in str(err).lower() or "trusted: true" in str(err)


# -- inside the allowed roots ---------------------------------------------------------------------

@pytest.mark.parametrize("module,name,why", [
    ("numpy.lib._npyio_impl", "load", "run code"), ("numpy.testing", "rundocs", "run code"),
    ("numpy.f2py", "compile", "run code"), ("numpy.ctypeslib", "load_library", "run code"),
    ("numpy", "memmap", "run code"), ("numpy", "fromfile", "run code"),
    ("pandas", "eval", "run code"), ("pandas.io.pickle", "read_pickle", "run code"),
    ("pandas.core.computation.eval", "eval", "run code"), ("scipy.io", "loadmat", "run code"),
    ("sklearn.datasets", "fetch_openml", "run code"), ("sklearn.utils._testing", "TempMemmap", "run code"),
    ("scipy._lib._uarray._backend", "unpickle_function", "run code"),
    ("numpy", "ones", "function"), ("numpy.random", "seed", "function"),
    ("sklearn.base", "clone", "function"), ("numpy", "DataSource", "run code"),
])
def test_dangerous_parts_of_allowed_libraries_refused(module: str, name: str, why: str) -> None:
    err = refused(call_pickle(module, name, "x"))
    assert err.global_name == f"{module}.{name}"
    assert why in str(err)


def test_allow_modules_cannot_readmit_gadgets() -> None:
    assert refused(call_pickle("os", "system", "id"), allow_modules=["os"]).global_name == "os.system"
    assert refused(call_pickle("builtins", "eval", "1"), allow_modules=["builtins"]).global_name == "builtins.eval"


@pytest.fixture()
def mylib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A user module on sys.path, as a legacy project's own feature code would be."""
    return install_user_module(tmp_path, monkeypatch)


def test_user_module_needs_allow_modules(mylib) -> None:
    data = pickle.dumps(mylib.Thing(3), protocol=4)
    err = refused(data)
    assert err.global_name == "veneer_test_mylib.Thing"
    assert "allow_modules" in str(err)
    assert safe_loads(data, allow_modules=["veneer_test_mylib"]).predict([[1, 2]]) == [9]
    assert safe_loads(data, allow_modules=["veneer_test_mylib:Thing"]).k == 3
    assert refused(pickle.dumps(mylib.double), allow_modules=["veneer_test_mylib:Thing"])


def test_user_module_reexports_are_judged_where_they_live(mylib) -> None:
    allow = ["veneer_test_mylib"]
    err = refused(call_pickle("veneer_test_mylib", "system", "id"), allow_modules=allow)
    assert "posix.system" in str(err) or "nt.system" in str(err)
    err = refused(call_pickle("veneer_test_mylib", "partial", Ref("veneer_test_mylib", "double")),
                  allow_modules=allow)
    assert "functools.partial" in str(err)
    assert "module" in str(refused(call_pickle("veneer_test_mylib", "os"), allow_modules=allow))


def test_main_module_classes_get_a_hint() -> None:
    err = refused(call_pickle("__main__", "MyModel"))
    assert "script that saved the model" in str(err)


# -- modifying globals in place ------------------------------------------------------------------

def test_build_on_a_class_refused() -> None:
    """BUILD with slot state on a class would monkeypatch it for every model in the process."""
    from sklearn.pipeline import Pipeline

    before = Pipeline.__dict__["predict"]
    body = (b"\x8c\x10sklearn.pipeline\x8c\x08Pipeline\x93"   # the class itself
            b"N}\x8c\x07predict\x8c\x08builtins\x8c\x03str\x93s\x86b.")  # BUILD (None, {predict: str})
    err = refused(b"\x80\x04" + body)
    assert "modify it in place" in str(err)
    assert Pipeline.__dict__["predict"] is before


def test_setitems_on_a_module_level_dict_refused(mylib) -> None:
    body = b"\x8c\x11veneer_test_mylib\x8c\x08REGISTRY\x93(\x8c\x01k\x8c\x01vu."  # SETITEMS
    with pytest.raises(UnsafePickleError):
        safe_loads(b"\x80\x04" + body, allow_modules=["veneer_test_mylib:REGISTRY"])
    assert mylib.REGISTRY == {}


# -- D63: resource bombs inside allowed types ----------------------------------------------------

def test_reconstruct_with_huge_shape_refused() -> None:
    data = call_pickle("numpy._core.multiarray", "_reconstruct", Ref("numpy", "ndarray"), (10**12,), b"b")
    with pytest.raises(ArtifactError) as ei:
        safe_loads(data)
    assert ei.value.code == "too_large"
    assert "(1000000000000,)" in str(ei.value)


@pytest.mark.parametrize("name", ["bytearray", "bytes"])
def test_zero_filled_buffer_bombs_refused(name: str) -> None:
    with pytest.raises(ArtifactError) as ei:
        safe_loads(call_pickle("builtins", name, 10**11))
    assert ei.value.code == "too_large"
    assert safe_loads(call_pickle("builtins", name, b"ok")) == b"ok"


def test_range_is_not_admitted() -> None:
    """list(range(10**10)) would be a 4-byte bomb; no model pickle needs range."""
    assert refused(call_pickle("builtins", "list", Ref("builtins", "range", (10**10,)))).global_name == "builtins.range"


def test_setstate_with_huge_shape_but_little_data_fails_cleanly() -> None:
    arr = np.arange(4, dtype="f8")
    data = pickle.dumps(arr, protocol=2).replace(b"K\x04\x85", b"J\x00\x00\x00\x40\x85")  # shape (2**30,)
    with pytest.raises(ArtifactError) as ei:
        safe_loads(data)
    assert ei.value.code == "corrupt"


def test_joblib_array_header_larger_than_file_refused() -> None:
    buf = io.BytesIO()
    joblib.dump(np.zeros(12345), buf, protocol=2)
    data = buf.getvalue()
    assert data.count(b"M90") == 1  # BININT2 12345 in the wrapper's shape
    bomb = data.replace(b"M90", b"J\xff\xff\xff\x7f")  # shape (2**31-1,): 16 GiB declared
    with pytest.raises(ArtifactError) as ei:
        safe_loads(bomb)
    assert ei.value.code == "corrupt" and "only" in str(ei.value)


def test_codecs_encode_limited_to_text_codecs() -> None:
    assert safe_loads(call_pickle("_codecs", "encode", "\xff", "latin1")) == b"\xff"
    assert refused(call_pickle("_codecs", "encode", "x", "zlib_codec")).global_name == "_codecs.encode"


# -- D62: broken files ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sk_model():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), X


def test_truncated_pickle_is_corrupt(sk_model) -> None:
    data = pickle.dumps(sk_model[0], protocol=5)
    for cut in (len(data) // 2, len(data) - 1, 3):
        with pytest.raises(ArtifactError) as ei:
            safe_loads(data[:cut])
        assert ei.value.code == "corrupt", cut


def test_unknown_protocol_and_empty_file() -> None:
    for data in (b"\x80\x07N.", b""):
        with pytest.raises(ArtifactError) as ei:
            safe_loads(data)
        assert ei.value.code == "unsupported_format"


def test_out_of_band_buffers_are_corrupt() -> None:
    data = pickle.dumps(pickle.PickleBuffer(b"abc"), protocol=5, buffer_callback=lambda b: False)
    with pytest.raises(ArtifactError) as ei:
        safe_loads(data)
    assert ei.value.code == "corrupt" and "out-of-band" in str(ei.value)


def test_persistent_ids_are_corrupt() -> None:
    with pytest.raises(ArtifactError) as ei:
        safe_loads(b"\x80\x04\x8c\x03pid" + b"Q.")  # BINPERSID, as torch.save writes
    assert ei.value.code == "corrupt"


def test_zip_and_npy_refused_by_name() -> None:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", call_pickle("os", "system", "id"))
    with pytest.raises(ArtifactError) as ei:
        safe_loads(buf.getvalue())
    assert ei.value.code == "unsupported_format" and "ZIP" in str(ei.value)
    npy = io.BytesIO()
    np.save(npy, np.zeros(3))
    with pytest.raises(ArtifactError) as ei:
        safe_loads(npy.getvalue())
    assert "npy" in str(ei.value)


# -- trusted and D71 -------------------------------------------------------------------------------

def test_trusted_loads_anything(mylib, caplog: pytest.LogCaptureFixture) -> None:
    assert trusted_loads(pickle.dumps(mylib.double)) is mylib.double
    assert "trusted" in caplog.text


def test_scanner_disagreement_allowlist_wins() -> None:
    pytest.importorskip("picklescan", reason="picklescan is not installed")
    data = call_pickle("numpy.testing", "rundocs", "x")
    assert picklescan_verdict(data).startswith("clean")  # picklescan lets it pass...
    refused(data)                                         # ...the allowlist does not
    assert picklescan_verdict(call_pickle("os", "system", "id")) == "dangerous: os.system"
