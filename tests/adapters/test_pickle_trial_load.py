"""Memory bombs made of allowed parts, caught by the trial load under RLIMIT_AS (CASES.md D63)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adapters.conftest import spec
from tests.adapters.pickle_fixtures import call_pickle, touch_command
from veneer.adapters.pickle_file import PickleAdapter
from veneer.wrapper.errors import ArtifactError

from .test_pickle_adapter import adapter_for, churn, rows_batch, save  # noqa: F401 - churn is a fixture


# -- D63: memory bombs made of allowed parts, caught by the trial load under RLIMIT_AS ------------

@pytest.mark.slow
def test_memory_bomb_refused_by_trial_load(tmp_path: Path) -> None:
    """A 100-byte pickle that asks pandas for an 8 GB frame: refused, the server's process untouched."""
    from tests.adapters.pickle_fixtures import Ref

    bomb = call_pickle("pandas", "DataFrame", 0.0, Ref("pandas", "RangeIndex", (100_000,)),
                       Ref("pandas", "RangeIndex", (10_000,)))
    path = tmp_path / "bomb.pkl"
    path.write_bytes(bomb)
    assert len(bomb) < 200
    a = PickleAdapter(spec("pickle", path=path, options={"load_memory_mb": 256}))
    with pytest.raises(ArtifactError) as ei:
        a.load()
    assert ei.value.code == "too_large" and "load_memory_mb" in str(ei.value)
    assert a.model is None


@pytest.mark.slow
def test_trial_load_passes_a_real_model_and_reports_refusals(tmp_path: Path, churn) -> None:
    path = save(churn[0], tmp_path / "c.joblib", "joblib-zlib3")
    a = adapter_for(path, options={"load_memory_mb": 256})
    assert a.predict(rows_batch(churn[1]))["predictions"].tolist() == churn[0].predict(churn[1]).tolist()
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(call_pickle("os", "system", touch_command(tmp_path / "pwned")))
    with pytest.raises(ArtifactError) as ei:
        PickleAdapter(spec("pickle", path=evil, options={"load_memory_mb": 256})).load()
    assert ei.value.code == "unsafe_pickle" and "os.system" in str(ei.value)
    assert not (tmp_path / "pwned").exists()
