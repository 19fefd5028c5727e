"""One Blueprint per wire protocol; ``register_all`` mounts them on an app."""

from __future__ import annotations

from flask import Flask


def register_all(app: Flask) -> None:
    """Mount health, OIP V2, KServe V1, MLflow scoring, native, admin and docs routes."""
    from . import admin, docs, health, kserve_v1, mlflow_scoring, native, oip

    for module in (health, oip, kserve_v1, mlflow_scoring, native, admin, docs):
        app.register_blueprint(module.bp)
