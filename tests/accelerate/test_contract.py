"""The accelerated wrapper against the shared adapter contract, in shadow and after promotion."""

from __future__ import annotations

import pandas as pd
import pytest

from veneer.wrapper.batch import Batch

from tests.adapters.contract import AdapterContractTests

from .conftest import make_spec


class _Churn(AdapterContractTests):
    probe = False

    @pytest.fixture
    def adapter(self, build):
        from veneer.sidecar.model_store import build_adapter

        return build_adapter(make_spec(build / "churn_2017.joblib", outputs=["predict", "predict_proba"],
                                       probe=build / "churn_sample.csv" if self.probe else None,
                                       audit_every=2))

    @pytest.fixture
    def good_batch(self, build):
        return Batch.from_frame(pd.read_csv(build / "churn_sample.csv").head(5))

    @pytest.fixture
    def bad_batch(self, build):
        return Batch.from_frame(pd.read_csv(build / "churn_sample.csv").head(2).drop(columns=["contract"]))


class TestAcceleratedInShadow(_Churn):
    """Never promoted here: scikit-learn answers and ONNX is compared on every request."""


class TestAcceleratedPromoted(_Churn):
    """Promoted by the probe file before the first answer: ONNX answers, every 2nd request audited."""

    probe = True

    def test_onnx_answers(self, loaded, good_batch):
        """The suite above really ran the ONNX path."""
        loaded.predict(good_batch)
        assert loaded.engine() == "onnx" and loaded.check_report()["state"] == "promoted"
