"""Serve an MLflow model (any pyfunc flavor) from a local folder or a registry URI.

Registry URIs (``models:/name/3``, ``models:/name@champion``, ``runs:/id/model``)
are resolved with an explicit ``MlflowClient`` and downloaded to a private
temporary folder; the ``MLmodel`` file is then inspected *before* anything is
imported from the model: a python_function model that runs its own code (a
``loader_module`` outside MLflow, ``code_paths``, a pickled ``PythonModel``)
is refused unless the version is marked ``trusted: true`` (CASES 70).

MLflow retries HTTP calls for minutes by default; the load bounds that with its
own ``MLFLOW_HTTP_REQUEST_*`` settings unless the operator set them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Iterator

from veneer.adapters.accelerate.options import OPTIONS_SCHEMA as ACCELERATE_OPTIONS
from veneer.adapters.base import AdapterMetadata, BaseAdapter, TensorSpec
from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import ArtifactError, ConfigError, InvalidInput, ModelNotReady

log = logging.getLogger(__name__)

#: MLflow DataType names → OIP datatypes (anything else travels as BYTES)
_COL_TYPES = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32",
              "boolean": "BOOL", "string": "BYTES", "binary": "BYTES", "datetime": "BYTES"}
_NP_KINDS = {"f": "FP", "i": "INT", "u": "UINT"}
_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")
_RUNS_URI = re.compile(r"^runs:/(?P<run>[0-9A-Za-z]+)/(?P<name>[\w.-]+)(?:/(?P<rest>.+?))?/?$")
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<ref>[^/]+)|@(?P<alias>[^/]+))?/?$")


class MlflowAdapter(BaseAdapter):
    """An MLflow model loaded with ``mlflow.pyfunc.load_model``; its signature is the metadata."""

    fork_safe: ClassVar[bool] = True
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "tracking_uri": {"type": ["string", "null"], "default": None,
                             "description": "MLflow tracking server for runs:/ and models:/ URIs "
                                            "(default: MLFLOW_TRACKING_URI)."},
            "registry_uri": {"type": ["string", "null"], "default": None,
                             "description": "MLflow model registry, when not the tracking server."},
            "http_max_retries": {"type": "integer", "minimum": 0, "default": 2,
                                 "description": "Retries of each MLflow HTTP call during load "
                                                "(MLflow's own default retries for minutes)."},
            "http_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 30,
                             "description": "Seconds per MLflow HTTP call during load."},
            "accelerate": ACCELERATE_OPTIONS,  # issue 8: tuning of `accelerate: onnx`
        },
    }

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self._model: Any = None
        self._download: tuple[int, Path] | None = None  # (owner pid, folder) of a registry download
        self._meta = AdapterMetadata(platform="mlflow")
        self._input_schema: Any = None
        self._accepts_params = False

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Fetch (registry URIs), refuse untrusted custom code, then load the pyfunc model."""
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # a server never phones home
        import mlflow.pyfunc
        from mlflow.exceptions import MlflowException

        self.unload()
        try:
            with self._bounded_http():
                folder = self._local_folder()
                mlmodel = _read_mlmodel(folder)
                reasons = _custom_code(mlmodel)
                if reasons and not getattr(self.spec, "trusted", False):
                    raise ArtifactError(
                        f"The MLflow model {self._label()} runs its own Python code on load "
                        f"({'; '.join(reasons)}); refused because this version is not trusted.",
                        fix="If you trust whoever built this model, set `trusted: true` on this version "
                            "in veneer.yaml; otherwise re-save it with a built-in flavor "
                            "(mlflow.sklearn, mlflow.onnx...).", code="custom_code_refused")
                model = mlflow.pyfunc.load_model(str(folder))
        except MlflowException as e:
            message = _redact(e.message)
            err = ArtifactError(f"MLflow cannot load the model {self._label()}: {message}",
                                fix="Check the URI, the registry settings and that the version exists.",
                                code="load_failed")
            # a chained cause would print the unredacted URL in the traceback
            raise err from (e if message == e.message else None)
        self._model = model
        self._describe(model, mlmodel, reasons)

    def _local_folder(self) -> Path:
        path = getattr(self.spec, "path", None)
        uri = getattr(self.spec, "uri", None)
        if path is not None:
            folder = Path(path)
            if not (folder / "MLmodel").is_file():
                raise ArtifactError(f"{folder.name!r} is not an MLflow model folder (no MLmodel file in it).",
                                    fix="Point `path:` at the folder mlflow.<flavor>.save_model wrote.",
                                    code="not_found")
            return folder
        if not uri:
            raise ConfigError("The mlflow adapter needs `path:` (a model folder) or `uri:` "
                              "(models:/name/version, models:/name@alias, runs:/id/path).")
        return self._fetch(uri)

    def _fetch(self, uri: str) -> Path:
        """Download a registry/run URI to a private folder with an explicit client."""
        import mlflow.artifacts
        from mlflow import MlflowClient

        tracking = self.options.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
        registry = self.options.get("registry_uri") or os.environ.get("MLFLOW_REGISTRY_URI") or tracking
        if not tracking:
            # without one MLflow would quietly create ./mlflow.db and find nothing in it
            raise ConfigError(f"The MLflow URI {uri!r} needs a tracking server.",
                              fix="Set options.tracking_uri on this version (or MLFLOW_TRACKING_URI).")
        # MLflow's own models:/ and runs:/ resolution builds clients from the process-wide
        # tracking URI, ignoring the one passed in: resolve to a plain artifact location here
        client = MlflowClient(tracking_uri=tracking, registry_uri=registry)
        artifact_uri = _artifact_location(client, uri)
        folder = Path(tempfile.mkdtemp(prefix="veneer-mlflow-"))
        self._download = (os.getpid(), folder)
        local = mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri, dst_path=str(folder),
                                                    tracking_uri=tracking, registry_uri=registry)
        return Path(local)

    @contextlib.contextmanager
    def _bounded_http(self) -> Iterator[None]:
        """Set MLflow's HTTP retry/timeout env for this load only, never over the operator's values."""
        wanted = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(int(self.options.get("http_max_retries", 2))),
                  "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(self.options.get("http_timeout", 30))),
                  "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
        added = [k for k in wanted if k not in os.environ]
        for key in added:
            os.environ[key] = wanted[key]
        try:
            yield
        finally:
            for key in added:
                os.environ.pop(key, None)

    def _describe(self, model: Any, mlmodel: dict[str, Any], reasons: list[str]) -> None:
        import mlflow

        meta = model.metadata
        schema = meta.get_input_schema()
        self._input_schema = schema
        self._accepts_params = meta.get_params_schema() is not None
        flavors = mlmodel.get("flavors") or {}
        warnings = [f"runs custom code (trusted): {r}" for r in reasons]
        serialization = (flavors.get("sklearn") or {}).get("serialization_format")
        if serialization in ("pickle", "cloudpickle"):
            warnings.append(f"the sklearn flavor is a {serialization} file: loading it runs code "
                            "from the file; keep this model's source trusted")
        if schema is None:
            warnings.append("the model has no signature: inputs are not checked before predict")
        extra = {"mlflow": mlflow.__version__, "saved_with_mlflow": mlmodel.get("mlflow_version"),
                 "flavors": sorted(flavors), "loader_module": (flavors.get("python_function") or {})
                 .get("loader_module"), "model_uuid": mlmodel.get("model_uuid"),
                 "run_id": mlmodel.get("run_id"), "params": self._accepts_params, "warnings": warnings}
        uri = getattr(self.spec, "uri", None)
        if uri and getattr(self.spec, "path", None) is None:
            extra["source"] = _redact(uri)
        self._meta = AdapterMetadata(platform="mlflow", inputs=_specs(schema, "input"),
                                     outputs=_specs(meta.get_output_schema(), "predictions"), extra=extra)

    def unload(self) -> None:
        """Forget the model and delete a registry download made by this process."""
        self._model = None
        if self._download and self._download[0] == os.getpid():
            shutil.rmtree(self._download[1], ignore_errors=True)
        self._download = None

    def _label(self) -> str:
        uri = getattr(self.spec, "uri", None)
        path = getattr(self.spec, "path", None)
        return repr(uri if uri and path is None else Path(path).name if path else "?")

    # -- describing and predicting -------------------------------------------------------------

    def metadata(self) -> AdapterMetadata:
        """Signature inputs/outputs (names, OIP datatypes), MLflow versions, flavors, warnings."""
        return self._meta

    def predict(self, batch: Batch) -> Any:
        """``model.predict(frame, params=...)``; schema errors become 422 naming the column."""
        from mlflow.exceptions import MlflowException

        model = self._model
        if model is None:
            raise ModelNotReady("The MLflow model is not loaded.", fix="Wait for readiness (GET /v2/health/ready).")
        data = self._input(batch)
        kwargs = {"params": dict(batch.params)} if batch.params and self._accepts_params else {}
        try:
            return model.predict(data, **kwargs)
        except MlflowException as e:
            if e.error_code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST") or "schema" in e.message.lower():
                # MLflow's message starts with a repr of the request's data: keep only its reason
                reason = e.message.rpartition(". Error: ")[2] or e.message
                raise InvalidInput(f"The input does not match the model's signature: {reason}",
                                   fix=f"Expected inputs: {self._expected()}.") from e
            raise
        except (ValueError, KeyError, TypeError) as e:  # the flavor's own input checks (sklearn...)
            raise InvalidInput(f"The model rejected the input: {e}",
                               fix=f"Expected inputs: {self._expected()}.") from e

    def _input(self, batch: Batch) -> Any:
        """The batch in the form the signature asks for (DataFrame, array, or dict of arrays)."""
        schema = self._input_schema
        if schema is not None and schema.is_tensor_spec():
            specs = schema.inputs
            if len(specs) == 1 and not (batch.tensors and len(batch.tensors) > 1):
                return batch.array(dtype=specs[0].type)
            given = batch.named_tensors()
            missing = [s.name for s in specs if s.name not in given]
            if missing:
                raise InvalidInput(f"Missing input(s) {missing}; got {sorted(given)}.",
                                   fix=f"Expected inputs: {self._expected()}.")
            try:
                return {s.name: given[s.name].astype(s.type, copy=False) for s in specs}
            except (ValueError, TypeError) as e:
                raise InvalidInput(f"An input cannot be converted to the signature's type: {e}.",
                                   fix=f"Expected inputs: {self._expected()}.") from e
        frame = batch.frame()
        if schema is None:
            return frame
        names = [c.name for c in schema.inputs]
        if all(names) and len(names) == frame.shape[1] and not any(isinstance(c, str) for c in frame.columns):
            frame = frame.set_axis(names, axis=1)  # rows or a 2-D tensor sent without column names
        casts = {}
        for col in schema.inputs:
            if col.name in frame.columns:
                cast = _safe_cast(frame[col.name], str(getattr(col.type, "name", col.type)))
                if cast is not None:
                    casts[col.name] = cast
        return frame.assign(**casts) if casts else frame

    def _expected(self) -> str:
        return ", ".join(f"{t.name} {t.datatype}" for t in self._meta.inputs) or "(no signature)"


def _artifact_location(client: Any, uri: str) -> str:
    """Where the files of ``models:/name/3``, ``models:/name@alias``, ``models:/m-id`` or ``runs:/id/name`` are."""
    match = _MODELS_URI.match(uri)
    if match:
        name, ref, alias = match["name"], match["ref"], match["alias"]
        if alias:
            version = client.get_model_version_by_alias(name, alias).version
        elif ref and ref.isdigit():
            version = ref
        elif ref:  # a stage name (MLflow 1.x/2.x registries)
            found = client.get_latest_versions(name, stages=[ref])
            if not found:
                raise ArtifactError(f"Registered model {name!r} has no version in stage {ref!r}.",
                                    fix="Use models:/name/<version> or models:/name@<alias>.", code="not_found")
            version = found[0].version
        elif name.startswith("m-"):  # an MLflow 3 logged-model id
            return client.get_logged_model(name).artifact_location
        else:
            raise ConfigError(f"The MLflow URI {uri!r} names no version.",
                              fix=f"Use models:/{name}/<version> or models:/{name}@<alias>.")
        return client.get_model_version_download_uri(name, version)
    run = _RUNS_URI.match(uri)
    if run:
        run_id, name, rest = run["run"], run["name"], run["rest"] or ""
        info = client.get_run(run_id).info
        # MLflow 3 keeps models logged in a run as "logged models" outside the run's artifacts
        search = getattr(client, "search_logged_models", None)  # absent before MLflow 3
        for model in search(experiment_ids=[info.experiment_id], filter_string=f"name = '{name}'") \
                if search else ():
            if model.source_run_id == run_id:
                return model.artifact_location + (f"/{rest}" if rest else "")
        return f"{info.artifact_uri}/{name}" + (f"/{rest}" if rest else "")
    return uri


def _redact(text: str) -> str:
    """Hide ``user:password@`` in URLs: load errors end up in logs and readiness reasons."""
    return _USERINFO.sub(r"\1***@", str(text))


def _safe_cast(column: Any, mlflow_type: str) -> Any:
    """JSON gives 1 for 1.0 and 1.0 for 1: convert where no value changes, else leave to MLflow."""
    kind = column.dtype.kind
    if mlflow_type in ("double", "float") and kind in "iub":
        return column.astype("float64" if mlflow_type == "double" else "float32")
    if mlflow_type in ("long", "integer") and kind == "f":
        values = column.to_numpy()
        if len(values) and (values == values.round()).all():
            return column.astype("int64" if mlflow_type == "long" else "int32")
    return None


def _specs(schema: Any, default_name: str) -> list[TensorSpec]:
    """MLflow ColSpec/TensorSpec entries as OIP tensor specs."""
    if schema is None:
        return []
    out = []
    for i, s in enumerate(schema.inputs):
        name = s.name or (default_name if len(schema.inputs) == 1 else f"{default_name}-{i}")
        if schema.is_tensor_spec():
            dtype = s.type
            kind = _NP_KINDS.get(dtype.kind)
            oip = "BOOL" if dtype.kind == "b" else f"{kind}{dtype.itemsize * 8}" if kind else "BYTES"
            out.append(TensorSpec(name, oip, tuple(int(d) for d in s.shape) or (-1,)))
        else:
            out.append(TensorSpec(name, _COL_TYPES.get(str(getattr(s.type, "name", s.type)), "BYTES"), (-1,)))
    return out


def _read_mlmodel(folder: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load((folder / "MLmodel").read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ArtifactError(f"The MLmodel file of {folder.name!r} cannot be read: {e}",
                            fix="Re-save the model with MLflow.", code="corrupt_model") from e
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise ArtifactError(f"The MLmodel file of {folder.name!r} lists no flavors.",
                            fix="Re-save the model with MLflow.", code="corrupt_model")
    return data


def _custom_code(mlmodel: dict[str, Any]) -> list[str]:
    """Why loading this model would run code that is not MLflow's own (empty: it would not)."""
    flavors = mlmodel["flavors"]
    pyfunc = flavors.get("python_function") or {}
    reasons = []
    loader = pyfunc.get("loader_module")
    if loader and not str(loader).startswith("mlflow."):
        reasons.append(f"loader_module {loader!r}")
    if loader == "mlflow.pyfunc.model" or pyfunc.get("python_model") or pyfunc.get("model_code_path"):
        reasons.append("a custom mlflow.pyfunc.PythonModel")
    for name, conf in flavors.items():
        if isinstance(conf, dict) and conf.get("code"):
            reasons.append(f"code_paths ({name} flavor, folder {conf['code']!r})")
    return reasons
