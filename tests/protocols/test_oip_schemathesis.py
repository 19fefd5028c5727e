"""Property-based test of Open Inference Protocol (V2) REST against a real ``veneer serve``.

Schemathesis generates requests from the protocol's own OpenAPI file (the
upstream copy in ``spec/``, see its header for the one textual fix), both valid
ones and ones that break the schema, and sends them to a gunicorn server with
toy models. For every request:

- no 5xx (``not_a_server_error``): bad input is the client's error, never a crash;
- the status is one the spec documents for the route or one of veneer's
  documented error statuses (400 malformed, 404 unknown model/version,
  413 too large, 415 media type, 422 wrong shape or type);
- the answer is JSON, error answers in veneer's ``{"error", "code"}`` shape, and
  documented answers conform to the spec's content type and response schema.

In memory, the spec gains the unversioned routes its prose defines
(``/v2/models/{name}[/ready|/infer]``), and the model name, version and datatype
are steered toward what is served so that valid requests reach the decoders and
the model rather than stopping at 404. Negative generation still sends names,
versions and datatypes outside those lists.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import pytest
import requests
import yaml
from hypothesis import HealthCheck, settings

from tests.helpers.server import VeneerServer

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (content_type_conformance,  # noqa: E402
                                               response_schema_conformance)

pytestmark = pytest.mark.slow

SPEC = Path(__file__).with_name("spec") / "open_inference_rest.yaml"
TOY = "tests.fixtures.toy_adapters"
MODEL_NAMES = ["sum", "risk/sum"]
VERSIONS = ["1", "2"]
DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
             "FP16", "FP32", "FP64", "BYTES"]
#: veneer's documented error statuses for these routes (DESIGN.md "The wire"); 404 only where a
#: model or version is named in the path
VENEER_STATUSES = {400, 404, 413, 415, 422}
CONFIG = f"""
prefix: risk
auth: none
registry: {{enabled: false}}
server: {{max_request_bytes: 65536, max_rows: 500}}
models:
  sum:
    versions:
      - {{version: "1", adapter: "{TOY}:SumAdapter", stage: production, weight: 100}}
      - {{version: "2", adapter: "{TOY}:SumAdapter", stage: staging, weight: 0, options: {{offset: 1000}}}}
"""


def adapted_spec() -> dict:
    """The upstream spec plus the prose's unversioned routes, steered toward the served models."""
    spec = yaml.safe_load(SPEC.read_text())
    paths = spec["paths"]
    for suffix in ("", "/ready", "/infer"):
        versioned = paths[f"/v2/models/{{MODEL_NAME}}/versions/{{MODEL_VERSION}}{suffix}"]
        plain = copy.deepcopy(versioned)
        plain["parameters"] = [p for p in plain["parameters"] if p["name"] != "MODEL_VERSION"]
        for op in plain.values():
            if isinstance(op, dict) and "operationId" in op:
                op["operationId"] += "-unversioned"
        paths[f"/v2/models/{{MODEL_NAME}}{suffix}"] = plain
    for path in paths.values():
        for param in path.get("parameters", []):
            if param["name"] == "MODEL_NAME":
                param["schema"]["enum"] = MODEL_NAMES
            elif param["name"] == "MODEL_VERSION":
                param["schema"]["enum"] = VERSIONS
    spec["components"]["schemas"]["request_input"]["properties"]["datatype"]["enum"] = DATATYPES
    return spec


schema = schemathesis.openapi.from_dict(adapted_spec())


def documented_or_veneer_status(ctx, response, case) -> None:
    """The status is documented by the spec for this route, or is one of veneer's error statuses."""
    documented = {int(s) for s in case.operation.responses.status_codes if s.isdigit()}
    if case.method.upper() != case.operation.method.upper():
        documented.add(405)  # negative generation also swaps the method (TRACE, PUT...)
    allowed = documented | VENEER_STATUSES
    if "{" not in case.operation.path:
        allowed.discard(404)  # a fixed route (health, server metadata) must exist
    assert response.status_code in allowed, (
        f"status {response.status_code} is neither documented ({sorted(documented)}) "
        f"nor a veneer error status ({sorted(VENEER_STATUSES)}): {response.text[:500]}")


def json_answer(ctx, response, case) -> None:
    """Every answer is JSON; errors carry veneer's ``{"error": str, "code": str}``."""
    if case.method.upper() in ("OPTIONS", "HEAD"):
        return  # Flask's automatic answers: an Allow header / the GET headers, no body
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.split(";")[0].strip() == "application/json", f"Content-Type {content_type!r}"
    body = json.loads(response.text)
    if response.status_code >= 400:
        assert isinstance(body.get("error"), str) and body["error"], body
        assert isinstance(body.get("code"), str) and body["code"], body


CHECKS = [not_a_server_error, documented_or_veneer_status, json_answer,
          content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oip-schemathesis")
    (folder / "veneer.yaml").write_text(CONFIG)
    with VeneerServer(folder / "veneer.yaml", workers=1, threads=4, cwd=folder) as srv:
        yield srv


STATUSES: dict[str, Counter] = {}


@schema.exclude(path="/v2/").parametrize()
@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_oip_conformance(case, server):
    response = case.call_and_validate(base_url=server.url, checks=CHECKS, timeout=10)
    STATUSES.setdefault(f"{case.operation.method.upper()} {case.operation.path}", Counter())[
        response.status_code] += 1


def test_generated_requests_reached_the_model(server):
    """Guard against a vacuous run: valid requests were answered 200 and broken ones 4xx."""
    if not STATUSES:
        pytest.skip("run together with test_oip_conformance")
    for op in ("POST /v2/models/{MODEL_NAME}/infer", "POST /v2/models/{MODEL_NAME}/versions/{MODEL_VERSION}/infer"):
        seen = STATUSES.get(op, Counter())
        assert seen[200] >= 1, f"no generated request to {op} was a successful inference: {dict(seen)}"
        assert sum(n for s, n in seen.items() if 400 <= s < 500) >= 5, dict(seen)


def test_server_metadata_route_with_trailing_slash(server):
    """The spec's YAML names GET /v2/, its prose GET /v2: both answer."""
    r = requests.get(f"{server.url}/v2/", timeout=5)
    assert r.status_code == 200 and r.json()["name"] == "veneer"
