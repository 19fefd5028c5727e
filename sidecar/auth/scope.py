"""Authorization: does a verified principal reach ``prefix/model`` with a permission?

Scope entries are ``"prefix"`` or ``"prefix/model"`` (a prefix may itself contain
``/``, e.g. ``emea/risk``). Matching is on whole path segments after
normalisation, never ``startswith`` on strings: ``risk`` covers ``risk/churn``
and ``risk/sub/x`` but not ``risk2/x``; ``..``, ``.``, empty segments and encoded
slashes are refused before any comparison, so a path cannot climb out of a prefix.

An entry equal to the whole ``prefix/model`` is a *model grant*; an entry that is a
strict ancestor of it is a *prefix grant*, which reaches the model only when the
model has ``cascade_prefix_tokens: true``. For a model that is not served, only a
prefix grant lets the caller learn that (404); anyone else gets 403, so model
names do not leak.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from veneer.wrapper.errors import BadRequest, Forbidden
from veneer.wrapper.settings import AccessList, ModelSpec, PrefixSpec

from .principal import Principal
from .reasons import FORBIDDEN

# the same alphabet the config's names use; anything else (%, \, spaces, dots alone) is refused
_SEGMENT = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


def split_segments(path: str) -> tuple[str, ...] | None:
    """The segments of ``a/b/c``, or None when any segment is empty, ``.``, ``..`` or odd."""
    parts = tuple(path.split("/"))
    if not all(_SEGMENT.match(p) and p not in (".", "..") for p in parts):
        return None
    return parts


def normalize_scope_path(prefix: str, model: str | None) -> tuple[str, ...]:
    """Segments of ``prefix[/model]`` from decoded URL pieces; ``BadRequest`` (400) if unsafe."""
    segments = split_segments(prefix) if isinstance(prefix, str) else None
    if segments is None:
        raise BadRequest("invalid prefix in the path.", code="bad_path",
                         fix="Use segments of letters, digits, '_', '.', '-' (no '..', '//', '%2F').")
    if model is None:
        return segments
    if not isinstance(model, str) or "/" in model or split_segments(model) is None:
        raise BadRequest("invalid model name in the path.", code="bad_path",
                         fix="Use letters, digits, '_', '.', '-' (no '/', '..', '%2F').")
    return segments + (model,)


def forbidden(code: str) -> Forbidden:
    """A ``Forbidden`` with the fixed description of ``code`` and an RFC 6750 header."""
    return Forbidden(FORBIDDEN[code], code=code,
                     headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", '
                                                  f'error_description="{FORBIDDEN[code]}"'})


def grant_for(scopes: Iterable[str], prefix: tuple[str, ...], model: str | None) -> str | None:
    """``"model"``, ``"prefix"`` or None: the widest kind of grant the scopes give here."""
    full = prefix + (model,) if model is not None else None
    best = None
    for entry in scopes:
        segs = tuple(entry.split("/"))
        if full is not None and segs == full:
            return "model"
        if len(segs) <= len(prefix) and prefix[:len(segs)] == segs:
            best = "prefix"
    return best


def _allowed(access: AccessList, principal: Principal) -> bool:
    if not access.users and not access.groups:
        return True
    return principal.sub in access.users or bool(set(access.groups) & set(principal.groups))


def check_access_lists(principal: Principal, prefix: tuple[str, ...], model_spec: ModelSpec | None,
                       prefixes: Mapping[str, PrefixSpec]) -> None:
    """Every configured access list on the way (ancestor prefixes, the prefix, the model) must admit."""
    for i in range(1, len(prefix) + 1):
        spec = prefixes.get("/".join(prefix[:i]))
        if spec is not None and not _allowed(spec.access, principal):
            raise forbidden("not_in_access_list")
    if model_spec is not None and not _allowed(model_spec.access, principal):
        raise forbidden("not_in_access_list")


def check_global_id(principal: Principal, accepted: frozenset[str], required: bool) -> None:
    """gid must be trusted when present (and present when required); it never widens scope."""
    if principal.gid is None:
        if required:
            raise forbidden("global_id_required")
        return
    if principal.gid not in accepted:
        raise forbidden("untrusted_global_id")


def authorize(principal: Principal, *, prefix: str, model: str | None, model_spec: ModelSpec | None,
              permission: str, prefixes: Mapping[str, PrefixSpec], accepted_gids: frozenset[str],
              require_gid: bool = False) -> None:
    """Raise ``Forbidden`` unless ``principal`` may use ``permission`` on ``prefix/model``.

    ``model`` None (or "") is a prefix-level route (listing, docs). ``prefix`` "" is what a
    protocol passes for a bare model name it could not find: no scope covers it, so 403.
    """
    model = model or None
    if not prefix:
        check_global_id(principal, accepted_gids, require_gid)
        raise forbidden("out_of_scope")
    path = normalize_scope_path(prefix, model)
    prefix_segs = path[:-1] if model is not None else path
    check_global_id(principal, accepted_gids, require_gid)
    grant = grant_for(principal.scopes, prefix_segs, model)
    if grant is None:
        raise forbidden("out_of_scope")
    if model is not None:
        if model_spec is None and grant != "prefix":
            raise forbidden("out_of_scope")  # only a whole-prefix token may learn "no such model"
        if model_spec is not None and grant == "prefix" and not model_spec.cascade_prefix_tokens:
            raise forbidden("cascade_off")
    if not principal.has(permission):
        raise forbidden("no_permission")
    check_access_lists(principal, prefix_segs, model_spec, prefixes)
