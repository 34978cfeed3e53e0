"""Indexed lookups of the embedded graph store's SQLite file that never visit every scope:
which stored scopes a query scope matches, which scopes hold some entities or facts, and the
entities and sources a normalised name (or title) finds in the scopes a query matches.

A query scope sets one to three ids (``Scope.contains``); the ``scopes`` table lists every
stored scope with its ids, each column indexed, so one SELECT finds the keys it matches."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal

from ..errors import BackendError
from ..models import Entity, Scope
from .sqlite_rows import entity, entity_columns

#: the scope ids by how few stored scopes one value matches: a user has a few scopes, a run
#: belongs to one agent, an agent serves thousands of users
SELECTIVE = ("user_id", "run_id", "agent_id")


def _where(scope: Scope) -> tuple[str, list[str]]:
    """``scopes s`` rows the query scope matches: column names are the fixed Scope fields,
    the values parameters. Only the most selective id is looked up by its index; the others
    are checked on the rows it finds (``+`` keeps SQLite from choosing their index, as it
    did the agent's for a user with an agent: a look-up of all the agent's scopes)."""
    ids = scope.items()
    first = next(c for c in SELECTIVE if c in ids)
    terms = [f"{'' if column == first else '+'}s.{column}=?" for column in ids]
    return " AND ".join(terms), list(ids.values())


CHUNK = 5000  # ids bound in one statement (SQLite limits a statement's parameters)


def _marks(n: int) -> str:
    return f"({','.join('?' * n)})"


def read(db: sqlite3.Connection, sql: str, params: Sequence[str]) -> list[Any]:
    try:
        return db.execute(sql, list(params)).fetchall()
    except sqlite3.Error as e:
        raise BackendError(f"cannot read graph store: {e}") from e


def matching_keys(db: sqlite3.Connection, scope: Scope) -> list[str]:
    """Keys of the stored scopes ``scope`` matches, oldest first."""
    where, params = _where(scope)
    return [
        k for (k,) in read(db, f"SELECT key FROM scopes s WHERE {where} ORDER BY rowid", params)
    ]


#: the columns of a ``listed`` table, in the order its row reader takes them
_COLUMNS = {
    "entities": entity_columns("t"),
    "relations": "t.*",
}


def listed(
    db: sqlite3.Connection, scope: Scope, table: Literal["entities", "relations"]
) -> list[Any]:
    """Every row of ``table`` in the scopes ``scope`` matches, scope by scope (oldest first;
    inside one, by creation time and id), read without loading any scope into memory."""
    where, params = _where(scope)
    sql = (
        f"SELECT {_COLUMNS[table]} FROM scopes s JOIN {table} t ON t.scope = s.key"
        f" WHERE {where} ORDER BY s.rowid, t.created_at, t.id"
    )
    return read(db, sql, params)


def keys_holding(db: sqlite3.Connection, select: str, ids: Sequence[str]) -> list[str]:
    """Distinct scope keys of the rows ``select`` (a constant; each ``{marks}`` in it stands
    for the list of ids) finds by id."""
    if not ids:
        return []
    sql = select.format(marks=_marks(len(ids)))
    return sorted({k for (k,) in read(db, sql, list(ids) * select.count("{marks}"))})


def rows_by_id(db: sqlite3.Connection, select: str, ids: Sequence[str]) -> list[Any]:
    """The rows ``select`` (a constant; each ``{marks}`` in it stands for the list of ids)
    finds by id, read from the file without loading any scope."""
    out: list[Any] = []
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        out += read(db, select.format(marks=_marks(len(chunk))), chunk * select.count("{marks}"))
    return out


def named(db: sqlite3.Connection, scope: Scope, norms: Sequence[str]) -> list[Entity]:
    """Entities in the scopes ``scope`` matches with one of ``norms`` as a normalised name or
    alias: for each matching scope, a look-up of the ``names`` key (scope, norm)."""
    if not norms:
        return []
    where, params = _where(scope)
    sql = (
        f"SELECT DISTINCT {entity_columns('e')} FROM scopes s"
        f" JOIN names n ON n.scope = s.key AND n.norm IN {_marks(len(norms))}"
        f" JOIN entities e ON e.id = n.entity_id WHERE {where}"
    )
    return [entity(row) for row in read(db, sql, [*norms, *params])]


def titled(db: sqlite3.Connection, scope: Scope, norms: Sequence[str]) -> dict[str, list[str]]:
    """Normalised title → ids of the sources in the scopes ``scope`` matches titled so (titles
    found in none left out)."""
    if not norms:
        return {}
    where, params = _where(scope)
    sql = (
        f"SELECT t.norm, t.source_id FROM scopes s JOIN titles t ON t.scope = s.key"
        f" AND t.norm IN {_marks(len(norms))} WHERE {where}"
    )
    out: dict[str, list[str]] = defaultdict(list)
    for norm, sid in read(db, sql, [*norms, *params]):
        out[norm].append(sid)
    return dict(out)
