"""Payload codecs, one module per wire protocol; pure functions, no Flask.

- ``jsonfast``: strict orjson ``loads``/``dumps`` shared by every JSON codec.
- ``media``: Content-Type parsing; ``require_json`` for the JSON-only routes (415).
- ``oip``: Open Inference Protocol V2 REST (infer request/response, metadata bodies).
- ``kserve_v1``: KServe V1 / TF-Serving ``instances`` / ``inputs``.
- ``mlflow_payloads``: MLflow scoring server ``/invocations`` (2.x/3.x and 1.x payloads, CSV).
- ``tabular``: the native route (JSON tables of any common shape, or CSV; same format out).

Each decoder returns a ``veneer.wrapper.batch.Batch`` and raises only
``VeneerError`` subclasses: 400 malformed, 413 too many rows, 415 media type,
422 wrong shape or type. Each module's ``error_body(err)`` renders its
protocol's error JSON.
"""
