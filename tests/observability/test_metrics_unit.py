"""Metric names, types and bounded labels, in one process (CASES 72, 73, 78)."""

from __future__ import annotations

import random
import string

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from veneer.sidecar.metrics import Metrics, render_metrics
from veneer.sidecar.metrics_labels import (EXACT_CODES, PROTOCOLS, code_label, protocol_label,
                                           sha_label, text_label)

from .conftest import scrape, total

EXPECTED_TYPES = {
    "veneer_requests": "counter",
    "veneer_request_duration_seconds": "histogram",
    "veneer_predict_duration_seconds": "histogram",
    "veneer_requests_in_flight": "gauge",
    "veneer_request_rows": "histogram",
    "veneer_model_load_seconds": "histogram",
    "veneer_model_load_failures": "counter",
    "veneer_model_info": "gauge",
    "veneer_model_engine_info": "gauge",
    "veneer_auth_failures": "counter",
    "veneer_upstream_errors": "counter",
    "veneer_jwks_fetch": "counter",
}


def _exercise(m: Metrics) -> None:
    m.observe_model_load(model="risk/churn", version="1", adapter="pickle", seconds=0.3,
                         sha256="AB" * 32, saved_with="scikit-learn=1.3.2")
    m.observe_load_failure(model="risk/churn", version="2", reason="hash_mismatch")
    m.observe_request(model="risk/churn", version="1", protocol="oip", status=200, seconds=0.02, rows=7)
    m.observe_request(model="risk/churn", version="1", protocol="oip", status=422, seconds=0.001, rows=None)
    m.observe_predict(model="risk/churn", version="1", seconds=0.01)
    with m.in_flight("risk/churn"):
        pass
    m.observe_engine(model="risk/churn", version="1", engine="onnx")
    m.observe_auth_failure("expired")
    m.observe_upstream_error(model="risk/churn", version="1", reason="timeout")
    m.observe_jwks_fetch("ok")


def test_names_types_and_values_parse():
    m = Metrics(known_models=["risk/churn"])
    _exercise(m)
    body, _ = render_metrics()
    text = body.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, typ in EXPECTED_TYPES.items():
        assert families[name].type == typ, name
    assert "_ms" not in text and "_milliseconds" not in text
    s = scrape()
    assert s["veneer_requests_total"][(("code", "200"), ("model", "risk/churn"), ("protocol", "oip"),
                                       ("version", "1"))] == 1
    assert total(s, "veneer_requests_total", code="422") == 1
    assert total(s, "veneer_request_duration_seconds_count") == 2
    assert total(s, "veneer_request_rows_sum") == 7          # the 422 had no rows
    assert total(s, "veneer_request_rows_count") == 1
    assert s["veneer_request_duration_seconds_bucket"][
        (("le", "0.001"), ("model", "risk/churn"), ("protocol", "oip"), ("version", "1"))] == 1
    info = s["veneer_model_info"]
    assert info == {(("adapter", "pickle"), ("model", "risk/churn"), ("saved_with", "scikit-learn=1.3.2"),
                     ("sha256", "abababababab"), ("version", "1")): 1.0}
    assert total(s, "veneer_model_load_failures_total", reason="hash_mismatch", version="2") == 1
    assert total(s, "veneer_requests_in_flight") == 0
    assert total(s, "veneer_auth_failures_total", reason="expired") == 1
    assert total(s, "veneer_upstream_errors_total", reason="timeout") == 1
    assert total(s, "veneer_jwks_fetch_total", result="ok") == 1
    assert total(s, "veneer_model_engine_info", engine="onnx") == 1


def test_in_flight_counts_while_inside_and_returns_to_zero_after_an_error():
    m = Metrics(known_models=["a"])
    try:
        with m.in_flight("a"):
            assert total(scrape(), "veneer_requests_in_flight", model="a") == 1
            raise RuntimeError("predict blew up")
    except RuntimeError:
        pass
    assert total(scrape(), "veneer_requests_in_flight", model="a") == 0


def test_injected_registry_is_used():
    reg = CollectorRegistry()
    m = Metrics(registry=reg, known_models=["a"])
    m.observe_auth_failure("missing")
    assert reg.get_sample_value("veneer_auth_failures_total", {"reason": "missing"}) == 1
    body, _ = m.render()
    assert b'veneer_auth_failures_total{reason="missing"} 1.0' in body


def test_disabled_metrics_are_no_ops():
    m = Metrics(known_models=["a"], enabled=False)
    _exercise(m)
    with m.in_flight("a"):
        pass
    assert m.registry is None


def _rand(rng: random.Random, n: int = 12) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "/._-") for _ in range(n))


def test_cardinality_stays_bounded_under_random_names_paths_and_tokens():
    """10,000 requests with random models, versions, protocols, codes and reasons (CASES 73)."""
    rng = random.Random(73)
    m = Metrics(known_models=["risk/churn", "risk/fraud"],
                known_versions={"risk/churn": ["1", "2"], "risk/fraud": ["1"]})
    junk = set()
    for _ in range(10_000):
        model = rng.choice(["risk/churn", "risk/fraud", _rand(rng), "/models/" + _rand(rng)])
        version = rng.choice(["1", "2", _rand(rng, 3), "v999"])
        proto = rng.choice(["native", "oip", "v1", _rand(rng, 6)])
        token = "eyJ" + _rand(rng, 40)
        junk.update({model, version, proto, token})
        m.observe_request(model=model, version=version, protocol=proto,
                          status=rng.randint(100, 599), seconds=rng.random(), rows=rng.randint(0, 99))
        m.observe_auth_failure(rng.choice(["expired", token]))
        m.observe_upstream_error(model=model, version=version, reason=_rand(rng, 5))
    s = scrape()
    series = s["veneer_requests_total"]
    models = {dict(k)["model"] for k in series}
    versions = {dict(k)["version"] for k in series}
    protocols = {dict(k)["protocol"] for k in series}
    codes = {dict(k)["code"] for k in series}
    assert models <= {"risk/churn", "risk/fraud", "_unknown"}
    assert versions <= {"1", "2", "_unknown"}
    assert protocols <= PROTOCOLS | {"other"}
    assert codes <= {str(c) for c in EXACT_CODES} | {"1xx", "2xx", "3xx", "4xx", "5xx"}
    # churn@1, churn@2, fraud@1 and _unknown@_unknown (plus known models with unknown versions)
    assert len(series) <= 5 * 9 * (len(EXACT_CODES) + 5)
    assert set(dict(k)["reason"] for k in s["veneer_auth_failures_total"]) == {"expired", "other"}
    body = render_metrics()[0].decode()
    leaked = [j for j in junk if len(j) >= 8 and j not in ("risk/churn", "risk/fraud") and j in body]
    assert leaked == []
    assert sum(len(v) for v in s.values()) < 5000


def test_label_helpers():
    assert protocol_label("v2") == "oip" and protocol_label("mlflow_scoring") == "mlflow"
    assert protocol_label("../../etc") == "other"
    assert code_label(404) == "404" and code_label(418) == "4xx" and code_label(302) == "3xx"
    assert code_label("x") == "other" and code_label(999) == "other"
    assert sha_label("0123456789ABCDEF" * 4) == "0123456789ab" and sha_label("zz") == "other"
    assert text_label("onnx 1.17") == "onnx 1.17" and text_label("a\nb") == "other"
    assert text_label("x" * 65) == "other" and text_label(None) == ""


def test_unknown_version_of_known_model_collapses():
    m = Metrics(known_models=["a"], known_versions={"a": ["1"]})
    m.observe_request(model="a", version="7", protocol="native", status=404, seconds=0.0, rows=None)
    m.observe_request(model="a", version="1", protocol="native", status=200, seconds=0.0, rows=1)
    s = scrape()
    assert total(s, "veneer_requests_total", model="a", version="_unknown", code="404") == 1
    assert total(s, "veneer_requests_total", model="a", version="1", code="200") == 1


def test_every_auth_reason_is_a_label_value():
    from veneer.sidecar.auth.reasons import ALL_REASONS
    from veneer.sidecar.metrics_labels import AUTH_FAILURE_REASONS

    assert ALL_REASONS <= AUTH_FAILURE_REASONS
