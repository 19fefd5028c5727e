"""Server flags shared by ``veneer serve`` and ``veneer sidecar``."""

from __future__ import annotations

import argparse
from typing import Any


def add_server_flags(parser: argparse.ArgumentParser) -> None:
    """--host, --port, --workers, --threads, --timeout (each overrides config and VENEER_* env)."""
    g = parser.add_argument_group("server (override the config's server section and VENEER_* variables)")
    g.add_argument("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 in containers)")
    g.add_argument("--port", type=int, help="TCP port (default 8080)")
    g.add_argument("--workers", type=int, help="gunicorn worker processes (default 2)")
    g.add_argument("--threads", type=int, help="threads per worker (default 4)")
    g.add_argument("--timeout", type=int, help="seconds one request may take before the worker restarts")
    g.add_argument("--graceful-timeout", type=int, dest="graceful_timeout",
                   help="seconds in-flight requests get after SIGTERM (default 30)")
    g.add_argument("--max-requests", type=int, dest="max_requests",
                   help="recycle a worker after this many requests (default 0: never)")


def server_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The server settings given on the command line."""
    keys = ("host", "port", "workers", "threads", "timeout", "graceful_timeout", "max_requests")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
