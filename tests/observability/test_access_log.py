"""The access log: one JSON line per request, token-free, readable in a terminal."""

from __future__ import annotations

import io
import json
import logging
import os

import pytest

from veneer.sidecar.access_log import configure_logging, log_request, resolve_format
from veneer.wrapper.errors import ConfigError


@pytest.fixture
def restore_logging():
    root = logging.getLogger("veneer")
    saved = (list(root.handlers), root.level, root.propagate)
    yield
    root.handlers[:], root.level, root.propagate = saved[0], saved[1], saved[2]


def _line(**over) -> dict:
    fields = dict(request_id="r-1", method="POST", path="/v2/models/churn/infer", model="risk/churn",
                  version="2", status=200, seconds=0.0123456, protocol="oip", remote="127.0.0.1")
    fields.update(over)
    log_request(**fields)


def test_one_json_line_with_every_field(restore_logging):
    out = io.StringIO()
    configure_logging("json", stream=out)
    _line()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["logger"] == "veneer.access" and entry["level"] == "info"
    assert {k: entry[k] for k in ("request_id", "method", "path", "model", "version", "status",
                                  "protocol", "remote")} == {
        "request_id": "r-1", "method": "POST", "path": "/v2/models/churn/infer",
        "model": "risk/churn", "version": "2", "status": 200, "protocol": "oip", "remote": "127.0.0.1"}
    assert entry["duration_ms"] == 12.346
    assert entry["pid"] == os.getpid() and entry["ts"].endswith("Z")


def test_token_in_query_string_never_reaches_the_log(restore_logging):
    out = io.StringIO()
    configure_logging("json", stream=out)
    secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig"
    _line(path=f"/models/risk/churn/?access_token={secret}&x=1", status=401, model=None, version=None)
    text = out.getvalue()
    assert secret not in text and "access_token" not in text
    entry = json.loads(text)
    assert entry["path"] == "/models/risk/churn/" and entry["status"] == 401
    assert "model" not in entry                 # None fields are left out, not "null"


def test_forged_newlines_and_huge_values_are_neutralised(restore_logging):
    out = io.StringIO()
    configure_logging("text", stream=out)
    _line(request_id="abc\n12:00:00 200 GET /admin 0.1 ms", path="/x" + "y" * 5000)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert "abc?12:00:00" in lines[0] and len(lines[0]) < 600


def test_text_format_is_human_readable(restore_logging):
    out = io.StringIO()
    configure_logging("text", stream=out)
    _line()
    line = out.getvalue().strip()
    assert " 200 POST /v2/models/churn/infer 12.3 ms risk/churn v2 [r-1]" in line
    logging.getLogger("veneer.server").warning("listening on %s", "127.0.0.1:1")
    assert "WARNING veneer.server: listening on 127.0.0.1:1" in out.getvalue()


def test_auto_picks_text_on_a_terminal_and_json_otherwise():
    master, slave = os.openpty()
    try:
        with open(slave, "w", closefd=False) as tty:
            assert resolve_format("auto", tty) == "text"
    finally:
        os.close(master)
        os.close(slave)
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("JSON") == "json"
    with pytest.raises(ConfigError, match="auto, json, text"):
        resolve_format("xml")


def test_configuring_twice_keeps_one_handler(restore_logging):
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", stream=first)
    configure_logging("json", stream=second)
    _line()
    assert first.getvalue() == "" and len(second.getvalue().splitlines()) == 1


def test_exceptions_are_logged_as_one_json_object(restore_logging):
    out = io.StringIO()
    configure_logging("json", stream=out)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("veneer.dispatch").exception("predict failed")
    entry = json.loads(out.getvalue())
    assert entry["message"] == "predict failed" and "ValueError: boom" in entry["exception"]
