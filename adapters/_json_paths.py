"""JSONPath for the http adapter: jsonpath-ng parses every path; the common ones are evaluated directly.

jsonpath-ng builds a ``DatumInContext`` (with its full path) for every match: ~3 µs a
value, 0.3 ms for the 100 scores of one answer, a third of what veneer adds in front
of a legacy service. Paths made only of names, single indexes and ``[*]`` / ``.*``
(``result.scores[*]``, ``$.predictions``, ``outputs[0].data``) are run as a few plain
steps over the decoded document instead, with jsonpath-ng's exact semantics (checked
against it in ``tests/http_adapter/test_json_paths.py``); any other path is left to
jsonpath-ng.
"""

from __future__ import annotations

from typing import Any, Callable

from veneer.wrapper.errors import ConfigError

Finder = Callable[[Any], list]


def compile_path(expr: str, where: str) -> Any:
    """Parse a JSONPath expression once, or raise ``ConfigError`` naming the option."""
    from jsonpath_ng.ext import parse

    try:
        return parse(expr)
    except Exception as e:  # jsonpath-ng raises bare Exception / JsonPathLexerError
        raise ConfigError(f"{where}: {expr!r} is not a valid JSONPath expression ({e}).",
                          fix="Write a path such as 'result.scores[*]' or '$.predictions'.") from e


def value_finder(parsed: Any) -> Finder:
    """``doc -> [values]`` for a parsed path: plain steps when the path allows, else jsonpath-ng."""
    steps = _steps(parsed)
    if steps is None:
        return lambda doc: [m.value for m in parsed.find(doc)]

    def find(doc: Any) -> list:
        current = [doc]
        for kind, arg in steps:
            nxt: list = []
            for value in current:
                if kind == "field":
                    if isinstance(value, dict) and arg in value:
                        nxt.append(value[arg])
                elif kind == "index":
                    if isinstance(value, list) and -len(value) <= arg < len(value):
                        nxt.append(value[arg])
                elif isinstance(value, list):
                    nxt.extend(value)
                elif isinstance(value, dict):
                    nxt.extend(value.values())
            current = nxt
        return current

    return find


def _steps(node: Any) -> list[tuple[str, Any]] | None:
    """The path as ``[(kind, arg)]`` steps, or None when it uses anything beyond the plain subset."""
    from jsonpath_ng import jsonpath as jp

    kind = type(node)
    if kind is jp.Root or kind is jp.This:
        return []
    if kind is jp.Child:
        left, right = _steps(node.left), _steps(node.right)
        return None if left is None or right is None else left + right
    if kind is jp.Fields and len(node.fields) == 1 and node.fields[0] != "*":
        return [("field", node.fields[0])]
    if kind is jp.Index:
        indices = node.indices if hasattr(node, "indices") else (node.index,)  # jsonpath-ng < 1.7: one index
        return [("index", indices[0])] if len(indices) == 1 else None
    if kind is jp.Wildcard:
        return [("all", None)]
    return None
