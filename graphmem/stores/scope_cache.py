"""The embedded graph store's scopes in memory: each loaded from SQLite the first time a call
needs it, at most ``capacity`` kept (the least recently used one is let go, and loaded again
when it is needed again). Which scopes a call needs comes from ``scope_index.py``.

The caller holds the store's lock around every method here (one connection, one thread at a
time)."""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from ..errors import BackendError
from .scope_graph import ScopeGraph
from .sqlite_rows import entity, entity_columns, relation

_ENTITIES = f"SELECT {entity_columns('entities')} FROM entities WHERE scope=?"
#: a mention's scope is its entity's: found through the entities' index and ``mentions_entity``
_MENTIONS = (
    "SELECT m.fact_id, m.entity_id FROM entities e JOIN mentions m ON m.entity_id = e.id"
    " WHERE e.scope=?"
)


def load_scope(db: sqlite3.Connection, key: str) -> ScopeGraph:
    """Every row of one exact scope, read in one transaction: another process's commit is in
    it wholly or not at all."""
    sg = ScopeGraph()
    try:
        db.execute("BEGIN")
        try:
            for row in db.execute(_ENTITIES, (key,)):
                sg.add_entity(entity(row))
            for row in db.execute("SELECT * FROM relations WHERE scope=?", (key,)):
                sg.add_relation(relation(row))
            for fact_id, entity_id in db.execute(_MENTIONS, (key,)):
                sg.add_mention(fact_id, entity_id)
        finally:
            db.execute("COMMIT")
    except sqlite3.Error as e:
        raise BackendError(f"cannot read graph store scope: {e}") from e
    return sg


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
