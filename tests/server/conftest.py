"""Real ``veneer serve`` processes (gunicorn on 127.0.0.1) with toy models."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest

from tests.helpers.server import VeneerServer

TOY = "tests.fixtures.toy_adapters"


def toy_config(folder: Path, *, server: str = "", extra_models: str = "") -> Path:
    """A config with a fast ``sum`` model (2 versions), a slow one and a broken draft."""
    path = folder / "veneer.yaml"
    path.write_text(textwrap.dedent(f"""
        prefix: risk
        auth: none
        registry: {{enabled: false}}
        server: {{max_request_bytes: 65536, max_rows: 500, default_model: risk/sum, {server}}}
        models:
          sum:
            versions:
              - {{version: "1", adapter: "{TOY}:SumAdapter", stage: production, weight: 90}}
              - {{version: "2", adapter: "{TOY}:SumAdapter", stage: staging, weight: 10, options: {{offset: 1000}}}}
              - {{version: "3", adapter: "{TOY}:FailingAdapter", draft: true}}
          slow:
            versions:
              - {{version: "1", adapter: "{TOY}:SumAdapter", options: {{delay: 2.0, marker: "{folder / 'slow.started'}"}}}}
        """) + textwrap.indent(textwrap.dedent(extra_models), "  "))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One two-worker server shared by a test module."""
    folder = tmp_path_factory.mktemp("server")
    with VeneerServer(toy_config(folder), workers=2, threads=4) as srv:
        yield srv


def raw_request(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, return everything the server answers before closing (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                    break
        except socket.timeout:
            pass
        return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False
