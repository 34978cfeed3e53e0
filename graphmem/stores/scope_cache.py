"""The embedded graph store's scopes in memory: each loaded from SQLite the first time a call
needs it, at most ``capacity`` kept (the least recently used one is let go, and loaded again
when it is needed again). Which scopes a call needs comes from indexed SELECTs, never from
visiting every scope.

The caller holds the store's lock around every method here (one connection, one thread at a
time)."""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence

from ..errors import BackendError
from ..models import Scope, norm_name
from .scope_graph import ScopeGraph
from .sqlite_rows import entity, relation


def load_scope(db: sqlite3.Connection, key: str) -> ScopeGraph:
    """Every row of one exact scope, read in one transaction: another process's commit is in
    it wholly or not at all."""
    sg = ScopeGraph()
    try:
        db.execute("BEGIN")
        try:
            for row in db.execute(
                "SELECT id, scope, name, type, aliases, created_at FROM entities WHERE scope=?",
                (key,),
            ):
                sg.add_entity(entity(row))
            for row in db.execute("SELECT * FROM relations WHERE scope=?", (key,)):
                sg.add_relation(relation(row))
            for fact_id, entity_id in db.execute(
                "SELECT fact_id, entity_id FROM mentions WHERE scope=?", (key,)
            ):
                sg.add_mention(fact_id, entity_id)
            for sid, title in db.execute(
                "SELECT id, title FROM sources WHERE scope=? AND title IS NOT NULL AND title != ''",
                (key,),
            ):
                sg.titled[norm_name(title)].add(sid)
        finally:
            db.execute("COMMIT")
    except sqlite3.Error as e:
        raise BackendError(f"cannot read graph store scope: {e}") from e
    return sg


def matching_keys(db: sqlite3.Connection, scope: Scope) -> list[str]:
    """Keys of the stored scopes ``scope`` matches (``Scope.contains``), oldest first: one
    SELECT served by the index of a column the query sets."""
    ids = scope.items()  # column names are the fixed Scope fields, values are parameters
    where = " AND ".join(f"{column}=?" for column in ids)
    sql = f"SELECT key FROM scopes WHERE {where} ORDER BY rowid"
    return [k for (k,) in _read(db, sql, list(ids.values()))]


def keys_holding(db: sqlite3.Connection, select: str, ids: Sequence[str]) -> list[str]:
    """Distinct scope keys of the rows ``select`` (a constant; each ``{marks}`` in it stands
    for the list of ids) finds by id."""
    if not ids:
        return []
    sql = select.format(marks=f"({','.join('?' * len(ids))})")
    return sorted({k for (k,) in _read(db, sql, list(ids) * select.count("{marks}"))})


def _read(db: sqlite3.Connection, sql: str, params: list[str]) -> list[tuple[str]]:
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.Error as e:
        raise BackendError(f"cannot read graph store: {e}") from e


class ScopeCache:
    """Loaded scopes by key, least recently used first; at most ``capacity``."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._graphs: OrderedDict[str, ScopeGraph] = OrderedDict()

    def get(self, db: sqlite3.Connection, key: str) -> ScopeGraph:
        """The scope's graph, loaded from ``db`` unless it is in memory."""
        sg = self.peek(key)
        if sg is None:
            sg = self._graphs[key] = load_scope(db, key)
            while len(self._graphs) > self.capacity:
                self._graphs.popitem(last=False)
        return sg

    def peek(self, key: str) -> ScopeGraph | None:
        """The scope's graph if it is loaded (to update it after a write), else None."""
        sg = self._graphs.get(key)
        if sg is not None:
            self._graphs.move_to_end(key)
        return sg

    def graphs(self, db: sqlite3.Connection, keys: Iterable[str]) -> Iterator[ScopeGraph]:
        """The scopes' graphs one at a time: a call over more scopes than ``capacity`` holds
        only the one it is reading (the cache lets the older ones go)."""
        for key in keys:
            yield self.get(db, key)

    def drop(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._graphs.pop(key, None)

    def clear(self) -> None:
        self._graphs.clear()

    def keys(self) -> list[str]:
        return list(self._graphs)
