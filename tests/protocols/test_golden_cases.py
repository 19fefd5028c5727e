"""Golden request/response cases for every protocol, one JSON file each in ``cases/``.

Each file holds the request (method, path, headers, json or body + content_type)
and what must come back: the status (or a list of acceptable ones), a subset of
the JSON body, keys that must be present, exact text, and headers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CASES = sorted((Path(__file__).parent / "cases").glob("*.json"))


def subset(expected, actual, where="$"):
    """Assert ``expected`` is contained in ``actual`` (lists compared item by item)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}: missing {key!r} in {actual!r}"
            subset(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            subset(e, a, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@pytest.mark.parametrize("case_file", CASES, ids=[c.stem for c in CASES])
def test_golden_case(client, case_file):
    case = json.loads(case_file.read_text())
    kwargs = {"headers": case.get("headers", {})}
    if "json" in case:
        kwargs["json"] = case["json"]
    elif "body" in case:
        kwargs["data"] = case["body"].encode()
        kwargs["content_type"] = case.get("content_type")
    response = client.open(case["path"], method=case["method"], **kwargs)
    expect = case["expect"]
    statuses = expect["status"] if isinstance(expect["status"], list) else [expect["status"]]
    assert response.status_code in statuses, response.get_data(as_text=True)
    assert "<html" not in response.get_data(as_text=True).lower()
    assert response.headers.get("X-Request-ID")
    if "json" in expect or "json_keys" in expect:
        body = response.get_json(silent=True)
        assert body is not None, f"not JSON: {response.get_data(as_text=True)!r}"
        if "json" in expect:
            subset(expect["json"], body)
        for key in expect.get("json_keys", []):
            assert key in body, f"{key!r} missing from {body!r}"
    if "text" in expect:
        assert response.get_data(as_text=True).replace("\r\n", "\n") == expect["text"]
    for name, value in expect.get("headers", {}).items():
        assert response.headers.get(name, "").split(";")[0] == value, f"header {name}: {response.headers.get(name)!r}"


def test_every_protocol_has_golden_cases():
    prefixes = {c.stem.split("_")[1] for c in CASES}
    assert {"oip", "v1", "mlflow", "native"} <= prefixes
