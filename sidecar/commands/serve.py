"""Serve a veneer.yaml, or the @veneer.model functions of a Python module.

Examples:
  veneer serve veneer.yaml
  veneer serve legacy_scoring            # every decorated function of the module
  veneer serve legacy_scoring.py:score   # one function
  VENEER_PORT=9000 veneer serve veneer.yaml --workers 4
"""

from __future__ import annotations

import argparse

from ._server_flags import add_server_flags, server_overrides


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``veneer serve``."""
    parser.add_argument("target", help="a veneer.yaml, a module, a .py file, or module:function")
    parser.add_argument("--no-auth", action="store_true",
                        help="turn token checks off (local use only; the server says so loudly)")
    add_server_flags(parser)


def run(args: argparse.Namespace) -> int:
    """Load the target and serve it until SIGTERM/SIGINT."""
    from veneer.sidecar.server import run as run_server
    from veneer.sidecar.targets import load_target

    config = load_target(args.target, auth_off=args.no_auth)
    return run_server(config, **server_overrides(args))
