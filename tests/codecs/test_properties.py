"""Properties: OIP tensors of every datatype round-trip; decoders raise nothing but VeneerError."""

from __future__ import annotations

import json
import math
import os

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from veneer.wrapper.codecs import jsonfast, kserve_v1, mlflow_payloads, oip, tabular
from veneer.wrapper.codecs._csv import parse_csv
from veneer.wrapper.errors import VeneerError

# VENEER_HYPOTHESIS_EXAMPLES=5000 for a long local campaign; 150 keeps the suite fast
SETTINGS = settings(max_examples=int(os.environ.get("VENEER_HYPOTHESIS_EXAMPLES", "150")),
                    database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _elements(datatype: str) -> st.SearchStrategy:
    if datatype == "BOOL":
        return st.booleans()
    if datatype == "BYTES":
        return st.text(max_size=8)
    if datatype.startswith("FP"):
        width = {"FP16": 16, "FP32": 32, "FP64": 64}[datatype]
        return st.floats(width=width, allow_nan=False, allow_infinity=False)
    info = np.iinfo(oip.DATATYPES[datatype])
    return st.integers(int(info.min), int(info.max))


@st.composite
def tensors(draw):
    datatype = draw(st.sampled_from(sorted(oip.DATATYPES)))
    shape = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    flat = draw(st.lists(_elements(datatype), min_size=math.prod(shape), max_size=math.prod(shape)))
    data = flat
    if draw(st.booleans()) and shape:  # nested, row-major
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        data = arr.reshape(shape).tolist()
    return {"name": draw(st.text(min_size=1, max_size=5)), "shape": shape,
            "datatype": datatype, "data": data}, flat


@SETTINGS
@given(st.lists(tensors(), min_size=1, max_size=3, unique_by=lambda t: t[0]["name"]),
       st.one_of(st.none(), st.text(max_size=5)))
def test_oip_round_trip_for_all_datatypes(drawn, req_id):
    request = {"inputs": [t for t, _ in drawn]}
    if req_id is not None:
        request["id"] = req_id
    batch, info = oip.decode_infer_request(jsonfast.loads(jsonfast.dumps(request)))
    response = oip.encode_infer_response(model_name="m", model_version="1",
                                         outputs=batch.tensors, info=info)
    back = jsonfast.loads(jsonfast.dumps(response))
    assert back.get("id") == req_id
    for (tensor, flat), out in zip(drawn, back["outputs"]):
        assert (out["name"], out["shape"], out["datatype"]) == (
            tensor["name"], tensor["shape"], tensor["datatype"])
        if tensor["datatype"].startswith("FP"):
            dtype = oip.DATATYPES[tensor["datatype"]]
            sent, got = np.array(flat, dtype=dtype), np.array(out["data"], dtype=dtype)
            assert np.array_equal(sent, got)
            assert np.array_equal(np.signbit(sent), np.signbit(got))
        else:
            assert out["data"] == flat


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=25)
tensor_like = st.fixed_dictionaries({}, optional={
    "name": json_values | st.text(max_size=3), "shape": json_values | st.lists(st.integers(-1, 4)),
    "datatype": json_values | st.sampled_from(sorted(oip.DATATYPES)), "data": json_values,
    "parameters": json_values})


def _only_veneer_errors(call):
    try:
        return call()
    except VeneerError as e:
        assert 400 <= int(e.status) < 500, e
        return None


@SETTINGS
@given(json_values | st.fixed_dictionaries({"inputs": st.lists(tensor_like, max_size=3)},
                                           optional={"outputs": json_values, "id": json_values,
                                                     "parameters": json_values}))
def test_oip_decode_only_raises_veneer_errors(doc):
    _only_veneer_errors(lambda: oip.decode_infer_request(doc, max_rows=50))


keyed = st.dictionaries(st.sampled_from(["instances", "inputs", "dataframe_split",
                                         "dataframe_records", "params", "columns", "data",
                                         "index"]), json_values, min_size=1, max_size=3)


@SETTINGS
@given(json_values | keyed)
def test_row_decoders_only_raise_veneer_errors_and_encode_what_they_decode(doc):
    body = json.dumps(doc).encode()  # orjson cannot write the >64-bit integers drawn here
    batch = _only_veneer_errors(lambda: kserve_v1.decode_v1(doc, max_rows=50))
    if batch is not None:
        kserve_v1.encode_v1({"predictions": np.arange(batch.n_rows)})
    decoded = _only_veneer_errors(lambda: mlflow_payloads.decode_request(
        body, "application/json", max_rows=50))
    if decoded is not None:
        jsonfast.dumps(mlflow_payloads.encode({"predictions": np.arange(decoded[0].n_rows)},
                                              decoded[1]))
    decoded = _only_veneer_errors(lambda: tabular.decode_native(body, "application/json",
                                                                max_rows=50))
    if decoded is not None:
        out, _ = tabular.encode_native({"y": np.arange(decoded[0].n_rows)}, decoded[1], decoded[0])
        assert out


@SETTINGS
@given(st.binary(max_size=80) | st.text(alphabet=st.sampled_from(list('ab,"\n\r =+-1.5e\ufeff')),
                                        max_size=60).map(lambda s: s.encode("utf-8")))
def test_csv_and_raw_bodies_only_raise_veneer_errors(body):
    batch = _only_veneer_errors(lambda: parse_csv(body, max_rows=50))
    if batch is not None:
        frame = batch.frame()
        assert list(frame.columns) == batch.columns
        csv_out, _ = tabular.encode_native({c: frame[c].to_numpy() for c in frame.columns},
                                           tabular.NativeFormat("csv"), batch)
        assert csv_out
    _only_veneer_errors(lambda: tabular.decode_native(body, "application/json"))
    _only_veneer_errors(lambda: mlflow_payloads.decode(body, "application/json"))
