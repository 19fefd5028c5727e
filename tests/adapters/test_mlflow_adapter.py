"""The mlflow adapter on real MLflow models: a local folder and a SQLite-backed registry."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from veneer.adapters.mlflow_model import MlflowAdapter
from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import ArtifactError, ConfigError, InvalidInput, ModelNotReady

from tests.helpers.server import free_port

from .conftest import FRAUD_COLUMNS, PIP, spec
from .contract import AdapterContractTests

ROWS = [[75.0, 3, 1], [10.5, 14, 0], [99.0, 23, 1], [61.0, 0, 0]]


def loaded(**kw) -> MlflowAdapter:
    adapter = MlflowAdapter(spec("mlflow", **kw))
    adapter.load()
    return adapter


def fraud_batch(rows=ROWS) -> Batch:
    return Batch(columns=list(FRAUD_COLUMNS), rows=[list(r) for r in rows])


class TestMlflowLocalContract(AdapterContractTests):
    @pytest.fixture
    def adapter(self, mlflow_sklearn_dir):
        return MlflowAdapter(spec("mlflow", path=mlflow_sklearn_dir))

    @pytest.fixture
    def good_batch(self):
        return fraud_batch()

    @pytest.fixture
    def bad_batch(self):
        return Batch(columns=["amount", "hour"], rows=[[1.0, 2]])


def test_local_folder_predicts_like_the_sklearn_model(mlflow_sklearn_dir, fraud_model):
    import pandas as pd

    clf, _ = fraud_model
    out = loaded(path=mlflow_sklearn_dir).predict(fraud_batch())
    expected = clf.predict(pd.DataFrame(ROWS, columns=FRAUD_COLUMNS))
    assert np.asarray(out).tolist() == expected.tolist()
    assert expected.tolist() == [1, 0, 1, 0]  # the rule the classifier learned: big amount and foreign


def test_signature_becomes_metadata(mlflow_sklearn_dir):
    import mlflow

    meta = loaded(path=mlflow_sklearn_dir).metadata()
    assert meta.platform == "mlflow"
    assert [(t.name, t.datatype) for t in meta.inputs] == [("amount", "FP64"), ("hour", "INT64"),
                                                          ("foreign", "INT64")]
    assert [(t.name, t.datatype, t.shape) for t in meta.outputs] == [("predictions", "INT64", (-1,))]
    assert meta.extra["flavors"] == ["python_function", "sklearn"]
    assert meta.extra["loader_module"] == "mlflow.sklearn"
    assert meta.extra["mlflow"] == meta.extra["saved_with_mlflow"] == mlflow.__version__
    assert "source" not in meta.extra


def test_json_numbers_are_cast_to_the_signature_types(mlflow_sklearn_dir):
    adapter = loaded(path=mlflow_sklearn_dir)
    # amount as an integer (JSON 75), hour/foreign as floats (JSON 3.0): both convert without loss
    out = adapter.predict(Batch(columns=list(FRAUD_COLUMNS), rows=[[75, 3.0, 1.0], [10, 14.0, 0.0]]))
    assert np.asarray(out).tolist() == [1, 0]


def test_rows_without_column_names_take_the_signature_names(mlflow_sklearn_dir):
    out = loaded(path=mlflow_sklearn_dir).predict(Batch(tensors={"input-0": np.array(ROWS)}))
    assert np.asarray(out).tolist() == [1, 0, 1, 0]


def test_schema_violation_is_422_naming_the_column(mlflow_sklearn_dir):
    adapter = loaded(path=mlflow_sklearn_dir)
    with pytest.raises(InvalidInput, match="foreign") as info:
        adapter.predict(Batch(columns=["amount", "hour"], rows=[[1.0, 2]]))
    assert "amount FP64, hour INT64, foreign INT64" in str(info.value)
    with pytest.raises(InvalidInput, match="column hour") as info:
        adapter.predict(Batch(columns=list(FRAUD_COLUMNS), rows=[[1234.5, "late", 1]]))
    assert "1234.5" not in str(info.value), "request values are not echoed into errors and logs"


def test_not_a_model_folder_and_not_loaded(tmp_path):
    with pytest.raises(ArtifactError, match="no MLmodel file") as info:
        loaded(path=tmp_path)
    assert info.value.code == "not_found"
    with pytest.raises(ModelNotReady):
        MlflowAdapter(spec("mlflow", path=tmp_path)).predict(fraud_batch())


# -- registry -----------------------------------------------------------------------------------

@pytest.mark.parametrize("uri, version", [("models:/fraud/1", "1"), ("models:/fraud@champion", "1"),
                                          ("models:/fraud/2", "2")])
def test_registry_uris_load_from_a_sqlite_registry(mlflow_registry, uri, version):
    from mlflow import MlflowClient

    adapter = loaded(uri=uri, options={"tracking_uri": mlflow_registry})
    assert np.asarray(adapter.predict(fraud_batch())).tolist() == [1, 0, 1, 0]
    meta = adapter.metadata()
    assert meta.extra["source"] == uri
    mv = MlflowClient(tracking_uri=mlflow_registry).get_model_version("fraud", version)
    assert meta.extra["run_id"] == mv.run_id  # the version the URI names, not merely a version
    download = adapter._download[1]
    assert download.is_dir()
    adapter.unload()
    assert not download.exists(), "the private download is removed on unload"


def test_registry_alias_follows_a_move(mlflow_registry):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_registry)
    client.set_registered_model_alias("fraud", "challenger", "2")
    meta = loaded(uri="models:/fraud@challenger", options={"tracking_uri": mlflow_registry}).metadata()
    assert meta.extra["run_id"] == client.get_model_version("fraud", "2").run_id


def test_registry_uri_needs_a_tracking_server(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ConfigError, match="tracking_uri"):
        loaded(uri="models:/fraud/1")


def test_unknown_registry_version_is_an_artifact_error(mlflow_registry):
    with pytest.raises(ArtifactError) as info:
        loaded(uri="models:/fraud/9", options={"tracking_uri": mlflow_registry})
    assert info.value.code == "load_failed" and "models:/fraud/9" in str(info.value)


def test_unreachable_tracking_server_fails_fast_and_env_is_restored(monkeypatch):
    for key in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(key, raising=False)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ArtifactError):
        loaded(uri="models:/fraud/1", options={"tracking_uri": dead, "http_max_retries": 0, "http_timeout": 2})
    # MLflow's defaults (7 retries, exponential backoff) would take minutes
    assert time.monotonic() - started < 20
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ


# -- custom code (CASES 70) ------------------------------------------------------------------------

LOADER = '''
import pathlib, pandas as pd
pathlib.Path({marker!r}).write_text("imported")   # proves the module ran

class _Model:
    def predict(self, df, params=None):
        return pd.DataFrame({{"total": df.sum(axis=1)}})

def _load_pyfunc(path):
    return _Model()
'''


@pytest.fixture
def loader_module_model(tmp_path):
    """A python_function model whose loader_module ships in code_paths and writes a marker on import."""
    import mlflow.pyfunc
    import pandas as pd
    from mlflow.models import infer_signature

    marker = tmp_path / "marker.txt"
    code = tmp_path / "src" / "acme_loader.py"
    code.parent.mkdir()
    code.write_text(LOADER.format(marker=str(marker)))
    (tmp_path / "weights.txt").write_text("w")
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    path = tmp_path / "model"
    mlflow.pyfunc.save_model(str(path), loader_module="acme_loader", code_paths=[str(code)],
                             data_path=str(tmp_path / "weights.txt"), pip_requirements=PIP,
                             signature=infer_signature(frame, pd.DataFrame({"total": [4.0, 6.0]})))
    return path, marker


def test_loader_module_with_code_paths_is_refused_unless_trusted(loader_module_model):
    path, marker = loader_module_model
    with pytest.raises(ArtifactError) as info:
        loaded(path=path)
    assert info.value.code == "custom_code_refused"
    msg = str(info.value)
    assert "loader_module 'acme_loader'" in msg and "code_paths" in msg and "trusted: true" in msg
    assert not marker.exists(), "the custom code ran before the refusal"

    adapter = loaded(path=path, trusted=True)
    assert marker.read_text() == "imported"
    out = adapter.predict(Batch(columns=["a", "b"], rows=[[1.0, 3.0], [2.0, 5.0]]))
    assert out["total"].tolist() == [4.0, 7.0]
    assert any("custom code" in w for w in adapter.metadata().extra["warnings"])


def _python_model():
    """A PythonModel (pickled by value with cloudpickle) whose predict reads a ``limit`` param."""
    import mlflow.pyfunc

    class ThresholdModel(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            limit = (params or {}).get("limit", 50.0)
            return (model_input["amount"] > limit).astype("int64").to_numpy()

    return ThresholdModel()


def test_python_model_is_refused_unless_trusted_and_then_gets_params(tmp_path):
    import mlflow.pyfunc
    import pandas as pd
    from mlflow.models import infer_signature

    frame = pd.DataFrame({"amount": [10.0, 70.0]})
    path = tmp_path / "thresh"
    mlflow.pyfunc.save_model(str(path), python_model=_python_model(), pip_requirements=PIP,
                             signature=infer_signature(frame, np.array([0, 1]), params={"limit": 50.0}))
    with pytest.raises(ArtifactError, match="PythonModel") as info:
        loaded(path=path)
    assert info.value.code == "custom_code_refused"

    adapter = loaded(path=path, trusted=True)
    assert adapter.metadata().extra["params"] is True
    batch = Batch(columns=["amount"], rows=[[10.0], [70.0]])
    assert np.asarray(adapter.predict(batch)).tolist() == [0, 1]
    assert np.asarray(adapter.predict(Batch(columns=["amount"], rows=[[10.0], [70.0]],
                                            params={"limit": 5.0}))).tolist() == [1, 1]


# -- the example model, when built -------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "legacy_models" / "build" / "mlflow_fraud"


def test_example_mlflow_model_loads_untrusted_and_predicts():
    if not (EXAMPLE / "MLmodel").is_file():
        pytest.skip("examples/legacy_models/build/mlflow_fraud not built (make examples)")
    import pandas as pd

    adapter = loaded(path=EXAMPLE)
    sample = pd.read_csv(EXAMPLE.parent / "fraud_sample.csv")
    names = [t.name for t in adapter.metadata().inputs]
    out = np.asarray(adapter.predict(Batch.from_frame(sample[names])))
    assert out.shape[0] == len(sample) and set(out.tolist()) <= {0, 1}


def test_credentials_in_the_tracking_uri_never_reach_the_error():
    dead = f"http://alice:s3cret@127.0.0.1:{free_port()}"
    with pytest.raises(ArtifactError) as info:
        loaded(uri="models:/fraud/1", options={"tracking_uri": dead, "http_max_retries": 0})
    assert "s3cret" not in str(info.value) and "127.0.0.1" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_runs_uri_loads_with_an_explicit_tracking_uri(mlflow_registry, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # only the option may point at the store
    run_id = MlflowClient(tracking_uri=mlflow_registry).get_model_version("fraud", "1").run_id
    adapter = loaded(uri=f"runs:/{run_id}/model", options={"tracking_uri": mlflow_registry})
    assert np.asarray(adapter.predict(fraud_batch())).tolist() == [1, 0, 1, 0]
    assert adapter.metadata().extra["run_id"] == run_id


def test_logged_model_id_uri_loads_and_a_bare_name_is_a_config_error(mlflow_registry):
    from mlflow import MlflowClient

    source = MlflowClient(tracking_uri=mlflow_registry).get_model_version("fraud", "2").source
    assert source.startswith("models:/m-")  # MLflow 3 registers logged models by id
    adapter = loaded(uri=source, options={"tracking_uri": mlflow_registry})
    assert np.asarray(adapter.predict(fraud_batch())).tolist() == [1, 0, 1, 0]
    with pytest.raises(ConfigError, match=r"models:/fraud/<version> or models:/fraud@<alias>"):
        loaded(uri="models:/fraud", options={"tracking_uri": mlflow_registry})


def test_tensor_signature_model_takes_rows_or_one_tensor(tmp_path, iris_like):
    import mlflow.sklearn
    from mlflow.models import infer_signature

    X, _, clf = iris_like
    path = tmp_path / "tensor"
    mlflow.sklearn.save_model(clf, str(path), signature=infer_signature(X, clf.predict(X)), pip_requirements=PIP)
    adapter = loaded(path=path)
    meta = adapter.metadata()
    assert [(t.name, t.datatype, t.shape) for t in meta.inputs] == [("input", "FP64", (-1, 4))]
    expected = clf.predict(X[:5]).tolist()
    assert np.asarray(adapter.predict(Batch(rows=X[:5].tolist()))).tolist() == expected
    assert np.asarray(adapter.predict(Batch(tensors={"input-0": X[:5].astype(np.float32)}))).tolist() == expected
    with pytest.raises(InvalidInput, match="shape"):
        adapter.predict(Batch(rows=X[:2, :3].tolist()))
