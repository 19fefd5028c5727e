"""The example legacy scoring service, run for real, called through the adapter in its three formats.

Every prediction through veneer is compared with the answer of calling the service
directly in its own format.
"""

from __future__ import annotations

import csv
import io

import pytest
import requests

from tests.adapters.contract import AdapterContractTests
from veneer.adapters.http import HttpAdapter
from veneer.wrapper.batch import Batch, normalize_outputs
from veneer.wrapper.settings import VersionSpec

from .conftest import COLUMNS, ROWS, make_adapter

pytestmark = pytest.mark.slow

JSON_OPTIONS = {"request": {"format": "json", "body": "records"},
                "response": {"format": "json", "path": "result.scores[*]", "name": "churn_probability"},
                "inputs": COLUMNS}


def direct_json(url: str) -> list[float]:
    records = [dict(zip(COLUMNS, r)) for r in ROWS]
    return requests.post(f"{url}/score", json={"records": records}, timeout=5).json()["result"]["scores"]


def test_json_records_format_matches_direct_call(legacy_service) -> None:
    a = make_adapter(f"{legacy_service.url}/score", **JSON_OPTIONS)
    got = a.predict(Batch(columns=COLUMNS, rows=ROWS))
    assert got == {"churn_probability": direct_json(legacy_service.url)}
    assert 0 < got["churn_probability"][0] < 1 and len(set(got["churn_probability"])) == 3


def test_csv_format_matches_direct_call(legacy_service) -> None:
    text = "tenure,monthly_charges,support_calls\n" + "\n".join(",".join(map(str, r)) for r in ROWS) + "\n"
    direct = requests.post(f"{legacy_service.url}/score.csv", data=text, timeout=5,
                           headers={"Content-Type": "text/csv"}).text
    expected = [float(row["score"]) for row in csv.DictReader(io.StringIO(direct))]
    a = make_adapter(f"{legacy_service.url}/score.csv", request={"format": "csv"},
                     response={"format": "csv", "column": "score"})
    assert a.predict(Batch(columns=COLUMNS, rows=ROWS)) == {"predictions": expected}
    assert expected == direct_json(legacy_service.url)


@pytest.mark.parametrize("fmt", ["form", "query"])
def test_one_row_per_call_formats_match_direct_call(legacy_service, fmt) -> None:
    expected = [float(requests.get(f"{legacy_service.url}/score_one", timeout=5,
                                   params=dict(zip(COLUMNS, r))).text) for r in ROWS]
    a = make_adapter(f"{legacy_service.url}/score_one", request={"format": fmt}, response={"format": "text"})
    assert a.predict(Batch(columns=COLUMNS, rows=ROWS)) == {"predictions": expected}
    assert a.metadata().extra["per_row"] is True


def test_columns_in_another_order_are_reordered_to_declared_inputs(legacy_service) -> None:
    a = make_adapter(f"{legacy_service.url}/score", **JSON_OPTIONS)
    shuffled = Batch(columns=COLUMNS[::-1], rows=[r[::-1] for r in ROWS])
    assert a.predict(shuffled) == {"churn_probability": direct_json(legacy_service.url)}


def test_frame_and_tensor_batches_work_too(legacy_service) -> None:
    import numpy as np
    import pandas as pd

    a = make_adapter(f"{legacy_service.url}/score", **JSON_OPTIONS)
    expected = direct_json(legacy_service.url)
    frame = pd.DataFrame(ROWS, columns=COLUMNS)
    assert a.predict(Batch.from_frame(frame)) == {"churn_probability": expected}
    tensors = {c: np.array([r[i] for r in ROWS], dtype=np.float64) for i, c in enumerate(COLUMNS)}
    assert a.predict(Batch(tensors=tensors)) == {"churn_probability": expected}


def test_service_400_reaches_the_client_as_its_error(legacy_service) -> None:
    from veneer.wrapper.errors import BadRequest

    a = make_adapter(f"{legacy_service.url}/score", **{**JSON_OPTIONS, "inputs": []})
    with pytest.raises(BadRequest) as info:
        a.predict(Batch(columns=["tenure", "monthly_charges", "support_calls"], rows=[["x", 1, 1]]))
    assert info.value.status == 400 and "fields must be numbers" in str(info.value)


def test_ready_follows_the_health_url(legacy_service, closed_port_url) -> None:
    a = make_adapter(f"{legacy_service.url}/score", health={"url": f"{legacy_service.url}/healthz"}, **JSON_OPTIONS)
    assert a.ready() is True
    down = make_adapter(f"{legacy_service.url}/score", health={"url": closed_port_url, "timeout": 0.5},
                        **JSON_OPTIONS)
    assert down.ready() is False
    assert make_adapter(f"{legacy_service.url}/score", load=False, **JSON_OPTIONS).ready() is False


class TestHttpAdapterContract(AdapterContractTests):
    """The shared adapter conformance suite, against the real example service."""

    @pytest.fixture
    def adapter(self, legacy_service):
        return HttpAdapter(VersionSpec(version="1", adapter="http", url=f"{legacy_service.url}/score",
                                       options=JSON_OPTIONS, model="churn", prefix="legacy"))

    @pytest.fixture
    def good_batch(self):
        return Batch(columns=COLUMNS, rows=ROWS)

    @pytest.fixture
    def bad_batch(self):
        return Batch(columns=["tenure"], rows=[[1]])


def test_outputs_normalize_to_one_float_array(legacy_service) -> None:
    a = make_adapter(f"{legacy_service.url}/score", **JSON_OPTIONS)
    out = normalize_outputs(a.predict(Batch(columns=COLUMNS, rows=ROWS)))
    assert list(out) == ["churn_probability"] and out["churn_probability"].dtype.kind == "f"
