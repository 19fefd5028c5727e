"""A legacy churn scoring service (Python standard library only), with three payload formats of its own.

It stands for the Java/R/old-Python services veneer fronts without changing them:

* ``POST /score``     ``{"records": [{...}, ...]}`` → ``{"result": {"scores": [...]}, "model": "churn-2014"}``
* ``POST /score.csv`` CSV with a header → CSV ``id,score`` (``id`` is the row number)
* ``GET|POST /score_one`` one row as query string or form fields → a plain number (``text/plain``)
* ``GET /healthz``    ``ok``

Columns: ``tenure`` (months), ``monthly_charges``, ``support_calls``. Unknown or
non-numeric values answer 400 with ``{"message": ...}``; like many legacy services it
has no other validation. Run: ``python service.py --port 9000``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

COLUMNS = ("tenure", "monthly_charges", "support_calls")
WEIGHTS = {"tenure": -0.045, "monthly_charges": 0.021, "support_calls": 0.38}
BIAS = -1.2


def score(row: dict) -> float:
    """Churn probability of one customer (a logistic score, rounded like the 2014 code did)."""
    try:
        z = BIAS + sum(WEIGHTS[c] * float(row[c]) for c in COLUMNS)
    except KeyError as e:
        raise ValueError(f"missing field {e.args[0]}") from None
    except (TypeError, ValueError):
        raise ValueError("fields must be numbers") from None
    return round(1.0 / (1.0 + math.exp(-z)), 6)


def predict(frame) -> list[float]:
    """The same scoring in process (a DataFrame in): lets benches separate veneer's cost from the HTTP hop."""
    return [score(row) for row in frame.to_dict(orient="records")]


class Handler(BaseHTTPRequestHandler):
    """The three formats and the health check; HTTP/1.1 keep-alive like a real service."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no delayed-ACK stall
    server_version = "LegacyScoring/2014"

    def log_message(self, fmt: str, *args) -> None:  # quiet: tests and benches call it a lot
        pass

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, doc: object) -> None:
        self._send(status, json.dumps(doc).encode(), "application/json")

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = urlsplit(self.path)
        if parts.path == "/healthz":
            self._send(200, b"ok", "text/plain")
        elif parts.path == "/score_one":
            self._one(dict(parse_qsl(parts.query)))
        else:
            self._json(404, {"message": f"no route {parts.path}"})

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        body = self._body()
        try:
            if path == "/score":
                doc = json.loads(body)
                scores = [score(r) for r in doc["records"]]
                self._json(200, {"result": {"scores": scores}, "model": "churn-2014"})
            elif path == "/score.csv":
                rows = list(csv.DictReader(io.StringIO(body.decode())))
                out = io.StringIO()
                w = csv.writer(out, lineterminator="\n")
                w.writerow(["id", "score"])
                w.writerows([i, score(r)] for i, r in enumerate(rows))
                self._send(200, out.getvalue().encode(), "text/csv")
            elif path == "/score_one":
                self._one(dict(parse_qsl(body.decode())))
            else:
                self._json(404, {"message": f"no route {path}"})
        except (ValueError, KeyError, TypeError) as e:
            self._json(400, {"message": f"bad request: {e}"})

    def _one(self, row: dict) -> None:
        try:
            self._send(200, f"{score(row)}\n".encode(), "text/plain")
        except ValueError as e:
            self._json(400, {"message": f"bad request: {e}"})


class Server(ThreadingHTTPServer):
    """Threaded server with a listen backlog for bursts (socketserver's default is 5)."""

    request_queue_size = 128
    daemon_threads = True


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000)
    args = p.parse_args(argv)
    server = Server((args.host, args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"legacy scoring service listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
