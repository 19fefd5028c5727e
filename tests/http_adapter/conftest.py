"""Fixtures of the http adapter tests: the real example legacy service, and a scripted upstream.

``legacy_service`` runs ``examples/legacy_models/scoring_service/service.py`` for real
in a subprocess on a free 127.0.0.1 port. ``upstream`` is a real HTTP server on
127.0.0.1 in a thread whose every answer the test scripts, counting hits.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from tests.helpers.server import REPO, free_port
from tests.helpers.wait import wait_for
from veneer.adapters.http import HttpAdapter
from veneer.wrapper.settings import VersionSpec

SERVICE = REPO / "examples" / "legacy_models" / "scoring_service" / "service.py"
COLUMNS = ["tenure", "monthly_charges", "support_calls"]
ROWS = [[12, 70.5, 1], [3, 99.0, 4], [60, 20.25, 0]]


def make_adapter(url: str, *, idempotent: bool = False, load: bool = True, **options: Any) -> HttpAdapter:
    """An HttpAdapter for ``url`` built as the config loader would, loaded unless told otherwise."""
    spec = VersionSpec(version="1", adapter="http", url=url, idempotent=idempotent, options=options,
                       model="churn", prefix="legacy", origin="veneer.yaml:1")
    adapter = HttpAdapter(spec)
    if load:
        adapter.load()
    return adapter


class LegacyService:
    """The example service in a subprocess (our own child; stopped by PID)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, str(SERVICE), "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: requests.get(self.url + "/healthz", timeout=1).ok, timeout=20,
                 what="the example legacy service")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def legacy_service() -> Iterator[LegacyService]:
    """The example legacy scoring service, running for real on 127.0.0.1."""
    svc = LegacyService()
    yield svc
    svc.stop()


@dataclass
class Hit:
    """One request the scripted upstream received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Reply:
    """What the scripted upstream answers: status, body, headers, delay; ``hang`` never answers."""

    status: int = 200
    body: bytes = b'{"predictions": [1]}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False
    ctype: str = "application/json"
    drip: float = 0.0  # seconds between single bytes of the body


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # socketserver's 5 would refuse connections of the saturation tests


class ScriptedUpstream:
    """A real threaded HTTP/1.1 server on 127.0.0.1 answering ``self.script(hit) -> Reply``."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.script: Callable[[Hit], Reply] = lambda hit: Reply()
        self.release = threading.Event()  # set at teardown: frees handlers told to hang
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between headers and body

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                hit = Hit(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                          self.rfile.read(n), time.monotonic())
                with outer.lock:
                    outer.hits.append(hit)
                reply = outer.script(hit)
                if reply.hang:
                    outer.release.wait(30)
                    self.close_connection = True
                    return
                if reply.delay:
                    outer.release.wait(reply.delay)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.ctype)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if "Transfer-Encoding" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if not reply.drip:
                    self.wfile.write(reply.body)
                    return
                for i in range(len(reply.body)):
                    if outer.release.wait(reply.drip):
                        return
                    self.wfile.write(reply.body[i:i + 1])

            do_GET = do_POST = do_PUT = _handle

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def answer(self, *replies: Reply) -> None:
        """Answer these replies in turn, repeating the last one forever."""
        seq = list(replies)

        def script(hit: Hit) -> Reply:
            with self.lock:
                return seq.pop(0) if len(seq) > 1 else seq[0]

        self.script = script

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    """A fresh scripted upstream per test."""
    up = ScriptedUpstream()
    yield up
    up.stop()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/score"


def fixture_path() -> Path:
    """Folder of this test package."""
    return Path(__file__).parent
