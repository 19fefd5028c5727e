"""ONNX artifacts that must be refused before onnxruntime sees them (CASES.md D67, D68)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import ArtifactError

from .conftest import linear_model
from .test_onnx_adapter import EXPECTED, ROWS, loaded, onnx_adapter


# -- artifacts (CASES 67, 68) -----------------------------------------------------------------

def save_external(folder: Path, location: str = "weights.bin") -> Path:
    """The linear model with every initializer in an external file ``location``."""
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save_model(linear_model(), str(path), save_as_external_data=True,
                    all_tensors_to_one_file=True, location=location, size_threshold=0)
    return path


def point_external_data(path: Path, location: str) -> None:
    """Rewrite every external-data ``location`` in the saved model (what an attacker would ship)."""
    import onnx

    model = onnx.load_model(str(path), load_external_data=False)
    for t in model.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                entry.value = location
    path.write_bytes(model.SerializeToString())


@pytest.fixture
def no_session(monkeypatch):
    """Fail the test if onnxruntime is ever asked to build a session (refusals come first)."""
    import onnxruntime

    def refuse(*a, **kw):
        raise AssertionError("InferenceSession was created for a model that should have been refused")

    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)


def test_external_data_inside_the_folder_loads(tmp_path):
    path = save_external(tmp_path / "m")
    assert (tmp_path / "m" / "weights.bin").stat().st_size > 0
    out = loaded(path).predict(Batch(columns=list("abc"), rows=ROWS))
    np.testing.assert_allclose(out["y"], EXPECTED, rtol=1e-6)


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink_out", "hardlink", "symlink_dir_out"])
def test_external_data_escaping_the_folder_is_refused_before_ort(tmp_path, how, no_session):
    path = save_external(tmp_path / "m")
    weights = tmp_path / "m" / "weights.bin"
    outside = tmp_path / "outside" / "weights.bin"  # a valid weights file: only the path is wrong
    outside.parent.mkdir()
    outside.write_bytes(weights.read_bytes())
    if how == "dotdot":
        point_external_data(path, "../outside/weights.bin")
    elif how == "absolute":
        point_external_data(path, str(outside))
    elif how == "symlink_out":
        weights.unlink()
        weights.symlink_to(outside)
    elif how == "symlink_dir_out":
        (tmp_path / "m" / "sub").symlink_to(outside.parent)
        point_external_data(path, "sub/weights.bin")
    else:
        weights.unlink()
        os.link(outside, weights)
    with pytest.raises(ArtifactError) as info:
        onnx_adapter(path).load()
    assert info.value.code == "external_data_escape"
    assert "weights.bin" in str(info.value) and "inside the model's folder" in str(info.value)


def test_etc_passwd_location_is_refused(tmp_path, no_session):
    path = save_external(tmp_path / "a" / "b")
    point_external_data(path, "../../etc/passwd")
    with pytest.raises(ArtifactError, match=r"'\.\./\.\./etc/passwd'.*climbs out") as info:
        onnx_adapter(path).load()
    assert info.value.code == "external_data_escape"


def test_external_data_out_of_file_bounds_is_corrupt(tmp_path):
    path = save_external(tmp_path / "m")
    (tmp_path / "m" / "weights.bin").write_bytes(b"\0" * 4)
    with pytest.raises(ArtifactError, match="bytes") as info:
        onnx_adapter(path).load()
    assert info.value.code == "corrupt_model"


@pytest.mark.parametrize("content, code", [
    (b"\x08\x07garbage\xff\xff\x00\x01", "corrupt_model"),
    (b"", "corrupt_model"),
    (b"not an onnx model at all, just text\n", "corrupt_model"),
])
def test_corrupt_file_is_refused_with_a_reason(tmp_path, content, code):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ArtifactError) as info:
        onnx_adapter(path).load()
    assert info.value.code == code
    msg = str(info.value)
    assert "bad.onnx" in msg and ("Re-export" in msg or "Point `path:`" in msg), msg


def test_truncated_model_is_corrupt(tmp_path, linear_onnx):
    path = tmp_path / "cut.onnx"
    path.write_bytes(linear_onnx.read_bytes()[:-25])
    with pytest.raises(ArtifactError) as info:
        onnx_adapter(path).load()
    assert info.value.code == "corrupt_model"


def test_unsupported_opset_is_refused(tmp_path):
    import onnx

    path = tmp_path / "future.onnx"
    onnx.save_model(linear_model(opset=99), str(path))
    with pytest.raises(ArtifactError, match=r"opsets \{'ai.onnx': 99\}.*up to \d+") as info:
        onnx_adapter(path).load()
    assert info.value.code == "unsupported_opset"
    assert "/onnxruntime_src" not in str(info.value)


def test_custom_op_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Frobnicate", ["x"], ["y"], domain="acme.ops")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])])
    path = tmp_path / "custom.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                            helper.make_opsetid("acme.ops", 1)]), str(path))
    with pytest.raises(ArtifactError, match="Frobnicate") as info:
        onnx_adapter(path).load()
    assert info.value.code == "custom_op"


def test_sha256_pin_mismatch_is_refused(linear_onnx):
    with pytest.raises(ArtifactError) as info:
        onnx_adapter(linear_onnx, sha256="0" * 64).load()
    assert info.value.code == "hash_mismatch"
