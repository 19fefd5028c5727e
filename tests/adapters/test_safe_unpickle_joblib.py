"""joblib containers through the allowlist unpickler (CASES.md D65)."""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path

import joblib
import numpy as np
import pytest

from tests.adapters.pickle_fixtures import touch_command
from veneer.adapters._safe_unpickle import safe_loads
from veneer.wrapper.errors import ArtifactError

from .test_safe_unpickle import _Reduce, refused
from .test_safe_unpickle import marker, mylib, sk_model  # noqa: F401 - fixtures used by name


# -- D65: joblib containers -----------------------------------------------------------------------

COMPRESSIONS = [0, 3, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3),
                pytest.param(("lz4", 3), marks=pytest.mark.skipif(
                    joblib.compressor.lz4 is None, reason="lz4 is not installed"))]


@pytest.mark.parametrize("compress", COMPRESSIONS, ids=str)
def test_joblib_benign_loads(sk_model, compress) -> None:
    model, X = sk_model
    buf = io.BytesIO()
    joblib.dump(model, buf, compress=compress)
    loaded = safe_loads(buf.getvalue())
    assert loaded.predict_proba(X).tolist() == model.predict_proba(X).tolist()


@pytest.mark.parametrize("compress", COMPRESSIONS, ids=str)
def test_joblib_malicious_compressed_refused(marker: Path, compress) -> None:
    buf = io.BytesIO()
    joblib.dump({"m": _Reduce(os.system, touch_command(marker))}, buf, compress=compress)
    assert refused(buf.getvalue()).global_name in ("posix.system", "nt.system")
    assert not marker.exists()


def test_joblib_object_array_goes_through_the_allowlist(mylib) -> None:
    """joblib writes object arrays as a nested pickle; it gets the same allowlist."""
    arr = np.array([mylib.Thing(5), None], dtype=object)
    buf = io.BytesIO()
    joblib.dump({"a": arr, "n": np.arange(3)}, buf)
    assert refused(buf.getvalue()).global_name == "veneer_test_mylib.Thing"
    out = safe_loads(buf.getvalue(), allow_modules=["veneer_test_mylib"])
    assert out["a"][0].k == 5 and out["n"].tolist() == [0, 1, 2]


def test_decompression_bomb_refused() -> None:
    bomb = zlib.compress(b"\x80\x04" + b"N" * (4 << 20) + b".", 9)
    assert len(bomb) < 20_000
    with pytest.raises(ArtifactError) as ei:
        safe_loads(bomb, max_bytes=1 << 20)
    assert ei.value.code == "too_large"


def test_truncated_compressed_is_corrupt(sk_model) -> None:
    buf = io.BytesIO()
    joblib.dump(sk_model[0], buf, compress=3)
    with pytest.raises(ArtifactError) as ei:
        safe_loads(buf.getvalue()[:-20])
    assert ei.value.code == "corrupt"


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_joblib_array_layouts_round_trip() -> None:
    objs = {"f": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "be": np.arange(3, dtype=">i4"),
            "m": np.matrix([[1, 2]]), "rec": np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]),
            "empty": np.zeros((0, 3)), "scalar0d": np.array(7.5)}
    buf = io.BytesIO()
    joblib.dump(objs, buf)
    out = safe_loads(buf.getvalue())
    for k, v in objs.items():
        assert type(out[k]) is type(v) and np.array_equal(out[k], v), k
    assert out["f"].flags.f_contiguous and out["be"].dtype.isnative
