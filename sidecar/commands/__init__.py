"""Subcommands of the ``veneer`` CLI, one module each (see ``sidecar/cli.py``)."""
