"""The ``veneer`` command. Each subcommand is a module in ``sidecar/commands/``.

A command module has a docstring (its first line is the help), ``configure(parser)``
and ``run(args) -> int``. Modules are imported only to build the help and to run
the chosen command; none imports a heavy dependency at module level.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from veneer._version import __version__
from veneer.wrapper.errors import VeneerError

from . import commands

ORDER = ["serve", "sidecar", "check", "schema", "token", "keys", "versions", "k8s", "docker"]


def _command_modules() -> dict[str, object]:
    names = [m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return {name: importlib.import_module(f"{commands.__name__}.{name}") for name in names}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (all subcommands)."""
    parser = argparse.ArgumentParser(
        prog="veneer",
        description="Serve legacy ML models behind standard APIs, with tokens, versions, metrics and registration.",
        epilog="Run 'veneer COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"veneer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _command_modules().items():
        doc = (module.__doc__ or "").strip()
        summary = doc.splitlines()[0] if doc else name
        p = sub.add_parser(name, help=summary, description=doc,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``veneer`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except VeneerError as e:
        print(f"veneer {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
