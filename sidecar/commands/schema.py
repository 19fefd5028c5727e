"""Print the JSON Schema of veneer.yaml (for editors and CI validation)."""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``veneer schema``."""
    parser.add_argument("--out", help="write to this file instead of standard output")


def run(args: argparse.Namespace) -> int:
    """Print or write the schema."""
    from veneer.wrapper.schema import config_schema

    text = json.dumps(config_schema(), indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0
