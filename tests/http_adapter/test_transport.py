"""The session path: an injected transport (STYLE 20), and requests' own path against a real upstream.

Without a transport the adapter calls the urllib3 pool requests mounted (the fast
path, covered by every other test); these tests hold the slower path to the same
classification of answers and failures.
"""

from __future__ import annotations

import io

import pytest
import requests
from requests.adapters import BaseAdapter, HTTPAdapter

from veneer.adapters.http import HttpAdapter
from veneer.wrapper.batch import Batch
from veneer.wrapper.errors import BadRequest, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from veneer.wrapper.settings import VersionSpec

from .conftest import Reply


class FakeTransport(BaseAdapter):
    """A fake in the way of httpx.MockTransport: answers from a function, records the requests."""

    def __init__(self, handler):
        super().__init__()
        self.handler, self.sent = handler, []

    def send(self, request, **kwargs):
        self.sent.append((request, kwargs))
        status, body = self.handler(request)
        resp = requests.Response()
        resp.status_code, resp.raw, resp.url, resp.request = status, io.BytesIO(body), request.url, request
        resp.headers["Content-Type"] = "application/json"
        return resp

    def close(self):
        pass


class SlowPath(HTTPAdapter):
    """requests' real pooled adapter, but not the exact class: the adapter goes through the session."""


def adapter(url: str, transport, **options) -> HttpAdapter:
    a = HttpAdapter(VersionSpec(version="1", adapter="http", url=url, options=options), transport=transport)
    a.load()
    return a


def test_injected_transport_receives_the_translated_request() -> None:
    fake = FakeTransport(lambda req: (200, b'{"result": {"scores": [0.25, 0.75]}}'))
    a = adapter("http://legacy.invalid/score", fake, request={"body": "records"},
                response={"path": "result.scores[*]"}, timeouts={"connect": 0.5, "read": 2})
    out = a.predict(Batch(columns=["x"], rows=[[1], [2]], context={"request_id": "r-1"}))
    assert out == {"predictions": [0.25, 0.75]}
    (request, kwargs), = fake.sent
    assert request.body == b'{"records":[{"x":1},{"x":2}]}' and request.headers["X-Request-ID"] == "r-1"
    assert kwargs["timeout"] == (0.5, 2) and kwargs["stream"] is True
    assert a.pool is None


def test_injected_transport_5xx_is_classified() -> None:
    a = adapter("http://legacy.invalid/score", FakeTransport(lambda req: (500, b"boom")), response={"path": "$"})
    with pytest.raises(UpstreamError) as info:
        a.predict(Batch(columns=["x"], rows=[[1]]))
    assert info.value.details["reason"] == "status_500"


@pytest.mark.parametrize("reply,exc,reason", [
    (Reply(status=500), UpstreamError, "status_500"),
    (Reply(status=400, body=b'{"message": "no"}'), BadRequest, "status_400"),
    (Reply(status=302, headers={"Location": "http://127.0.0.1:9/x"}), UpstreamError, "redirect"),
    (Reply(hang=True), UpstreamTimeout, "read_timeout"),
    (Reply(body=b"not json"), UpstreamError, "invalid_json"),
])
def test_requests_path_classifies_like_the_fast_path(upstream, reply, exc, reason) -> None:
    upstream.answer(reply)
    a = adapter(upstream.url, SlowPath(max_retries=0), response={"path": "predictions"}, timeouts={"read": 0.3})
    assert a.pool is None
    with pytest.raises(exc) as info:
        a.predict(Batch(columns=["x"], rows=[[1]]))
    assert info.value.details["reason"] == reason


def test_requests_path_success_and_refused_port(upstream, closed_port_url) -> None:
    upstream.answer(Reply(body=b'{"predictions": [9]}'))
    assert adapter(upstream.url, SlowPath(max_retries=0), response={"path": "predictions"}).predict(
        Batch(columns=["x"], rows=[[1]])) == {"predictions": [9]}
    refused = adapter(closed_port_url, SlowPath(max_retries=0), response={"path": "predictions"})
    with pytest.raises(UpstreamUnavailable) as info:
        refused.predict(Batch(columns=["x"], rows=[[1]]))
    assert info.value.details["reason"] == "connect_error"


def test_credentials_in_the_url_become_basic_auth_on_the_fast_path(upstream) -> None:
    upstream.answer(Reply(body=b'{"predictions": [1]}'))
    a = adapter(upstream.url.replace("http://", "http://svc:p%40ss@") + "/score", None,
                response={"path": "predictions"})
    assert a.pool is not None
    a.predict(Batch(columns=["x"], rows=[[1]]))
    import base64

    assert upstream.hits[-1].headers["authorization"] == "Basic " + base64.b64encode(b"svc:p@ss").decode()
    assert upstream.hits[-1].path == "/score"
