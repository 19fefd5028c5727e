"""Read YAML safely while remembering the line of every key and item.

``load_with_lines(text)`` returns the data (``yaml.safe_load`` semantics) and a
map from key paths (tuples of keys and list indices) to 1-based line numbers,
so config errors can name the line. Duplicate keys, which PyYAML silently
collapses, are reported instead.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import ConfigError

Path_ = tuple[Any, ...]


def load_with_lines(text: str, *, file: str | None = None) -> tuple[Any, dict[Path_, int]]:
    """Parse ``text`` with the safe loader; return ``(data, lines)``."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(f"not valid YAML: {e.problem or e}", file=file, line=line,
                          fix="Check indentation and quoting on that line.") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {e}", file=file) from e
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines, file)
    return data, lines


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], file: str | None) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(f"key {key!r} appears twice (lines {seen[key]} and "
                                  f"{key_node.start_mark.line + 1})", file=file,
                                  path=format_path(path), line=key_node.start_mark.line + 1,
                                  fix="Keep one of them.")
            seen[key] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines, file)
            lines[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines, file)


def format_path(path: Path_) -> str:
    """``("models", "churn", "versions", 0)`` → ``models.churn.versions[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(lines: dict[Path_, int], path: Path_) -> int | None:
    """The line of ``path``, or of its nearest ancestor that has one."""
    path = tuple(path)
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path)
