"""A reference HTTP platform registry: the contract veneer's ``registry.http`` speaks.

Standard library only; run it with ``python receiver.py --port 8500`` and point
veneer at it with ``registry: {http: {url: "http://127.0.0.1:8500/v1/instances"}}``.

Contract (all bodies JSON; ``Authorization: Bearer <token>`` required when the
receiver is started with a token):

* ``POST   /v1/instances``                      register or replace an instance
  ``{"instance_id", "endpoint", "ttl_seconds", "veneer_version", "models": [...]}`` → 201
* ``PUT    /v1/instances/{id}/heartbeat``       refresh it → 200; 404 if unknown (register again)
* ``DELETE /v1/instances/{id}``                 deregister → 204; 404 if unknown
* ``GET    /v1/instances``                      ``{"instances": [...]}`` each with ``status``
* ``GET    /v1/instances/{id}``                 one instance

An instance whose heartbeat stops for ``ttl_seconds`` is marked ``"status": "gone"``
(Consul's TTL check is the model); a later heartbeat or registration brings it back.
"""

from __future__ import annotations

import argparse
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

BASE = "/v1/instances"
MAX_BODY = 1024 * 1024


class Store:
    """Instances by id, with the time of their last sign of life."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.instances: dict[str, dict] = {}
        self.hits: dict[str, int] = {"register": 0, "heartbeat": 0, "deregister": 0, "list": 0}
        #: test hook: answer the next N calls with 500 (a flapping registry)
        self.fail_next = 0

    def status(self, inst: dict) -> str:
        """``up`` while heartbeats arrive within the TTL, else ``gone``."""
        return "up" if self.clock() - inst["last_seen"] <= inst["ttl_seconds"] else "gone"

    def view(self, inst: dict) -> dict:
        """The public form of one instance."""
        out = {k: v for k, v in inst.items() if k != "last_seen"}
        out["status"] = self.status(inst)
        out["seconds_since_heartbeat"] = round(self.clock() - inst["last_seen"], 3)
        return out


class Handler(BaseHTTPRequestHandler):
    """Routes of the contract above."""

    store: Store
    token: str | None = None
    server_version = "veneer-reference-registry/1"

    def log_message(self, fmt, *args) -> None:  # quiet by default; the store counts hits
        pass

    def _send(self, status: int, body: dict | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _gate(self) -> bool:
        if self.token is not None:
            sent = self.headers.get("Authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {self.token}".encode()):
                self._send(401, {"error": "missing or wrong bearer token"})
                return False
        with self.store.lock:
            if self.store.fail_next > 0:
                self.store.fail_next -= 1
                self._send(500, {"error": "injected failure"})
                return False
        return True

    def _json(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, {"error": "body too large"})
            return None
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"error": "body is not JSON"})
            return None
        if not isinstance(body, dict):
            self._send(400, {"error": "body must be a JSON object"})
            return None
        return body

    def _parts(self) -> list[str] | None:
        path = urlsplit(self.path).path.rstrip("/")
        if path != BASE and not path.startswith(BASE + "/"):
            self._send(404, {"error": f"unknown path {path!r}"})
            return None
        return [unquote(p) for p in path[len(BASE):].split("/") if p]

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        parts = self._parts()
        if parts is None or not self._gate():
            return
        if parts:
            return self._send(405, {"error": "POST to the collection"})
        body = self._json()
        if body is None:
            return
        iid, ttl = body.get("instance_id"), body.get("ttl_seconds", 30)
        if not isinstance(iid, str) or not iid or not isinstance(ttl, (int, float)) or ttl <= 0:
            return self._send(422, {"error": "need instance_id (string) and ttl_seconds > 0"})
        with self.store.lock:
            self.store.hits["register"] += 1
            created = iid not in self.store.instances
            self.store.instances[iid] = {**body, "ttl_seconds": float(ttl),
                                         "last_seen": self.store.clock()}
        self._send(201 if created else 200, {"instance_id": iid})

    def do_PUT(self) -> None:  # noqa: N802
        parts = self._parts()
        if parts is None or not self._gate():
            return
        if len(parts) != 2 or parts[1] != "heartbeat":
            return self._send(404, {"error": "PUT /v1/instances/{id}/heartbeat"})
        with self.store.lock:
            self.store.hits["heartbeat"] += 1
            inst = self.store.instances.get(parts[0])
            if inst is None:
                return self._send(404, {"error": f"unknown instance {parts[0]!r}; register again"})
            inst["last_seen"] = self.store.clock()
        self._send(200, {"status": "up"})

    def do_DELETE(self) -> None:  # noqa: N802
        parts = self._parts()
        if parts is None or not self._gate():
            return
        if len(parts) != 1:
            return self._send(404, {"error": "DELETE /v1/instances/{id}"})
        with self.store.lock:
            self.store.hits["deregister"] += 1
            gone = self.store.instances.pop(parts[0], None)
        self._send(204 if gone else 404, None if gone else {"error": "unknown instance"})

    def do_GET(self) -> None:  # noqa: N802
        parts = self._parts()
        if parts is None or not self._gate():
            return
        with self.store.lock:
            self.store.hits["list"] += 1
            if not parts:
                return self._send(200, {"instances": [self.store.view(i) for i in
                                                      self.store.instances.values()]})
            inst = self.store.instances.get(parts[0])
            if inst is None or len(parts) != 1:
                return self._send(404, {"error": "unknown instance"})
            return self._send(200, self.store.view(inst))


def make_server(host: str = "127.0.0.1", port: int = 8500, *, token: str | None = None,
                clock=time.monotonic) -> ThreadingHTTPServer:
    """A ready-to-serve receiver; its ``store`` attribute holds the instances."""
    store = Store(clock)
    handler = type("BoundHandler", (Handler,), {"store": store, "token": token})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.store = store  # type: ignore[attr-defined]
    return server


def main() -> None:
    """Command line: ``python receiver.py [--host H] [--port P] [--token-env NAME]``."""
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8500)
    parser.add_argument("--token-env", help="environment variable holding the bearer token to require")
    args = parser.parse_args()
    token = os.environ.get(args.token_env) if args.token_env else None
    server = make_server(args.host, args.port, token=token)
    print(f"reference registry on http://{args.host}:{server.server_address[1]}{BASE}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
