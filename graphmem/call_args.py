"""The scope and the number of results a read asks for, in either of Mem0's call styles.

Mem0 1.x names the scope by keyword and the count by ``limit``::

    m.search("…", user_id="alice", limit=5, filters={"topic": "work"})

Mem0 3.x puts the scope into ``filters`` and names the count ``top_k``::

    m.search("…", filters={"user_id": "alice", "topic": "work"}, top_k=5)
    m.search("…", filters={"AND": [{"user_id": "alice"}, {"agent_id": "planner"}]})

Both work, and may be mixed. A scope key in ``filters`` is an id (or ``{"eq": id}``), or
``"*"`` (any: as if it were left out), at the top of ``filters`` or inside a top-level
``AND``; the rest of ``filters`` is a metadata filter (``stores/filters.py``). A scope key
given twice with different values, or found anywhere else (inside ``OR``, as a metadata
operator), is an :class:`~graphmem.errors.InvalidInputError`: a read reads one scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import InvalidInputError
from .models import Scope
from .results import limit as checked_limit
from .stores.filters import to_where

SCOPE_KEYS = ("user_id", "agent_id", "run_id")
ANY = "*"


def _is_and(key: object) -> bool:
    return isinstance(key, str) and key.upper().lstrip("$") == "AND"


def _named(key: str, cond: Any) -> str | None:
    """The id a scope key of ``filters`` names (None: any)."""
    if isinstance(cond, dict) and len(cond) == 1 and next(iter(cond)) in {"eq", "$eq"}:
        cond = next(iter(cond.values()))
    if cond == ANY:
        return None
    if not isinstance(cond, str):
        raise InvalidInputError(
            f"{key} in filters must be an id, {{'eq': id}} or '*': {cond!r:.80}"
        )
    return cond


def _put(into: dict[str, str | None], key: str, value: str | None) -> None:
    if value is not None and into.get(key) not in (None, value):
        raise InvalidInputError(f"{key} is given twice: {into[key]!r} and {value!r}")
    if value is not None or key not in into:
        into[key] = value


def _check_rest(cond: Any) -> None:
    """No scope key and no wildcard in what is left for the metadata filter."""
    if isinstance(cond, dict):
        for key, value in cond.items():
            if key in SCOPE_KEYS:
                raise InvalidInputError(
                    f"{key} may stand at the top of filters or in a top-level AND only: "
                    "a read reads one scope"
                )
            _check_rest(value)
    elif isinstance(cond, list):
        for value in cond:
            _check_rest(value)
    elif cond == ANY:
        raise InvalidInputError("'*' (any) is supported for user_id, agent_id and run_id only")


def split(filters: Mapping[str, Any] | None) -> tuple[dict[str, str | None], dict[str, Any] | None]:
    """``filters`` → (the scope keys it names: id, or None for any; the metadata filter left,
    None if nothing is)."""
    if filters is None:
        return {}, None
    if not isinstance(filters, Mapping):
        raise InvalidInputError(f"filters must be a dict: {filters!r:.80}")
    named: dict[str, str | None] = {}
    rest: dict[str, Any] = {}
    for key, cond in filters.items():
        if key in SCOPE_KEYS:
            _put(named, key, _named(key, cond))
        elif _is_and(key) and isinstance(cond, list):
            kept = []
            for clause in cond:
                inner, left = split(clause) if isinstance(clause, Mapping) else ({}, clause)
                for k, v in inner.items():
                    _put(named, k, v)
                if left is not None:
                    kept.append(left)
            if kept:
                rest[key] = kept
        else:
            _check_rest({key: cond})
            rest[key] = cond
    return named, rest or None


def merge(
    user_id: str | None, agent_id: str | None, run_id: str | None, named: Mapping[str, str | None]
) -> dict[str, str]:
    """The scope of the keyword arguments and of ``filters`` (``split``) together."""
    out: dict[str, str | None] = {}
    for key, value in zip(SCOPE_KEYS, (user_id, agent_id, run_id)):
        _put(out, key, value)
    for key, value in named.items():
        _put(out, key, value)
    return {k: v for k, v in out.items() if v is not None}


def scoped(
    user_id: str | None,
    agent_id: str | None,
    run_id: str | None,
    filters: Mapping[str, Any] | None,
) -> tuple[Scope, dict[str, Any] | None]:
    """The :class:`Scope` a read names (by keyword and/or in ``filters``) and the store's
    ``where`` clause for the rest of ``filters``."""
    named, rest = split(filters)
    scope = Scope(**merge(user_id, agent_id, run_id, named))
    return scope, to_where(rest) if rest else None


def count(limit: int | None, top_k: int | None, default: int) -> int:
    """How many results: ``top_k`` (Mem0 3.x) or ``limit`` (1.x); both only if equal."""
    if limit is not None and top_k is not None and limit != top_k:
        raise InvalidInputError(f"limit={limit!r} and top_k={top_k!r} disagree: give one")
    return checked_limit(top_k if top_k is not None else limit if limit is not None else default)
