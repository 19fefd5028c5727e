"""``server.string_dtype``: the text columns a legacy ``predict(df)`` receives, in a real worker."""

from __future__ import annotations

import textwrap

import pytest
import requests

from tests.helpers.server import VeneerServer

pytestmark = pytest.mark.slow

PROBE = '''
def predict(df):
    """Answers, for every row, the dtypes of the frame it was given."""
    return [",".join(str(t) for t in df.dtypes)] * len(df)
'''


def serve_probe(folder, server_line: str) -> VeneerServer:
    (folder / "probe.py").write_text(PROBE)
    config = folder / "veneer.yaml"
    config.write_text(textwrap.dedent(f"""
        prefix: legacy
        auth: none
        registry: {{enabled: false}}
        server: {{{server_line}}}
        models:
          probe:
            versions:
              - {{version: "1", adapter: python, options: {{callable: "probe:predict", search_path: "{folder}"}}}}
        """))
    return VeneerServer(config, workers=1)


def dtypes_seen(srv: VeneerServer) -> str:
    r = requests.post(srv.url + "/models/legacy/probe/", json=[{"tenure": 3, "contract": "Two year"}], timeout=10)
    assert r.status_code == 200, r.text
    return r.json()[0]["predictions"]


def test_legacy_code_gets_object_text_columns_by_default(tmp_path) -> None:
    with serve_probe(tmp_path, "") as srv:
        assert dtypes_seen(srv) == "int64,object"


def test_pandas_3_str_columns_on_request(tmp_path) -> None:
    import pandas as pd

    if int(pd.__version__.split(".")[0]) < 3:
        pytest.skip("pandas < 3 has no default str dtype")
    with serve_probe(tmp_path, "string_dtype: str") as srv:
        assert dtypes_seen(srv) == "int64,str"
