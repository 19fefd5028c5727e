"""The conformance suite every adapter inherits (fsspec ``tests/abstract`` style).

A test module subclasses :class:`AdapterContractTests` and provides three pytest
fixtures::

    class TestOnnxContract(AdapterContractTests):
        @pytest.fixture
        def adapter(self, tmp_path):   # constructed, NOT loaded yet
            return OnnxAdapter(VersionSpec(version="1", adapter="onnx", path=...))

        @pytest.fixture
        def good_batch(self):          # a Batch the model must answer
            return Batch(columns=["a", "b"], rows=[[1.0, 2.0], [3.0, 4.0]])

        @pytest.fixture
        def bad_batch(self):           # a Batch that must raise InvalidInput (422)
            return Batch(columns=["a"], rows=[["x"]])

The suite loads the adapter itself (and unloads it afterwards), so a fixture
never calls ``load()``. Subclasses may set ``concurrency`` (threads used by the
concurrency test) or override a test with a reason when an adapter truly cannot
meet it.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any, Iterator

import numpy as np
import pytest

from veneer.adapters.base import Adapter, AdapterMetadata, TensorSpec
from veneer.wrapper.batch import Batch, normalize_outputs
from veneer.wrapper.errors import InvalidInput

_OIP_DATATYPES = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                  "FP16", "FP32", "FP64", "BYTES"}
# Absolute POSIX paths, home-relative paths and Windows drive paths; URLs ("http://...") are fine.
_PATH_RE = re.compile(r"(^|[\s'\"=(\[,])(/[^/\s]|~/|[A-Za-z]:\\)")
_SECRET_KEYS = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|credential|authorization|private",
                          re.IGNORECASE)


def _fresh(batch: Batch) -> Batch:
    """A private copy: in the server every request has its own Batch (and its cached frame)."""
    return copy.deepcopy(batch)


def _predict_arrays(adapter: Any, batch: Batch) -> dict[str, np.ndarray]:
    return normalize_outputs(adapter.predict(_fresh(batch)))


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b), f"output names differ: {list(a)} vs {list(b)}"
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=f"output {name!r} differs")


def _walk(value: Any, where: str = "metadata") -> Iterator[tuple[str, Any, Any]]:
    """Yield ``(where, key, leaf)`` for every leaf of nested dicts / lists / dataclasses."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{where}.{k}", k, k
            yield from _walk(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, v in enumerate(value):
            yield from _walk(v, f"{where}[{i}]")
    else:
        yield where, None, value


class AdapterContractTests:
    """Tests every adapter must pass; subclasses provide ``adapter``, ``good_batch``, ``bad_batch``."""

    #: threads hammering one loaded adapter in ``test_concurrent_predict``
    concurrency: int = 8

    @pytest.fixture
    def loaded(self, adapter: Any) -> Iterator[Any]:
        """The subclass's adapter after ``load()``; unloaded at teardown."""
        adapter.load()
        try:
            yield adapter
        finally:
            adapter.unload()

    def test_satisfies_adapter_protocol(self, adapter: Any) -> None:
        """Structural protocol, a boolean fork_safe, and an options schema that is a JSON object."""
        assert isinstance(adapter, Adapter), f"{type(adapter).__name__} lacks load/predict/metadata"
        assert callable(getattr(adapter, "unload", None)), "adapters must offer unload()"
        assert type(type(adapter).fork_safe) is bool
        schema = getattr(type(adapter), "options_schema", None)
        assert isinstance(schema, dict) and schema.get("type") == "object"

    def test_options_schema_is_valid_and_documented(self, adapter: Any) -> None:
        """A valid JSON Schema whose every option has a description and a default that passes it."""
        import jsonschema

        schema = type(adapter).options_schema
        jsonschema.Draft202012Validator.check_schema(schema)
        for name, prop in (schema.get("properties") or {}).items():
            assert prop.get("description"), f"option {name!r} has no description"
            if "default" in prop:
                errors = list(jsonschema.Draft202012Validator(prop).iter_errors(prop["default"]))
                assert not errors, f"option {name!r}: default {prop['default']!r} fails its schema: {errors[0].message}"
        assert jsonschema.Draft202012Validator(schema).is_valid({}), "no option may be required"

    def test_predict_returns_one_row_per_input_row(self, loaded: Any, good_batch: Batch) -> None:
        """Every output normalizes to an array whose first dimension is the row count."""
        n_rows = good_batch.n_rows
        assert n_rows > 0, "good_batch must hold at least one row"
        outputs = _predict_arrays(loaded, good_batch)
        assert outputs, "predict returned no outputs"
        for name, arr in outputs.items():
            assert isinstance(arr, np.ndarray), f"output {name!r} is {type(arr).__name__}"
            assert arr.ndim >= 1 and arr.shape[0] == n_rows, \
                f"output {name!r} has shape {arr.shape}; expected first dimension {n_rows}"

    def test_metadata_describes_model_without_paths_or_secrets(self, loaded: Any, tmp_path: Any) -> None:
        """Platform and inputs are filled in; nothing in it is a filesystem path or a secret."""
        meta = loaded.metadata()
        assert isinstance(meta, AdapterMetadata)
        assert isinstance(meta.platform, str) and meta.platform.strip()
        assert meta.inputs, "metadata lists no inputs"
        for spec in [*meta.inputs, *meta.outputs]:
            assert isinstance(spec, TensorSpec)
            assert spec.name, f"unnamed tensor in metadata: {spec!r}"
            assert spec.datatype in _OIP_DATATYPES, f"{spec.name!r}: {spec.datatype!r} is not an OIP datatype"
            assert all(isinstance(d, int) and d >= -1 for d in spec.shape), f"{spec.name!r}: shape {spec.shape}"
        for where, key, leaf in _walk(meta):
            if key is not None:
                assert not (isinstance(key, str) and _SECRET_KEYS.search(key)), f"{where}: secret-like key"
                continue
            if isinstance(leaf, str):
                assert not _PATH_RE.search(leaf), f"{where} holds a filesystem path: {leaf!r}"
                assert str(tmp_path) not in leaf, f"{where} holds the artifact's folder: {leaf!r}"
            else:
                assert leaf is None or isinstance(leaf, (bool, int, float)), \
                    f"{where}: {type(leaf).__name__} in metadata is not JSON-ready"

    def test_bad_batch_raises_invalid_input(self, loaded: Any, bad_batch: Batch) -> None:
        """Wrong columns/shape/type is the caller's fault: 422 with a message, never a library error."""
        with pytest.raises(InvalidInput) as info:
            loaded.predict(_fresh(bad_batch))
        assert info.value.status == HTTPStatus.UNPROCESSABLE_ENTITY
        assert len(str(info.value)) > 15, f"message too thin to act on: {str(info.value)!r}"

    def test_predict_is_deterministic(self, loaded: Any, good_batch: Batch) -> None:
        """The same input gives the same answer, and predict does not consume or mutate its input."""
        batch = _fresh(good_batch)
        first = normalize_outputs(loaded.predict(batch))
        second = normalize_outputs(loaded.predict(batch))
        _assert_same(first, second)
        _assert_same(first, _predict_arrays(loaded, good_batch))

    def test_concurrent_predict(self, loaded: Any, good_batch: Batch) -> None:
        """Several gthread workers share one adapter: all calls finish with identical answers."""
        expected = _predict_arrays(loaded, good_batch)
        start = threading.Barrier(self.concurrency)

        def call(_: int) -> dict[str, np.ndarray]:
            start.wait(timeout=30)  # release all threads together to actually overlap
            return _predict_arrays(loaded, good_batch)

        with ThreadPoolExecutor(self.concurrency) as pool:
            results = list(pool.map(call, range(self.concurrency * 2), timeout=120))
        assert len(results) == self.concurrency * 2
        for result in results:
            _assert_same(expected, result)

    def test_unload_is_safe(self, adapter: Any, good_batch: Batch) -> None:
        """unload() before load() and twice after a successful predict does not raise."""
        adapter.unload()
        adapter.load()
        assert _predict_arrays(adapter, good_batch)
        adapter.unload()
        adapter.unload()
