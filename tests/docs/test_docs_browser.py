"""The docs pages really render: a real ``veneer serve`` and Debian's headless Chromium.

``--dump-dom`` prints the DOM after the page's scripts ran (``--virtual-time-budget``
lets them finish), so the assertions see what Swagger UI and ReDoc built from
the OpenAPI document, not the HTML shell. The browser resolves every host but
127.0.0.1 to nothing: a page that needed a CDN would not render here.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

from tests.docs.conftest import ENV, needs_assets, token, write_config
from tests.helpers.server import VeneerServer

pytestmark = [pytest.mark.slow, needs_assets]

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--virtual-time-budget=5000", "--window-size=1280,1600"]


def render(url: str, screenshot: Path | None = None) -> str:
    """The DOM of ``url`` after its scripts ran (and a PNG of it when ``screenshot`` is given)."""
    with tempfile.TemporaryDirectory(prefix="veneer-chromium-") as profile:
        cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom"]
        if screenshot is not None:
            cmd.append(f"--screenshot={screenshot}")
        done = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/setup-system.sh installs it: apt-get install chromium)")
    folder = tmp_path_factory.mktemp("docs-browser")
    config = write_config(folder, auth=True, query_token=True)
    with VeneerServer(config, workers=1, threads=4, env=ENV, cwd=folder) as srv:
        yield srv


def test_swagger_ui_renders_every_operation(server, tmp_path):
    png = tmp_path / "swagger.png"
    dom = render(f"{server.url}/models/risk/docs/", screenshot=png)
    assert 'class="swagger-ui' in dom, "Swagger UI did not start"
    for path in ("/models/risk/sum/", "/models/risk/sum/v2/", "/v2/models/risk/sum/infer"):
        assert f'data-path="{path}"' in dom, f"no operation block for {path}"
    assert dom.count("opblock-post") >= 8, "expected the POST operations of the native and OIP routes"
    assert "Predict with risk/sum" in dom and "veneer: risk" in dom
    assert "emea/credit" not in dom, "another prefix's models rendered in risk's docs"
    # auth is on: the Authorize button is there, and nobody is authorized yet
    assert "btn authorize unlocked" in dom
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    shutil.copy(png, Path(tempfile.gettempdir()) / "veneer-docs-swagger.png")  # for a person to look at


def test_token_in_fragment_authorizes_swagger_ui(server):
    dom = render(f"{server.url}/models/risk/docs/#token={token(['risk'], ['predict'])}")
    assert "btn authorize locked" in dom, "the token from the URL fragment was not put in the Authorize dialog"


def test_redoc_renders_operations(server, tmp_path):
    png = tmp_path / "redoc.png"
    dom = render(f"{server.url}/models/risk/redoc/", screenshot=png)
    assert 'class="redoc-wrap' in dom or "redoc-wrap" in dom, "ReDoc did not start"
    assert "Predict with risk/sum" in dom and "/models/risk/sum/" in dom
    assert "X-Veneer-Model-Version" in dom  # the response headers are documented
    assert "veneer-docs-error" not in dom
    assert png.stat().st_size > 20_000
    shutil.copy(png, Path(tempfile.gettempdir()) / "veneer-docs-redoc.png")


def test_private_prefix_renders_only_with_a_token(server):
    url = f"{server.url}/models/emea/credit/redoc/"
    assert requests.get(url, timeout=5).status_code == 401
    # the query token opens the page; the page's script then sends it as a bearer header for the spec
    dom = render(f"{url}?access_token={token(['emea/credit'], ['metadata'])}")
    assert "Predict with emea/credit/limit" in dom, dom[-3000:]
    assert "veneer-docs-error" not in dom
