"""Prometheus metrics of ONNX acceleration (created on first use, once per process).

======================================================  =======  ==============================
veneer_acceleration_rows_compared_total                 counter  model, version
veneer_acceleration_disagreements_total                 counter  model, version
veneer_acceleration_promoted                            gauge    model, version (``mostrecent``)
======================================================  =======  ==============================

They live in prometheus_client's default registry, so under gunicorn the
multiprocess collector of ``/metrics`` sums them over workers. Label values come
from the configuration only (the version's model and version).
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_metrics: dict[str, Any] = {}


def _get() -> dict[str, Any]:
    with _lock:
        if not _metrics:
            from prometheus_client import Counter, Gauge

            _metrics["compared"] = Counter("veneer_acceleration_rows_compared_total",
                                           "Rows answered by scikit-learn and ONNX and compared.",
                                           ["model", "version"])
            _metrics["disagreements"] = Counter("veneer_acceleration_disagreements_total",
                                                "Comparisons where ONNX differed from scikit-learn "
                                                "(each demotes the version's ONNX engine).",
                                                ["model", "version"])
            _metrics["promoted"] = Gauge("veneer_acceleration_promoted",
                                         "1 while ONNX answers for the version, 0 in shadow or demoted.",
                                         ["model", "version"], multiprocess_mode="mostrecent")
        return _metrics


def rows_compared(model: str, version: str, n: int) -> None:
    """Count ``n`` compared rows."""
    _get()["compared"].labels(model, version).inc(n)


def disagreement(model: str, version: str) -> None:
    """Count one disagreement."""
    _get()["disagreements"].labels(model, version).inc()


def promoted(model: str, version: str, value: bool) -> None:
    """Publish whether ONNX answers for the version."""
    _get()["promoted"].labels(model, version).set(1 if value else 0)
