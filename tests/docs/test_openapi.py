"""The per-prefix OpenAPI document and the docs routes, through Flask's test client.

The browser test (test_docs_browser.py) proves the pages render; these pin the
document's content, the docs' auth rules, the cache and the asset route.
"""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from tests.docs.conftest import ENV, needs_assets, token, write_config
from veneer.adapters.base import TensorSpec
from veneer.sidecar import openapi_schemas as schemas
from veneer.sidecar.app import create_app
from veneer.sidecar.openapi import DocumentCache, build_document
from veneer.sidecar.protocols import docs
from veneer.sidecar.routing import TrafficTable
from veneer.sidecar.state import get_state
from veneer.wrapper.config import load_config


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("docs")


@pytest.fixture(scope="module")
def open_app(folder):
    return create_app(load_config(write_config(folder, auth=False), env={}))


@pytest.fixture(scope="module")
def auth_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs-auth")
    mp = pytest.MonkeyPatch()
    mp.setenv("VENEER_JWT_SECRET", ENV["VENEER_JWT_SECRET"])
    try:
        yield create_app(load_config(write_config(folder, auth=True), env=ENV))
    finally:
        mp.undo()


def validate_openapi(doc: dict) -> None:
    """Validate against the OpenAPI 3.1 meta-schema that schemathesis ships."""
    from schemathesis.specs.openapi.adapter.validators import validate_v3

    validate_v3(doc)


def test_document_lists_native_and_oip_routes_of_every_version(open_app):
    r = open_app.test_client().get("/models/risk/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    doc = r.get_json()
    validate_openapi(doc)
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == "veneer: risk"
    paths = doc["paths"]
    for v in ("", "v1/", "v2/", "v3/"):
        assert set(paths[f"/models/risk/sum/{v}"]) == {"post", "get"}
    assert "/v2/models/risk/sum/versions/2/infer" in paths and "/v2/models/risk/sum/ready" in paths
    assert not any("credit" in p for p in paths), "another prefix's models leaked into risk's docs"
    post = paths["/models/risk/sum/v1/"]["post"]
    # SumAdapter's metadata: one FP64 tensor "x" of shape (-1, -1) -> rows of numbers, plus CSV
    rows = post["requestBody"]["content"]["application/json"]["schema"]["anyOf"][0]
    assert rows["title"] == "rows" and rows["items"]["items"] == {"type": "number"}
    assert rows["maxItems"] == 500  # server.max_rows
    assert "text/csv" in post["requestBody"]["content"]
    assert set(post["responses"]) == {"200", "400", "404", "413", "415", "422", "503"}  # auth off: no 401/403
    assert set(post["responses"]["200"]["headers"]) == {
        "X-Request-ID", "X-Veneer-Model", "X-Veneer-Model-Version", "X-Veneer-Model-Stage",
        "X-Veneer-Routing-Key", "X-Veneer-Engine"}
    assert doc["components"]["responses"]["E422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    assert "securitySchemes" not in doc["components"] and "security" not in doc
    assert "Auth is OFF" in doc["info"]["description"]
    tag = next(t for t in doc["tags"] if t["name"] == "sum")
    assert "Adds up the numbers" in tag["description"] and "v1 90%, v2 10%" in tag["description"]
    # the broken draft says so instead of pretending it can answer
    assert "draft" in paths["/models/risk/sum/v3/"]["post"]["description"]
    assert "not loaded (failed)" in paths["/models/risk/sum/v3/"]["post"]["description"]


def test_document_leaks_no_paths_adapter_names_or_options(open_app, folder):
    text = open_app.test_client().get("/models/risk/openapi.json").get_data(as_text=True)
    for secret in (str(folder), "secret-marker-file", "toy_adapters", "SumAdapter", "offset", "1000"):
        assert secret not in text, f"{secret!r} leaked into the OpenAPI document"


def test_auth_on_adds_bearer_scheme_and_auth_errors(auth_app):
    r = auth_app.test_client().get("/models/risk/openapi.json")  # risk: docs_public
    assert r.status_code == 200, r.get_data(as_text=True)
    doc = r.get_json()
    validate_openapi(doc)
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"]}
    assert doc["security"] == [{"bearer": []}]
    assert {"401", "403"} <= set(doc["paths"]["/models/risk/sum/"]["post"]["responses"])


@pytest.mark.parametrize("kind", [pytest.param("docs/", marks=needs_assets),
                                  pytest.param("redoc/", marks=needs_assets), "openapi.json"])
def test_private_prefix_docs_need_a_token_with_metadata_or_predict(auth_app, kind):
    c = auth_app.test_client()
    url = f"/models/emea/credit/{kind}"
    r = c.get(url)
    assert r.status_code == 401 and r.mimetype == "application/json"
    assert r.get_json()["code"] and "Bearer" in r.headers["WWW-Authenticate"]
    other = token(["risk"], ["predict"])
    r = c.get(url, headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 403, "a token for another prefix must not read these docs"
    for perm in (["metadata"], ["predict"]):
        r = c.get(url, headers={"Authorization": f"Bearer {token(['emea/credit'], perm)}"})
        assert r.status_code == 200, (perm, r.get_data(as_text=True))
    assert r.headers["Cache-Control"] == "no-store"
    if kind == "openapi.json":
        assert list(r.get_json()["paths"])[0] == "/models/emea/credit/limit/"


def test_unknown_prefix_is_not_revealed(auth_app):
    # same answer as the model routes of an unknown prefix: the docs never confirm a prefix exists
    c = auth_app.test_client()
    r = c.get("/models/nosuch/docs/", headers={"Authorization": f"Bearer {token(['risk'], ['predict'])}"})
    assert r.status_code == 403
    assert c.get("/models/nosuch/docs/").status_code == 401


def test_post_to_docs_url_is_a_prediction_route(open_app):
    r = open_app.test_client().post("/models/risk/docs/", json=[[1, 2]])
    assert r.status_code == 404 and r.get_json()["code"] == "model_not_found"


@needs_assets
def test_html_pages_use_only_local_assets_with_long_cache(open_app):
    c = open_app.test_client()
    for kind, bundle in (("docs", "swagger-ui-bundle.js"), ("redoc", "redoc.standalone.js")):
        r = c.get(f"/models/risk/{kind}/")
        assert r.status_code == 200 and r.mimetype == "text/html"
        page = r.get_data(as_text=True)
        assert "http://" not in page and "https://" not in page, "no CDN: clusters may have no internet"
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        urls = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert any(u.endswith(bundle) for u in urls)
        for url in urls:
            a = c.get(url)
            assert a.status_code == 200 and len(a.data) > 100, url
            assert a.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            a.close()
    head = c.head("/models/risk/docs/")
    assert head.status_code == 200 and head.mimetype == "text/html"
    assert c.get(f"/_veneer/static/{docs.asset_tag()}/..%2Fopenapi.py").status_code == 404
    assert c.get(f"/_veneer/static/{docs.asset_tag()}/index.html").status_code == 404
    assert c.get("/_veneer/static/old-tag/swagger-ui.css").status_code == 404


def test_missing_asset_package_names_the_extra(open_app, monkeypatch):
    monkeypatch.setattr(docs, "ASSET_SOURCES", (("veneer_no_such_asset_package", {}),))
    docs.asset_files.cache_clear()
    try:
        c = open_app.test_client()
        r = c.get("/models/risk/docs/")
        assert r.status_code == 501 and r.get_json()["code"] == "docs_assets_missing"
        assert "pip install 'veneer[docs]'" in r.get_json()["error"]
        assert c.get("/models/risk/openapi.json").status_code == 200, "the JSON needs no UI files"
    finally:
        monkeypatch.undo()
        docs.asset_files.cache_clear()


def test_document_is_built_once_per_traffic_generation(open_app):
    st = get_state(open_app)
    cache = docs.cache_of(st)
    c = open_app.test_client()
    first = c.get("/models/risk/openapi.json").data
    builds = cache.builds
    for _ in range(5):
        assert c.get("/models/risk/openapi.json").data == first
    assert cache.builds == builds, "the document was rebuilt for a request with nothing changed"
    old = st.traffic_source.table
    st.traffic_source.table = TrafficTable.from_specs(
        st.traffic_source.specs, {"risk/sum": {"1": {"weight": 50}, "2": {"weight": 50}}},
        generation=old.generation + 1)
    try:
        doc = json.loads(c.get("/models/risk/openapi.json").data)
        assert cache.builds == builds + 1
        tag = next(t for t in doc["tags"] if t["name"] == "sum")
        assert "v1 50%, v2 50%" in tag["description"]
    finally:
        st.traffic_source.table = old


def test_cache_is_per_prefix(auth_app):
    st = get_state(auth_app)
    cache = DocumentCache()
    risk, credit = cache.get(st, "risk"), cache.get(st, "emea/credit")
    assert cache.builds == 2 and risk != credit
    assert cache.get(st, "risk") is risk and cache.builds == 2
    assert json.loads(credit) == json.loads(json.dumps(build_document(st, "emea/credit")))


COLUMNS = [TensorSpec("age", "INT32", (-1,)), TensorSpec("income", "FP64", (-1, 1)),
           TensorSpec("region", "BYTES", (-1,)), TensorSpec("member", "BOOL", (-1,))]


def test_tabular_metadata_gives_typed_records_columns_and_csv():
    content = schemas.native_request(COLUMNS, max_rows=10)
    schema = content["application/json"]["schema"]
    titles = [s["title"] for s in schema["anyOf"]]
    assert titles == ["records", "one record", "split", "columns", "MLflow scoring envelope"]
    ok = [{"age": 41, "income": 5200.5, "region": "north", "member": True}]
    jsonschema.validate(content["application/json"]["example"], schema)
    jsonschema.validate(ok, schema)
    jsonschema.validate({"age": [41, 42], "income": [1.0, 2.0], "region": ["a", "b"], "member": [True, False]},
                        schema)
    records = schema["anyOf"][0]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{**ok[0], "age": "old"}], records)  # a string in an INT32 column
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{**ok[0], "age": 2 ** 31}], records)  # out of INT32's range
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([ok[0]] * 11, records)  # more rows than max_rows
    assert content["text/csv"]["example"].splitlines()[0] == "age,income,region,member"


def test_scalar_types_follow_oip_datatypes():
    assert schemas.scalar_schema("UINT8") == {"type": "integer", "minimum": 0, "maximum": 255}
    assert schemas.scalar_schema("INT64")["minimum"] == -(2 ** 63)
    assert schemas.scalar_schema("FP16") == {"type": "number"}
    assert schemas.scalar_schema("BOOL") == {"type": "boolean"}
    assert schemas.scalar_schema("BYTES") == {"type": "string"}


def test_oip_request_names_the_input_tensors():
    content = schemas.oip_request([TensorSpec("pixels", "UINT8", (-1, 2, 2))])
    schema, example = content["application/json"]["schema"], content["application/json"]["example"]
    assert example == {"inputs": [{"name": "pixels", "shape": [1, 2, 2], "datatype": "UINT8", "data": [0] * 4}]}
    jsonschema.validate(example, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"inputs": [{**example["inputs"][0], "name": "other"}]}, schema)
