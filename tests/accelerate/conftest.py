"""Example models for the acceleration tests, and a private promotion-state folder per test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from veneer.wrapper.settings import VersionSpec

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "examples" / "legacy_models" / "build"
FOREST_COLUMNS = ["age", "income", "loan_amount", "loan_term_months", "credit_score", "debt_to_income",
                  "num_open_accounts", "num_delinquencies"]


def _need(*names: str) -> None:
    missing = [n for n in names if not (BUILD / n).exists()]
    if missing:
        pytest.skip(f"example models not built ({', '.join(missing)}): "
                    "run .venv/bin/python examples/legacy_models/build_all.py")


@pytest.fixture
def build() -> Path:
    """The built example models folder (skips when absent)."""
    _need("forest_100.joblib", "gbm.joblib", "churn_2017.joblib", "forest_holdout.csv", "churn_holdout.csv")
    return BUILD


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch) -> Path:
    """Promotion state of this test only (never the checkout's .veneer-state)."""
    folder = tmp_path / "state"
    monkeypatch.setenv("VENEER_STATE_DIR", str(folder))
    return folder


def make_spec(path: Path, *, outputs: list[str] | None = None, model: str = "m", probe: Path | None = None,
              **accel: Any) -> VersionSpec:
    """A pickle version with ``accelerate: onnx`` as the config loader would build it."""
    options: dict[str, Any] = {"accelerate": accel}
    if outputs:
        options["outputs"] = outputs
    return VersionSpec(version="1", adapter="pickle", path=path, model=model, prefix="t", trusted=True,
                       accelerate="onnx", probe=probe, options=options, origin=f"{REPO}/veneer.yaml:1")


def loaded(spec: VersionSpec) -> Any:
    """The accelerated pickle adapter of ``spec``, loaded (as the model store would build it)."""
    from veneer.sidecar.model_store import build_adapter

    adapter = build_adapter(spec)
    adapter.load()
    return adapter
