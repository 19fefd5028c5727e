"""Prometheus metrics of a veneer server, correct across gunicorn workers.

All metrics are defined here, once, on an injectable ``CollectorRegistry``
(STYLE 18). Names follow Prometheus conventions (``veneer_`` prefix, ``_total``
counters, ``_seconds`` durations); every label value is bounded by
``metrics_labels`` (unknown models and versions become ``_unknown``; nothing
comes from a token or a raw path). Multiprocess bookkeeping (the shared
directory, per-scrape collectors, dead workers) is in ``metrics_multiproc`` and
re-exported here:

===========================================  =========  =================================================
name                                         type       labels
===========================================  =========  =================================================
veneer_requests_total                        counter    model, version, protocol, code
veneer_request_duration_seconds              histogram  model, version, protocol
veneer_predict_duration_seconds              histogram  model, version
veneer_requests_in_flight                    gauge      model (multiprocess mode ``livesum``)
veneer_request_rows                          histogram  model, version
veneer_model_load_seconds                    histogram  model, version, adapter
veneer_model_load_failures_total             counter    model, version, reason
veneer_model_info                            gauge      model, version, adapter, sha256, saved_with (``max``)
veneer_model_engine_info                     gauge      model, version, engine (``max``)
veneer_auth_failures_total                   counter    reason
veneer_upstream_errors_total                 counter    model, version, reason
veneer_jwks_fetch_total                      counter    result
veneer_registry_up                           gauge      registry (written by the gunicorn master)
===========================================  =========  =================================================
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, ContextManager, Iterable, Mapping

from .metrics_labels import (AUTH_FAILURE_REASONS, ENGINES, JWKS_RESULTS, LOAD_FAILURE_REASONS,
                             UNKNOWN, UPSTREAM_REASONS, KnownNames, code_label, protocol_label,
                             reason_label, sha_label, text_label)
from .metrics_multiproc import (ENV, child_exit, cleanup_multiproc_dir, multiproc_dir,
                                prepare_multiproc_dir, render_metrics, set_process_registry,
                                set_registry_up)

__all__ = ["Metrics", "child_exit", "cleanup_multiproc_dir", "prepare_multiproc_dir",
           "render_metrics", "set_registry_up"]

#: request latency: 1 ms .. 60 s (a legacy HTTP model may be slow)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0)
ROWS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000, 100000)
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


#: most distinct (model, version, protocol, status) combinations whose label children are cached
CHILD_CACHE_SIZE = 4096


class Metrics:
    """Every metric veneer records, behind methods that bound their label values.

    ``registry`` None builds a private registry (so several instances can coexist
    in one process, as in tests); ``known_models`` are the label values allowed
    for ``model`` (qualified names as the caller passes them, e.g. ``risk/churn``);
    ``known_versions`` maps a model to its versions (versions are also learned
    from ``observe_model_load`` / ``observe_load_failure``). ``enabled=False``
    makes every method a no-op. In multiprocess mode build this after
    ``prepare_multiproc_dir``.
    """

    def __init__(self, *, registry=None, known_models: Iterable[str] = (), enabled: bool = True,
                 known_versions: Mapping[str, Iterable[str]] | None = None) -> None:
        self.enabled = enabled
        self.known = KnownNames(known_models, known_versions)
        if not enabled:
            self.registry = registry
            return
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

        if multiproc_dir() and not getattr(values.ValueClass, "_multiprocess", False):
            # the directory was set without prepare_multiproc_dir (e.g. by a shell
            # script) after prometheus_client was imported: switch to file values now
            values.ValueClass = values.get_value_class()
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter("veneer_requests_total", "Requests answered, by model, version, "
                                "protocol and status code (rejected requests included).",
                                ["model", "version", "protocol", "code"], registry=r)
        self.request_seconds = Histogram("veneer_request_duration_seconds", "Time from request "
                                         "received to response ready, in seconds.",
                                         ["model", "version", "protocol"], registry=r,
                                         buckets=LATENCY_BUCKETS)
        self.predict_seconds = Histogram("veneer_predict_duration_seconds", "Time spent in the "
                                         "model's predict call alone, in seconds.",
                                         ["model", "version"], registry=r, buckets=LATENCY_BUCKETS)
        self.in_flight_gauge = Gauge("veneer_requests_in_flight", "Requests being processed now.",
                                     ["model"], registry=r, multiprocess_mode="livesum")
        self.rows = Histogram("veneer_request_rows", "Rows (instances) per prediction request.",
                              ["model", "version"], registry=r, buckets=ROWS_BUCKETS)
        self.load_seconds = Histogram("veneer_model_load_seconds", "Time to load one model "
                                      "version, in seconds.", ["model", "version", "adapter"],
                                      registry=r, buckets=LOAD_BUCKETS)
        self.load_failures = Counter("veneer_model_load_failures_total", "Model versions that "
                                     "failed to load, by reason.", ["model", "version", "reason"],
                                     registry=r)
        self.model_info = Gauge("veneer_model_info", "1 for each loaded model version; labels "
                                "describe the artifact.", ["model", "version", "adapter", "sha256",
                                                           "saved_with"],
                                registry=r, multiprocess_mode="max")
        self.engine_info = Gauge("veneer_model_engine_info", "1 for the engine each version "
                                 "predicts with (native or an accelerated ONNX session).",
                                 ["model", "version", "engine"], registry=r,
                                 multiprocess_mode="max")
        self.auth_failures = Counter("veneer_auth_failures_total", "Requests refused by "
                                     "authentication or authorization, by reason.", ["reason"],
                                     registry=r)
        self.upstream_errors = Counter("veneer_upstream_errors_total", "Failed calls to external "
                                       "HTTP models, by reason.", ["model", "version", "reason"],
                                       registry=r)
        self.jwks_fetches = Counter("veneer_jwks_fetch_total", "JWKS key set fetches, by result.",
                                    ["result"], registry=r)
        set_process_registry(r)
        # raw (model, version, protocol, status) -> label children; raw keys can be anything a
        # client sends, so the cache is capped (the labels themselves are bounded elsewhere)
        self._request_children: dict[tuple, tuple] = {}
        self._predict_children: dict[tuple, Any] = {}

    # -- requests ---------------------------------------------------------------------------

    def observe_request(self, *, model: str | None, version: str | None, protocol: str,
                        status: int, seconds: float, rows: int | None = None) -> None:
        """Count one answered request (any status) and its latency and row count."""
        if not self.enabled:
            return
        key = (model, version, protocol, status)
        children = self._request_children.get(key)
        if children is None:  # label resolution once per distinct request kind, not per request
            m, v = self.known.pair(model, version)
            p = protocol_label(protocol)
            children = (self.requests.labels(m, v, p, code_label(status)),
                        self.request_seconds.labels(m, v, p), self.rows.labels(m, v))
            if len(self._request_children) < CHILD_CACHE_SIZE:
                self._request_children[key] = children
        count, latency, row_hist = children
        count.inc()
        latency.observe(max(0.0, float(seconds)))
        if rows is not None and rows >= 0:
            row_hist.observe(rows)

    def observe_predict(self, *, model: str, version: str, seconds: float) -> None:
        """Record the duration of one ``adapter.predict`` call."""
        if self.enabled:
            key = (model, version)
            child = self._predict_children.get(key)
            if child is None:
                child = self.predict_seconds.labels(*self.known.pair(model, version))
                if len(self._predict_children) < CHILD_CACHE_SIZE:
                    self._predict_children[key] = child
            child.observe(max(0.0, float(seconds)))

    def in_flight(self, model: str | None) -> ContextManager:
        """A context manager counting one request in flight for ``model`` while it runs."""
        if not self.enabled:
            return contextlib.nullcontext()
        return self.in_flight_gauge.labels(self.known.model(model)).track_inprogress()

    def _forget_children(self) -> None:
        """A newly known version changes how raw names map to labels."""
        self._request_children = {}
        self._predict_children = {}

    # -- models -----------------------------------------------------------------------------

    def observe_model_load(self, *, model: str, version: str, adapter: str, seconds: float,
                           sha256: str | None = None, saved_with: str | None = None) -> None:
        """Record a successful load and publish ``veneer_model_info`` for the version."""
        self.known.add(model, version)
        self._forget_children()
        if not self.enabled:
            return
        m, v = self.known.pair(model, version)
        a = text_label(adapter) or UNKNOWN
        self.load_seconds.labels(m, v, a).observe(max(0.0, float(seconds)))
        self.model_info.labels(m, v, a, sha_label(sha256), text_label(saved_with)).set(1)

    def observe_load_failure(self, *, model: str, version: str, reason: str) -> None:
        """Count a failed load; ``reason`` is the ``ArtifactError`` code."""
        self.known.add(model, version)
        self._forget_children()
        if self.enabled:
            m, v = self.known.pair(model, version)
            self.load_failures.labels(m, v, reason_label(reason, LOAD_FAILURE_REASONS)).inc()

    def observe_engine(self, *, model: str, version: str, engine: str) -> None:
        """Publish which engine a version predicts with (``native``, ``onnx``...)."""
        if self.enabled:
            m, v = self.known.pair(model, version)
            self.engine_info.labels(m, v, reason_label(engine, ENGINES)).set(1)

    # -- auth, upstream -----------------------------------------------------------------------

    def observe_auth_failure(self, reason: str) -> None:
        """Count a refused request; ``reason`` is the error code (never token contents)."""
        if self.enabled:
            self.auth_failures.labels(reason_label(reason, AUTH_FAILURE_REASONS)).inc()

    def observe_upstream_error(self, *, model: str, version: str, reason: str) -> None:
        """Count a failed call to an external HTTP model."""
        if self.enabled:
            m, v = self.known.pair(model, version)
            self.upstream_errors.labels(m, v, reason_label(reason, UPSTREAM_REASONS)).inc()

    def observe_jwks_fetch(self, result: str) -> None:
        """Count a JWKS fetch by result (``ok``, ``not_modified``, ``error``, ``timeout``...)."""
        if self.enabled:
            self.jwks_fetches.labels(reason_label(result, JWKS_RESULTS)).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition of this instance (the merged files in multiprocess mode)."""
        return render_metrics(self.registry)


def metrics_env_summary() -> str:
    """One line for the start-up log: where metrics are kept."""
    d = os.environ.get(ENV)
    return f"metrics: multiprocess dir {d}" if d else "metrics: single process"
