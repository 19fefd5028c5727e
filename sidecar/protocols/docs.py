"""API docs per prefix: ``/models/{prefix}/docs/``, ``/redoc/`` and ``openapi.json``."""

from flask import Blueprint

bp = Blueprint("docs", __name__)
