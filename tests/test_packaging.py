"""Packaging: one import root, a light import, and a wheel with nothing but ``veneer``."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import veneer

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """A fresh interpreter started outside the checkout (so the bare folders are not on sys.path)."""
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_public_names_are_pinned():
    assert sorted(veneer.__all__) == ["Client", "__version__", "model", "serve"]
    for name in veneer.__all__:
        assert getattr(veneer, name) is not None


def test_importing_veneer_and_the_sidecar_imports_no_heavy_library(tmp_path):
    code = ("import sys, veneer, veneer.sidecar, veneer.sidecar.app, veneer.sidecar.cli, veneer.wrapper.config, "
            "veneer.adapters.registry\n"
            "heavy = [m for m in ('onnxruntime', 'mlflow', 'sklearn', 'skl2onnx', 'docker', 'onnx') if m in sys.modules]\n"
            "print(heavy)\n")
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_bare_folder_names_are_not_importable(tmp_path):
    code = ("import importlib.util\n"
            "print([n for n in ('wrapper', 'adapters', 'sidecar') if importlib.util.find_spec(n)])\n")
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_wheel_holds_only_the_veneer_namespace(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("veneer-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    roots = {n.split("/")[0] for n in names}
    assert roots == {"veneer", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    for expected in ("veneer/sidecar/app.py", "veneer/wrapper/config.py", "veneer/adapters/onnx.py",
                     "veneer/adapters/accelerate/__init__.py", "veneer/sidecar/auth/__init__.py",
                     "veneer/sidecar/static/docs/veneer-docs.js"):
        assert expected in names, expected
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "veneer = veneer.sidecar.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
