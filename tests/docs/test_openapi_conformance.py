"""The generated OpenAPI document tells the truth about the server: schemathesis, in process.

Requests are generated from ``/models/risk/openapi.json`` itself and sent to the
same Flask app through WSGI; every answer must use a status, content type,
headers and body the document declares, and none may be a server error. A
document that promised less (or other) than the routes do fails here.
"""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, given, settings

from veneer.sidecar.app import create_app
from veneer.wrapper.config import load_config

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (content_type_conformance,  # noqa: E402
                                               response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

TOY = "tests.fixtures.toy_adapters"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def docs_schema(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs-conformance")
    (folder / "veneer.yaml").write_text(textwrap.dedent(f"""
        prefix: risk
        auth: none
        registry: {{enabled: false}}
        server: {{access_log: false, metrics: false, max_rows: 50, state_dir: {folder / 'state'}}}
        models:
          sum:
            versions:
              - {{version: "1", adapter: "{TOY}:SumAdapter", stage: production, weight: 100}}
              - {{version: "2", adapter: "{TOY}:SumAdapter", stage: staging, weight: 0}}
        """))
    app = create_app(load_config(folder / "veneer.yaml", env={}))
    return schemathesis.openapi.from_wsgi("/models/risk/openapi.json", app)


def test_server_answers_as_its_document_says(docs_schema):
    # one Hypothesis run per operation (a lazily loaded schema cannot be parametrized at collection here)
    failures = {}
    operations = [result.ok() for result in docs_schema.get_all_operations()]
    assert len(operations) == 15, [op.label for op in operations]
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except Exception as e:  # collect every operation's failure, then report them together
            failures[operation.label] = e
    assert not failures, "\n\n".join(f"{label}: {e}" for label, e in failures.items())
