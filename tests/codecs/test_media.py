"""Content-Type parsing and the JSON requirement of the OIP and V1 routes (CASES 44)."""

from __future__ import annotations

import pytest

from veneer.wrapper.codecs import media

from ._util import raises_status


@pytest.mark.parametrize("content_type", [
    None, "", "application/json", "Application/JSON; charset=UTF-8",
    "application/json;charset=utf8",
    "application/vnd.api+json", 'application/json; charset="us-ascii"',
])
def test_json_types_pass(content_type):
    media.require_json(content_type)


@pytest.mark.parametrize("content_type, fragment", [
    ("text/plain", "text/plain"), ("application/x-www-form-urlencoded", "form-urlencoded"),
    ("text/csv", "text/csv"), ("application/json; charset=utf-16", "utf-16"),
    ("application/json; charset=latin-1", "latin-1"),
])
def test_other_types_and_charsets_are_415(content_type, fragment):
    with raises_status(415, "unsupported_media_type") as info:
        media.require_json(content_type)
    assert fragment in str(info.value)


def test_parse_content_type_normalises():
    assert media.parse_content_type('Text/CSV ; Charset="UTF-8"; header=present') == (
        "text/csv", (("charset", "utf-8"), ("header", "present")))
