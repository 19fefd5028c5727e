"""Golden request/response cases, one JSON file each in ``cases/`` (as gunicorn's tests/requests).

A case names its ``codec`` (oip, kserve_v1, mlflow, native), the request
(``request`` as JSON, or ``request_text`` as the raw body), its
``content_type``, and either ``expected`` (the decoded ``batch`` and, given
the model ``outputs``, the encoded ``response``) or ``expected_error``
(``status``, ``code``, ``message_contains``).
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np
import pytest

from veneer.wrapper.batch import Batch
from veneer.wrapper.codecs import jsonfast, kserve_v1, mlflow_payloads, oip, tabular
from veneer.wrapper.errors import VeneerError

CASES = sorted((pathlib.Path(__file__).parent / "cases").glob("*.json"))


def _body(case: dict) -> bytes:
    if "request_text" in case:
        return case["request_text"].encode("utf-8")
    return json.dumps(case["request"]).encode("utf-8")


def _outputs(case: dict) -> dict[str, np.ndarray]:
    return {name: np.array(spec["data"], dtype=spec["dtype"])
            for name, spec in case.get("outputs", {}).items()}


def _run(case: dict) -> tuple[Batch, Any]:
    """Decode the request, then (when the case gives outputs) encode the response."""
    body, content_type, codec = _body(case), case["content_type"], case["codec"]
    outputs = _outputs(case)
    if codec == "oip":
        batch, info = oip.decode_infer_request(jsonfast.loads(body))
        return batch, outputs and oip.encode_infer_response(
            model_name="model", model_version="1", outputs=outputs, info=info)
    if codec == "kserve_v1":
        batch = kserve_v1.decode_v1(jsonfast.loads(body))
        return batch, outputs and kserve_v1.encode_v1(outputs)
    if codec == "mlflow":
        batch, fmt = mlflow_payloads.decode_request(body, content_type, case.get("query"))
        return batch, outputs and mlflow_payloads.encode(outputs, fmt)
    if codec == "native":
        batch, fmt = tabular.decode_native(body, content_type)
        return batch, outputs and tabular.encode_native(outputs, fmt, batch)
    raise AssertionError(f"unknown codec {codec!r}")


def _check_batch(batch: Batch, expected: dict) -> None:
    if "columns" in expected:
        assert batch.columns == expected["columns"]
    if "rows" in expected:
        rows = batch.rows.tolist() if isinstance(batch.rows, np.ndarray) else batch.rows
        assert rows == expected["rows"]
        if expected["rows"] and isinstance(expected["rows"][0][0], float):
            assert [np.signbit(r[0]) for r in rows] == [np.signbit(r[0]) for r in expected["rows"]]
    if "rows_dtype" in expected:
        kind = batch.rows.dtype.name if isinstance(batch.rows, np.ndarray) else "list"
        assert kind == expected["rows_dtype"]
    if "frame_records" in expected:
        assert batch.frame().to_dict("records") == expected["frame_records"]
    if "tensors" in expected:
        assert list(batch.tensors) == list(expected["tensors"])
        for name, spec in expected["tensors"].items():
            arr = batch.tensors[name]
            assert (arr.dtype.name, list(arr.shape), arr.tolist()) == (
                spec["dtype"], spec["shape"], spec["data"]), name
    assert batch.params == expected.get("params", {})


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_case(path: pathlib.Path):
    case = json.loads(path.read_text("utf-8"))
    if "expected_error" in case:
        want = case["expected_error"]
        with pytest.raises(VeneerError) as info:
            _run(case)
        assert (int(info.value.status), info.value.code) == (want["status"], want["code"])
        assert want["message_contains"] in str(info.value)
        return
    batch, response = _run(case)
    expected = case["expected"]
    _check_batch(batch, expected["batch"])
    if "response_text" in expected:
        body, content_type = response
        assert body.decode("utf-8") == expected["response_text"]
        assert content_type == expected.get("response_content_type", content_type)
    elif "response" in expected:
        if isinstance(response, tuple):  # the native codec returns (bytes, content type)
            response = jsonfast.loads(response[0])
        assert jsonfast.loads(jsonfast.dumps(response)) == expected["response"]


def test_there_are_golden_cases_for_every_codec():
    codecs = {json.loads(p.read_text("utf-8"))["codec"] for p in CASES}
    assert codecs == {"oip", "kserve_v1", "mlflow", "native"}
    assert len(CASES) >= 40
