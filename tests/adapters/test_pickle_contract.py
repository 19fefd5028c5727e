"""The pickle adapter against the shared adapter contract, on a named pipeline and an unnamed-matrix model."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest

from veneer.adapters.pickle_file import PickleAdapter
from veneer.wrapper.batch import Batch

from .conftest import sha256_of, spec
from .contract import AdapterContractTests


@pytest.fixture(scope="module")
def churn_joblib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A compressed joblib churn pipeline: scaled tenure/spend, one-hot plan, logistic regression."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.RandomState(11)
    frame = pd.DataFrame({"tenure": rng.rand(60) * 10, "plan": rng.choice(["basic", "pro"], 60),
                          "spend": rng.rand(60) * 100})
    y = (frame.tenure < 4).astype(int)
    pipe = Pipeline([("pre", ColumnTransformer([("num", StandardScaler(), ["tenure", "spend"]),
                                                ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])])),
                     ("clf", LogisticRegression())]).fit(frame, y)
    path = tmp_path_factory.mktemp("pickle-contract") / "churn.joblib"
    joblib.dump(pipe, path, compress=3)
    return path


class TestPicklePipelineContract(AdapterContractTests):
    @pytest.fixture
    def adapter(self, churn_joblib):
        return PickleAdapter(spec("pickle", path=churn_joblib, sha256=sha256_of(churn_joblib),
                                  options={"outputs": ["predict", "predict_proba"]}))

    @pytest.fixture
    def good_batch(self):
        return Batch(columns=["plan", "tenure", "spend"],
                     rows=[["pro", 1.5, 20.0], ["basic", 8.0, 75.5], ["pro", 5.0, 0.0]])

    @pytest.fixture
    def bad_batch(self):
        return Batch(columns=["plan", "tenure"], rows=[["pro", 1.5]])


class TestPickleForestContract(AdapterContractTests):
    @pytest.fixture
    def adapter(self, iris_like, tmp_path):
        from sklearn.ensemble import RandomForestClassifier

        X, y, _ = iris_like
        path = tmp_path / "forest.pkl"
        joblib.dump(RandomForestClassifier(n_estimators=4, random_state=0).fit(X, y), path)
        return PickleAdapter(spec("pickle", path=path))

    @pytest.fixture
    def good_batch(self, iris_like):
        return Batch(tensors={"input-0": iris_like[0][:6]})

    @pytest.fixture
    def bad_batch(self):
        return Batch(rows=[[0.1, 0.2, "high", 0.4]])
