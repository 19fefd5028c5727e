"""Strict JSON in, compact JSON out (CASES 41-43)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from veneer.wrapper.codecs import jsonfast
from veneer.wrapper.errors import InvalidInput, MalformedPayload, VeneerError

from ._util import raises_status


@pytest.mark.parametrize("body, where", [
    (b'{"inputs": [1, 2', "line 1 column 17"),          # truncated
    (b'{"a": 1} trailing', "line 1 column 10"),          # trailing garbage
    (b"{'a': 1}", "line 1 column 2"),                     # single quotes
    (b'{"a": 1 /* c */}', "line 1 column 9"),            # comment
    (b'[1,\n // c\n 2]', "line 2 column 2"),              # line comment, reported on line 2
    (b'[NaN]', "line 1 column 2"),                        # CASES 42
    (b'[Infinity]', "line 1 column 2"),
    (b'[-Infinity]', "line 1 column 3"),
    (b'{"a": "\xff"}', "line 1"),                         # invalid UTF-8
])
def test_malformed_json_is_400_naming_the_position(body, where):
    with raises_status(400, "malformed_payload") as info:
        jsonfast.loads(body)
    assert where in str(info.value)
    assert isinstance(info.value, MalformedPayload)


@pytest.mark.parametrize("body", [b"", b"   \n", b"\xef\xbb\xbf"])
def test_empty_body_is_400(body):
    with raises_status(400, "malformed_payload") as info:
        jsonfast.loads(body)
    assert "empty" in str(info.value)


@pytest.mark.parametrize("body", [b"[1e400]", b'{"x": -1e400}', b"1e999"])
def test_overflowing_number_is_422_never_inf(body):
    with pytest.raises(InvalidInput) as info:
        jsonfast.loads(body)
    assert info.value.status == 422
    assert "too large" in str(info.value)


def test_negative_zero_and_bom_are_accepted():
    value = jsonfast.loads(b"\xef\xbb\xbf[-0.0, 1.5e308]")
    assert value == [0.0, 1.5e308]
    assert np.signbit(value[0])


def test_str_input_and_duplicate_keys_keep_last():
    assert jsonfast.loads('{"a": 1, "a": 2}') == {"a": 2}


def test_dumps_numpy_nan_bytes_and_timestamps():
    out = jsonfast.dumps({
        "f32": np.array([0.5, np.nan, np.inf], dtype=np.float32),
        "f16": np.array([1.5], dtype=np.float16),
        "i": np.int64(7), "b": np.bool_(True), "u": np.array([2**64 - 1], dtype=np.uint64),
        "nan": float("nan"),
        "noncontig": np.arange(6).reshape(2, 3).T,
        "zero_d": np.array(2.5),
        "strs": np.array(["x", "y"]),
        "obj": np.array([b"ok", b"\xff\x00", None], dtype=object),
        "ts": pd.Timestamp("2024-05-01T12:00:00"), "nat": pd.NaT, "na": pd.NA,
        "date": dt.date(2024, 5, 1),
    })
    assert jsonfast.loads(out) == {
        "f32": [0.5, None, None], "f16": [1.5], "i": 7, "b": True, "u": [2**64 - 1],
        "nan": None, "noncontig": [[0, 3], [1, 4], [2, 5]], "zero_d": 2.5, "strs": ["x", "y"],
        "obj": ["ok", "/wA=", None], "ts": "2024-05-01T12:00:00", "nat": None, "na": None,
        "date": "2024-05-01",
    }


def test_dumps_unserialisable_output_is_a_veneer_error():
    with pytest.raises(VeneerError) as info:
        jsonfast.dumps({"x": object()})
    assert "cannot be written as JSON" in str(info.value)
    with pytest.raises(VeneerError):
        jsonfast.dumps(np.array([1 + 2j]))
