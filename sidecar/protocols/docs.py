"""API docs per prefix: ``/models/{prefix}/docs/``, ``/redoc/`` and ``openapi.json``.

A prefix may contain ``/``, so these URLs are recognised by the native
catch-all (``native.models`` calls ``maybe_serve`` first) rather than by URL
rules. Docs follow the prefix's auth: public only with
``prefixes.<p>.docs_public: true``, else a token with ``metadata`` or
``predict`` permission on the prefix. Callers who may not see the prefix get
the same 401/403 as its models, so docs never reveal which prefixes exist.

Swagger UI and ReDoc are served from this server (``/_veneer/static/``), never
from a CDN: clusters without internet must still render them. Their files come
from a pip package (``ASSET_SOURCES``); without one the HTML routes answer 501
naming the extra to install, while ``openapi.json`` keeps working.
"""

from __future__ import annotations

import html
import importlib.util
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path

from flask import Blueprint, Response, request, send_file

from veneer._version import __version__
from veneer.wrapper.errors import NotFound, VeneerError

from ..openapi import DocumentCache, prefixes_with_models
from ..state import ServerState
from .common import mark, state

bp = Blueprint("docs", __name__)
DOC_KINDS = ("docs", "redoc", "openapi.json")
INSTALL_HINT = "pip install 'veneer[docs]'"
#: packages that ship the UI files, tried in order: name -> {served file: path inside the package}
ASSET_SOURCES = (
    ("openapi_ui_bundles", {"swagger-ui-bundle.js": "swagger_ui/vendor/swagger-ui-bundle.js",
                            "swagger-ui.css": "swagger_ui/vendor/swagger-ui.css",
                            "redoc.standalone.js": "redoc/vendor/redoc.standalone.js"}),
    ("fastapi_offline", {"swagger-ui-bundle.js": "static/swagger-ui-bundle.js",
                         "swagger-ui.css": "static/swagger-ui.css",
                         "redoc.standalone.js": "static/redoc.standalone.js"}),
)
_OWN_FILES = ("veneer-docs.js", "veneer-docs.css")
_OWN_DIR = Path(__file__).resolve().parents[1] / "static" / "docs"
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'")
_CACHE_KEY = "docs_cache"


class DocsUnavailable(VeneerError):
    """The Swagger UI / ReDoc files are not installed (501)."""

    status = HTTPStatus.NOT_IMPLEMENTED
    code = "docs_assets_missing"


@lru_cache(maxsize=1)
def asset_files() -> dict[str, Path] | None:
    """Served file name -> path on disk, from the first installed asset package (None: none is)."""
    for package, files in ASSET_SOURCES:
        spec = importlib.util.find_spec(package)  # finds without importing (fastapi_offline imports fastapi)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(list(spec.submodule_search_locations)[0])
        found = {name: root / rel for name, rel in files.items()}
        if all(p.is_file() for p in found.values()):
            return {**found, **{name: _OWN_DIR / name for name in _OWN_FILES}}
    return None


@lru_cache(maxsize=1)
def asset_tag() -> str:
    """A URL segment that changes with veneer's and the asset package's versions (long caching is safe)."""
    from importlib.metadata import PackageNotFoundError, version

    for package, _ in ASSET_SOURCES:
        try:
            return f"{__version__}-{package}-{version(package.replace('_', '-'))}".replace("/", "_")
        except PackageNotFoundError:
            continue
    return __version__


@bp.get("/_veneer/static/<tag>/<name>")
def static_asset(tag: str, name: str) -> Response:
    """One UI file, cached by browsers for a year (the tag changes when the file can)."""
    mark("docs", count=False)
    files = asset_files()
    if files is None:
        raise _unavailable()
    if tag != asset_tag() or name not in files:
        raise NotFound(f"No docs asset {name!r} under tag {tag!r}.",
                       fix="Load the docs page again; asset URLs change with veneer's version.")
    response = send_file(files[name], conditional=True, max_age=31536000)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _unavailable() -> DocsUnavailable:
    return DocsUnavailable("The API docs UI needs the Swagger UI and ReDoc files, which are not installed.",
                           fix=f"Run: {INSTALL_HINT} (openapi.json is served without them).")


def cache_of(st: ServerState) -> DocumentCache:
    """The app's document cache (one per worker)."""
    cache = st.extra.get(_CACHE_KEY)
    if cache is None:
        cache = st.extra.setdefault(_CACHE_KEY, DocumentCache())
    return cache


def docs_target(rest: str) -> tuple[str, str] | None:
    """``(prefix, kind)`` when ``/models/{rest}`` is a docs URL of a prefix that serves models."""
    if request.method not in ("GET", "HEAD"):
        return None  # a POST is a prediction (or 404), never the docs; checked first: it is the hot path
    segments = rest.split("/")
    if segments[-1] == "" and len(segments) > 1:
        segments = segments[:-1]
    if len(segments) < 2 or segments[-1] not in DOC_KINDS:
        return None
    st = state()
    prefix = "/".join(segments[:-1])
    if prefix not in prefixes_with_models(st):
        return None
    # a model really called "docs" keeps its metadata route; its plain GET is the docs page
    if "get_meta" in request.args and st.models.find_model(f"{prefix}/{segments[-1]}") is not None:
        return None
    return prefix, segments[-1]


def maybe_serve(rest: str) -> Response | None:
    """The docs answer for ``/models/{rest}``, or None when it is not a docs URL."""
    target = docs_target(rest)
    if target is None:
        return None
    mark("docs", count=False)
    prefix, kind = target
    st = state()
    check_access(st, prefix)
    if kind == "openapi.json":
        return openapi_json(st, prefix)
    return page(st, prefix, kind)


def check_access(st: ServerState, prefix: str) -> None:
    """Public docs pass; otherwise a token with ``metadata`` or ``predict`` on the prefix."""
    auth = st.auth
    if auth is None or not auth.enabled or auth.is_public(f"docs:{prefix}"):
        return
    principal = auth.authenticate(request.headers, request.args)
    # "metadata" is satisfied by a token's metadata, predict or manage permission (auth/principal.py)
    auth.authorize(principal, prefix=prefix, model="", model_spec=None, permission="metadata")


def _private(st: ServerState, prefix: str) -> bool:
    return st.auth is not None and st.auth.enabled and not st.auth.is_public(f"docs:{prefix}")


def openapi_json(st: ServerState, prefix: str) -> Response:
    """The prefix's OpenAPI document (built once per traffic or load change)."""
    response = Response(cache_of(st).get(st, prefix), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store" if _private(st, prefix) else "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
{styles}
<link rel="stylesheet" href="{static}/veneer-docs.css">
</head>
<body>
<div id="veneer-docs" data-ui="{ui}" data-spec-url="{spec_url}"{query_param}></div>
<div id="{mount}"></div>
<script src="{static}/{bundle}"></script>
<script src="{static}/veneer-docs.js"></script>
</body>
</html>
"""


def _query_param(st: ServerState) -> str:
    settings = getattr(st.auth, "settings", None) if st.auth is not None and st.auth.enabled else None
    if settings is None or not getattr(settings, "allow_query_token", False):
        return ""
    return f' data-query-param="{html.escape(settings.query_token_param, quote=True)}"'


def page(st: ServerState, prefix: str, kind: str) -> Response:
    """The Swagger UI (``docs``) or ReDoc (``redoc``) page of ``prefix``."""
    if asset_files() is None:
        raise _unavailable()
    static = f"/_veneer/static/{asset_tag()}"
    swagger = kind == "docs"
    body = _PAGE.format(
        title=html.escape(f"veneer: {prefix} ({'Swagger UI' if swagger else 'ReDoc'})"),
        styles=f'<link rel="stylesheet" href="{static}/swagger-ui.css">' if swagger else "",
        static=static, ui="swagger" if swagger else "redoc", mount="swagger-ui" if swagger else "redoc",
        bundle="swagger-ui-bundle.js" if swagger else "redoc.standalone.js",
        spec_url=html.escape(f"/models/{prefix}/openapi.json", quote=True), query_param=_query_param(st))
    response = Response(body, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
