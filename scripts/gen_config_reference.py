"""Write docs/CONFIG.md, the veneer.yaml reference, from the JSON Schema.

    python scripts/gen_config_reference.py          # rewrite docs/CONFIG.md
    python scripts/gen_config_reference.py --check  # exit 1 if it is out of date (a test runs this)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "docs" / "CONFIG.md"


def _type(node: dict) -> str:
    if "enum" in node:
        return " \\| ".join("none" if v is None else f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    kinds = node.get("type")
    if isinstance(kinds, list):
        return " \\| ".join(kinds)
    if kinds:
        return kinds
    for key in ("oneOf", "anyOf"):
        if key in node:
            return " \\| ".join(_type(n) for n in node[key])
    return "any"


def _default(node: dict) -> str:
    if "default" not in node:
        return ""
    value = node["default"]
    if value in ({}, []):
        return ""
    return f"`{json.dumps(value)}`"


def _rows(node: dict, path: str, out: list[str]) -> None:
    for key, prop in node.get("properties", {}).items():
        here = f"{path}.{key}" if path else key
        desc = " ".join(prop.get("description", "").split()).replace("|", "\\|")
        out.append(f"| `{here}` | {_type(prop)} | {_default(prop)} | {desc} |")
        _rows(prop, here, out)
        for alt in prop.get("oneOf", []) + prop.get("anyOf", []):
            _rows(alt, here, out)
        if isinstance(prop.get("items"), dict):
            _rows(prop["items"], here + "[]", out)
        if isinstance(prop.get("additionalProperties"), dict):
            _rows(prop["additionalProperties"], here + ".<name>", out)


def render() -> str:
    """The Markdown reference."""
    sys.path.insert(0, str(REPO))
    from veneer.wrapper.schema import config_schema

    schema = config_schema()
    rows: list[str] = []
    _rows(schema, "", rows)
    return "\n".join([
        "# veneer.yaml reference",
        "",
        "Generated from the JSON Schema by `scripts/gen_config_reference.py`; do not edit by hand.",
        "Print the schema itself with `veneer schema`. Every `server.*` option is also an environment",
        "variable `VENEER_<NAME>` (for example `VENEER_PORT`) and a `veneer serve` flag.",
        "Adapter-specific `options` are listed in each adapter's module docstring.",
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run python scripts/gen_config_reference.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
