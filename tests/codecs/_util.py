"""Shared helpers for the codec tests."""

from __future__ import annotations

import pytest

from veneer.wrapper.errors import VeneerError


def raises_status(status: int, code: str | None = None):
    """``pytest.raises`` for a ``VeneerError`` with this HTTP status (and code)."""
    return pytest.raises(VeneerError, check=lambda e: e.status == status
                         and (code is None or e.code == code))
