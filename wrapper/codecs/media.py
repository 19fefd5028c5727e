"""Content-Type checks shared by the codecs and the protocol blueprints (415 on anything else)."""

from __future__ import annotations

from functools import lru_cache

from veneer.wrapper.errors import UnsupportedMediaType

_UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


@lru_cache(maxsize=64)  # clients send the same few header values over and over
def parse_content_type(content_type: str | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``"Application/JSON; charset=UTF-8"`` -> ``("application/json", (("charset", "utf-8"),))``.

    A charset other than UTF-8 (or its ASCII subset) is 415: every codec reads UTF-8 only.
    """
    if not content_type:
        return "", ()
    mime, _, rest = content_type.partition(";")
    params = []
    for part in rest.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            params.append((key.strip().lower(), value.strip().strip('"').lower()))
    charset = dict(params).get("charset")
    if charset is not None and charset not in _UTF8:
        raise UnsupportedMediaType(f"Charset {charset!r} is not supported.",
                                   fix="Send the body encoded as UTF-8 (charset=utf-8).")
    return mime.strip().lower(), tuple(params)


def is_json(mime: str) -> bool:
    """``application/json`` and structured-syntax ``+json`` types (and no type at all)."""
    return mime in ("", "application/json") or mime.endswith("+json")


def require_json(content_type: str | None) -> None:
    """415 unless the request says JSON (or says nothing): for the OIP and KServe V1 routes.

    ``text/plain`` carrying JSON is refused rather than sniffed (CASES 44), and
    a non-UTF-8 charset is refused by ``parse_content_type``.
    """
    mime, _ = parse_content_type(content_type)
    if not is_json(mime):
        raise UnsupportedMediaType(f"Content type {content_type!r} is not accepted here.",
                                   fix="Send the body as application/json.")
