"""``@veneer.model``: mark an existing predict function for serving, unchanged.

The decorator inspects the function once, at import, and records it in a
module-level list that ``veneer serve module`` reads; it returns the very same
function, so existing callers keep working. A signature veneer cannot call
fails here, at import, not on the first request.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from .settings import STAGES


@dataclass(frozen=True)
class DecoratedModel:
    """One function marked with ``@veneer.model``."""

    func: Callable[..., Any]
    name: str
    prefix: str
    version: str
    stage: str | None
    weight: float | None
    draft: bool
    accepts_params: bool
    is_async: bool
    description: str


#: Every decorated function, in decoration order (read by ``veneer serve``).
DECORATED: list[DecoratedModel] = []


def model(name: str | Callable | None = None, *, prefix: str = "", version: str = "1",
          stage: str | None = None, weight: float | None = None, draft: bool = False):
    """Serve the decorated ``predict(df)`` or ``predict(df, params)`` function as a model.

    Usable as ``@veneer.model``, ``@veneer.model()`` or ``@veneer.model("churn", prefix="risk",
    version="4", stage="production")``. The function is returned unchanged.
    """
    if callable(name):  # bare @veneer.model
        return _register(name, None, prefix, version, stage, weight, draft)

    def decorate(func: Callable) -> Callable:
        return _register(func, name, prefix, version, stage, weight, draft)

    return decorate


def _register(func: Callable, name: str | None, prefix: str, version: Any, stage: str | None,
              weight: float | None, draft: bool) -> Callable:
    if not callable(func):
        raise TypeError(f"@veneer.model decorates a function, got {func!r}.")
    if getattr(func, "__veneer_model__", None) is not None:
        raise TypeError(f"{func.__qualname__} is already decorated with @veneer.model; decorate it once.")
    if stage is not None and stage not in STAGES:
        raise ValueError(f"stage={stage!r} is not one of {', '.join(STAGES)} (or None).")
    if weight is not None and not (isinstance(weight, (int, float)) and weight >= 0):
        raise ValueError(f"weight={weight!r} must be a non-negative number.")
    accepts_params = _check_signature(func)
    entry = DecoratedModel(
        func=func, name=name or func.__name__, prefix=prefix.strip("/"), version=str(version),
        stage=stage, weight=weight, draft=draft, accepts_params=accepts_params,
        is_async=inspect.iscoroutinefunction(func),
        description=inspect.getdoc(func) or "")
    try:
        func.__veneer_model__ = entry
    except AttributeError:  # builtins and some callables refuse attributes; the list still has it
        pass
    DECORATED.append(entry)
    return func


def _check_signature(func: Callable) -> bool:
    """True when the function takes a second (params) argument; TypeError if it cannot be called."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as e:
        raise TypeError(f"@veneer.model cannot read the signature of {func!r}: {e}.") from e
    positional = [p for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    has_var = any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values())
    required_kw = [p.name for p in sig.parameters.values()
                   if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    if required_kw:
        raise TypeError(f"{func.__qualname__}{sig}: keyword-only parameters {required_kw} have no default; "
                        "veneer calls predict(df) or predict(df, params).")
    if not positional and not has_var:
        raise TypeError(f"{func.__qualname__}{sig} takes no argument; veneer calls predict(df) "
                        "with the request's rows as a pandas DataFrame.")
    if len(required) > 2:
        raise TypeError(f"{func.__qualname__}{sig} requires {len(required)} arguments; veneer calls "
                        "predict(df) or predict(df, params). Give the others defaults.")
    return len(positional) >= 2 or has_var
