"""Open Inference Protocol V2 REST: infer request decoding, response encoding, metadata."""

from __future__ import annotations

import numpy as np
import pytest

from veneer.adapters.base import TensorSpec
from veneer.wrapper.codecs import jsonfast, oip
from veneer.wrapper.errors import BadRequest

from ._util import raises_status


def _req(*inputs, **extra):
    return {"inputs": list(inputs), **extra}


def _tensor(name="x", shape=(2,), datatype="FP32", data=(1.0, 2.0), **extra):
    return {"name": name, "shape": list(shape), "datatype": datatype, "data": list(data), **extra}


def test_spec_example_request_decodes_with_id_and_requested_outputs():
    doc = {"id": "42", "inputs": [
        _tensor("input0", (2, 2), "UINT32", (1, 2, 3, 4)),
        _tensor("input1", (3,), "BOOL", (True, False, True)),
    ], "outputs": [{"name": "output0", "parameters": {"binary_data": False}}],
        "parameters": {"priority": 1}}
    batch, info = oip.decode_infer_request(doc)
    assert batch.tensors["input0"].dtype == np.uint32
    assert batch.tensors["input0"].tolist() == [[1, 2], [3, 4]]
    assert batch.tensors["input1"].tolist() == [True, False, True]
    assert info.id == "42" and info.requested_outputs == ["output0"]
    assert info.output_parameters == {"output0": {"binary_data": False}}
    assert batch.params == {"priority": 1} == info.parameters
    assert batch.n_rows == 2


def test_nested_data_is_row_major_like_flat_data():
    flat, _ = oip.decode_infer_request(_req(_tensor(shape=(2, 3), data=range(6))))
    nested, _ = oip.decode_infer_request(_req(_tensor(shape=(2, 3), data=[[0, 1, 2], [3, 4, 5]])))
    assert np.array_equal(flat.tensors["x"], nested.tensors["x"])
    assert nested.tensors["x"][1, 0] == 3.0 and nested.tensors["x"].dtype == np.float32


@pytest.mark.parametrize("datatype, data, expected", [
    ("BOOL", [True, False], [True, False]),
    ("UINT8", [0, 255], [0, 255]), ("UINT16", [0, 65535], [0, 65535]),
    ("UINT32", [0, 2**32 - 1], [0, 2**32 - 1]), ("UINT64", [0, 2**64 - 1], [0, 2**64 - 1]),
    ("INT8", [-128, 127], [-128, 127]), ("INT16", [-32768, 32767], [-32768, 32767]),
    ("INT32", [-(2**31), 3.0], [-(2**31), 3]),
    ("INT64", [-(2**63), 2**63 - 1], [-(2**63), 2**63 - 1]),
    ("FP16", [0.5, -65504], [0.5, -65504]), ("FP32", [0.25, -0.0], [0.25, -0.0]),
    ("FP64", [1e300, 5], [1e300, 5.0]), ("BYTES", ["héllo", ""], ["héllo", ""]),
])
def test_all_13_datatypes_decode_to_their_numpy_dtype(datatype, data, expected):
    batch, _ = oip.decode_infer_request(_req(_tensor(datatype=datatype, data=data)))
    arr = batch.tensors["x"]
    assert arr.dtype == oip.DATATYPES[datatype]
    assert arr.tolist() == expected
    assert oip.datatype_of(arr.dtype) == datatype or datatype == "BYTES"


def test_datatype_of_maps_back_including_strings_and_byte_order():
    assert oip.datatype_of(np.dtype(">f4")) == "FP32"
    assert oip.datatype_of(np.dtype("<U3")) == oip.datatype_of(object) == "BYTES"
    with pytest.raises(Exception, match="complex128"):
        oip.datatype_of(np.complex128)


def test_base64_bytes_input_per_mlserver_content_type():
    batch, info = oip.decode_infer_request(_req(_tensor(
        datatype="BYTES", shape=(1,), data=["aGk="], parameters={"content_type": "base64"})))
    assert batch.tensors["x"].tolist() == [b"hi"]
    assert info.input_parameters == {"x": {"content_type": "base64"}}
    with raises_status(422):
        oip.decode_infer_request(_req(_tensor(datatype="BYTES", shape=(1,), data=["!!"],
                                              parameters={"content_type": "base64"})))


@pytest.mark.parametrize("tensor, fragment", [
    (_tensor(datatype="UINT8", data=[300, 1]), "300 is out of range for UINT8"),
    (_tensor(datatype="INT8", data=[-129, 1]), "-129 is out of range for INT8"),
    (_tensor(datatype="UINT64", data=[-1, 1]), "-1 is out of range"),
    (_tensor(datatype="INT32", data=[1.5, 1]), "1.5 is not an integer"),
    (_tensor(datatype="FP16", data=[70000.0, 1]), "out of range for FP16"),
    (_tensor(datatype="FP32", data=[1e39, 1]), "out of range for FP32"),
    (_tensor(datatype="FP32", data=["1.0", 2]), "FP32 data must be numbers"),
    (_tensor(datatype="FP32", data=[None, 2]), "found null"),
    (_tensor(datatype="INT64", data=[True, 2]), "found a boolean"),
    (_tensor(datatype="BOOL", data=[1, 0]), "BOOL data must be true/false"),
    (_tensor(datatype="BYTES", data=[1, "a"]), "BYTES data must be JSON strings"),
    (_tensor(shape=(3,), data=[1.0, 2.0]), "shape [3] needs 3 elements, data has 2"),
    (_tensor(shape=(2, 2), data=[[1.0, 2.0], [3.0]]), "different lengths"),
    (_tensor(shape=(2, 2), data=[[1.0, 2.0], 3.0, 4.0]), "mixes lists and single values"),
    (_tensor(shape=(0, 3), data=[]), "zero rows"),
])
def test_data_that_does_not_fit_its_declaration_is_422_naming_the_input(tensor, fragment):
    with raises_status(422, "invalid_input") as info:
        oip.decode_infer_request(_req(tensor))
    assert fragment in str(info.value)
    assert "'x'" in str(info.value)


@pytest.mark.parametrize("doc, fragment", [
    (None, "must be a JSON object"), ([], "must be a JSON object"), ({}, "no 'inputs'"),
    ({"inputs": []}, "non-empty 'inputs'"), ({"inputs": {"x": 1}}, "'inputs' = an object"),
    (_req(_tensor(), id=42), "'id' must be a string"),
    (_req(_tensor(), parameters=[1]), "'parameters' must be an object"),
    (_req(_tensor(), outputs={"name": "y"}), "'outputs' must be a list"),
    (_req(_tensor(), outputs=[{"nom": "y"}]), "outputs[0]"),
    (_req([1, 2]), "inputs[0] must be an object"),
    (_req({"name": "x", "shape": [1]}), "lacks 'datatype', 'data'"),
    (_req(_tensor(name="")), "non-empty string"),
    (_req(_tensor(shape=(-1,))), "non-negative integers"),
    (_req(_tensor(shape=(True,))), "non-negative integers"),
    (_req(_tensor(datatype="FLOAT32")), "Known datatypes: BOOL, UINT8"),
    (_req(_tensor(datatype="BF16")), "unknown datatype 'BF16'"),
    (_req(_tensor(), _tensor()), "appears more than once"),
])
def test_schema_violations_are_400(doc, fragment):
    with raises_status(400) as info:
        oip.decode_infer_request(doc)
    assert fragment in str(info.value)


def test_scalar_tensor_and_lone_scalar_data():
    batch, _ = oip.decode_infer_request(_req(_tensor(shape=(), data=[7.0])))
    assert batch.tensors["x"].shape == () and float(batch.tensors["x"]) == 7.0
    batch, _ = oip.decode_infer_request(_req({"name": "x", "shape": [1], "datatype": "INT32",
                                              "data": 5}))
    assert batch.tensors["x"].tolist() == [5]


def test_row_cap_is_413_before_any_conversion():
    with raises_status(413, "payload_too_large"):
        oip.decode_infer_request(_req(_tensor(shape=(1_000_000, 4), data=[1.0])), max_rows=1000)
    batch, _ = oip.decode_infer_request(_req(_tensor(shape=(2,))), max_rows=2)
    assert batch.n_rows == 2


def test_response_echoes_id_filters_outputs_in_request_order_and_writes_flat_data():
    _, info = oip.decode_infer_request(_req(_tensor(), id="req-7",
                                            outputs=[{"name": "b"}, {"name": "a"}]))
    outputs = {"a": np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32),
               "b": np.array([1, 0], dtype=np.int64), "c": np.array([True, False])}
    body = oip.encode_infer_response(model_name="churn", model_version="2", outputs=outputs,
                                     info=info, parameters={"engine": "onnx"})
    assert jsonfast.loads(jsonfast.dumps(body)) == {
        "model_name": "churn", "model_version": "2", "id": "req-7",
        "parameters": {"engine": "onnx"},
        "outputs": [
            {"name": "b", "shape": [2], "datatype": "INT64", "data": [1, 0]},
            {"name": "a", "shape": [2, 2], "datatype": "FP32", "data": [1.0, 2.0, 3.0, 4.0]},
        ]}


def test_response_without_request_outputs_returns_all_and_maps_odd_dtypes():
    body = oip.encode_infer_response(
        model_name="m", model_version=None, info=oip.InferRequestInfo(),
        outputs={"label": np.array(["yes", "no"]), "obj": np.array([0.5, None], dtype=object),
                 "when": np.array(["2024-01-02"], dtype="datetime64[D]"),
                 "fortran": np.asfortranarray(np.arange(4, dtype=np.int16).reshape(2, 2)),
                 "big_endian": np.array([1.5], dtype=">f8"), "nan": np.array([np.nan])})
    out = jsonfast.loads(jsonfast.dumps(body))
    assert "model_version" not in out and "id" not in out
    by_name = {o["name"]: o for o in out["outputs"]}
    assert by_name["label"] == {"name": "label", "shape": [2], "datatype": "BYTES",
                                "parameters": {"content_type": "str"}, "data": ["yes", "no"]}
    assert by_name["obj"]["datatype"] == "BYTES" and by_name["obj"]["data"] == [0.5, None]
    assert by_name["when"]["data"] == ["2024-01-02"]
    assert by_name["fortran"] == {"name": "fortran", "shape": [2, 2], "datatype": "INT16",
                                  "data": [0, 1, 2, 3]}
    assert by_name["big_endian"]["datatype"] == "FP64" and by_name["big_endian"]["data"] == [1.5]
    assert by_name["nan"]["data"] == [None]


def test_object_output_of_numbers_becomes_numeric():
    body = oip.encode_infer_response(model_name="m", model_version="1", info=oip.InferRequestInfo(),
                                     outputs={"p": np.array([1, 2], dtype=object)})
    assert body["outputs"][0]["datatype"] == "INT64"


def test_empty_outputs_list_means_all_outputs():
    _, info = oip.decode_infer_request(_req(_tensor(), outputs=[]))
    body = oip.encode_infer_response(model_name="m", model_version="1", info=info,
                                     outputs={"a": np.array([1]), "b": np.array([2])})
    assert [o["name"] for o in body["outputs"]] == ["a", "b"]


def test_unknown_requested_output_is_400_naming_the_available_ones():
    info = oip.InferRequestInfo(requested_outputs=["probability"])
    with pytest.raises(BadRequest) as err:
        oip.encode_infer_response(model_name="m", model_version="1", info=info,
                                  outputs={"label": np.array([1]), "proba": np.array([0.2])})
    assert "['probability']" in str(err.value) and "['label', 'proba']" in str(err.value)


def test_metadata_bodies_follow_the_spec():
    meta = oip.model_metadata("churn", ["1", "2"], "sklearn_pickle",
                              [TensorSpec("input-0", "FP64", (-1, 4))],
                              [{"name": "label", "datatype": "INT64", "shape": [-1]}])
    assert meta == {"name": "churn", "versions": ["1", "2"], "platform": "sklearn_pickle",
                    "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
                    "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]}]}
    assert "versions" not in oip.model_metadata("m", None, "p", [], [])
    from veneer import __version__
    assert oip.server_metadata(["model_repository"]) == {
        "name": "veneer", "version": __version__, "extensions": ["model_repository"]}
    assert oip.error_body(BadRequest("nope")) == {"error": "nope"}
