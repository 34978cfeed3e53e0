"""Embedded graph store: NetworkX in memory, persisted transactionally to SQLite.

SQLite is the durable copy (one transaction per ``write``); one ``MultiDiGraph`` per scope
is loaded from it the first time a call needs that scope (``scope_cache.py``: at most
``cache_scopes`` kept) and updated only after a commit succeeds, so the two never disagree and
a restart loses nothing. Opening a file loads nothing. One process writes it (see
``owner.py``); a read-only one calls ``refresh`` to let go of what it loaded once the writer
committed.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ..errors import BackendError, ConfigError
from ..models import Entity, GraphBatch, Relation, Scope, Source, Subgraph
from .scope_cache import ScopeCache
from .scope_graph import ScopeGraph
from .scope_index import keys_holding, listed, matching_keys, named, read, rows_by_id, titled
from .scope_walk import Filed, Loaded, walk
from .sqlite_file import connect
from .sqlite_rows import SCHEMA, entity, relation, scope_of_key, source, upgrade, write_statements

T = TypeVar("T")
_TABLES = (
    "entities",
    "names",
    "relations",
    "mentions",
    "sources",
    "titles",
    "derived",
    "scopes",
    "name_vectors",
    "meta",
)
#: the name vectors of a scope's entities go with them (``name_vectors.py``)
_SCOPE_NAMES = "DELETE FROM name_vectors WHERE id IN (SELECT id FROM entities WHERE scope=?)"
#: a mention's scope is its entity's (no index of mentions by scope: a second copy of them)
_SCOPE_MENTIONS = "DELETE FROM mentions WHERE entity_id IN (SELECT id FROM entities WHERE scope=?)"
#: scope keys of the entities with these ids; of the relations, the mentions, either of facts
_ENTITY_SCOPES = "SELECT scope FROM entities WHERE id IN {marks}"
_RELATION_SCOPES = "SELECT scope FROM relations WHERE fact_id IN {marks}"
_MENTIONS = "SELECT fact_id, entity_id, scope FROM mentions WHERE fact_id IN {marks}"
_HOMES = "SELECT id, scope FROM entities WHERE id IN {marks}"
_FACT_SCOPES = (
    "SELECT scope FROM relations WHERE fact_id IN {marks}"
    " UNION SELECT scope FROM mentions WHERE fact_id IN {marks}"
)


class NetworkXGraphStore:
    """The default :class:`~graphmem.protocols.GraphStore`: no server, one SQLite file."""

    def __init__(self, path: Path, cache_scopes: int = 2000) -> None:
        if cache_scopes < 1:
            raise ConfigError(f"cache_scopes must be at least 1, not {cache_scopes}")
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._scopes = ScopeCache(cache_scopes)
        self._lock = threading.RLock()
        self._loaded = -1  # the file's data_version when the loaded scopes were read
        self._writers: dict[str, threading.RLock] = {}  # scope key → its writers' lock

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        with self._lock:
            if self._db is not None:
                return
            try:
                db = connect(self.path, SCHEMA)  # indexes added since it was written, too
                upgrade(db)
                self._loaded = self._version(db)
            except sqlite3.Error as e:
                raise BackendError(f"cannot open graph store {self.path}: {e}") from e
            self._db = db

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.setup()
        assert self._db is not None
        return self._db

    @staticmethod
    def _version(db: sqlite3.Connection) -> int:
        """Changes whenever another connection (another process) commits to the file."""
        return int(db.execute("PRAGMA data_version").fetchone()[0])

    def refresh(self) -> None:
        """Let go of the loaded scopes if another process changed the file since they were
        read: each is loaded again, as it is now, when a call next needs it."""
        with self._lock:
            try:
                if self._db is not None:
                    version = self._version(self._db)
                    if version != self._loaded:
                        self._scopes.clear()
                        self._loaded = version
            except sqlite3.Error as e:
                raise BackendError(f"cannot read graph store {self.path}: {e}") from e

    def loaded_scopes(self) -> list[str]:
        """Keys of the scopes held in memory now, least recently used first."""
        with self._lock:
            return self._scopes.keys()

    def _holding(self, scope: Scope, select: str, ids: Sequence[str]) -> Iterator[ScopeGraph]:
        """The graphs of the scopes, among those ``scope`` matches, of the rows ``select``
        finds by id: a call about some entities or facts loads their scopes only."""
        db = self._conn()
        keys = keys_holding(db, select, ids)
        return self._scopes.graphs(db, (k for k in keys if scope.contains(scope_of_key(k))))

    def _tx(self, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
            for sql, rows in statements:
                if rows:
                    db.executemany(sql, rows)
            db.execute("COMMIT")
        except sqlite3.Error as e:
            db.execute("ROLLBACK")
            raise BackendError(f"graph store write failed: {e}") from e

    # -- rows of other stores kept in this file (the entity-name vectors) --------------------
    def select(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """The rows of one constant, parameterised ``SELECT``."""
        with self._lock:
            return read(self._conn(), sql, params)

    def run(self, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        """Constant, parameterised statements (each with its rows) in one transaction."""
        with self._lock:
            self._tx(statements)

    def changes(self) -> int:
        """A number that changes whenever another process commits to the file."""
        with self._lock:
            try:
                return self._version(self._conn())
            except sqlite3.Error as e:
                raise BackendError(f"cannot read graph store {self.path}: {e}") from e

    def matching(self, scope: Scope) -> list[str]:
        """Keys of the stored scopes that ``scope`` matches, oldest first."""
        with self._lock:
            return matching_keys(self._conn(), scope)

    # -- writes ----------------------------------------------------------------------------
    def write(
        self,
        batch: GraphBatch,
        invalidate_facts: Sequence[str] = (),
        at: datetime | None = None,
        ended: Mapping[str, datetime] | None = None,
    ) -> None:
        at = at or datetime.now(UTC)
        ended = ended or {}
        with self._lock:
            keep = {r.id for r in batch.relations}
            scope_of = self._scopes_of(batch)
            stale = [
                _replace_invalid(r, ended.get(r.fact_id, at))
                for r in self._current(invalidate_facts)
                if r.id not in keep
            ]
            self._tx(write_statements(batch, stale, scope_of))
            self._apply(batch, stale, scope_of)

    def _apply(self, batch: GraphBatch, stale: list[Relation], scope_of: dict[str, str]) -> None:
        """A committed write, in the loaded graphs it concerns (the others load it later)."""
        for r in stale:
            if sg := self._scopes.peek(r.scope.key):
                sg.add_relation(r)
        for e in batch.entities:
            if sg := self._scopes.peek(e.scope.key):
                sg.add_entity(e)
        for r in batch.relations:
            if sg := self._scopes.peek(r.scope.key):
                sg.add_relation(r)
        for f, eid in batch.mentions:
            if sg := self._scopes.peek(scope_of[eid]):
                sg.add_mention(f, eid)

    def _current(self, fact_ids: Sequence[str]) -> list[Relation]:
        """The stored current (not invalidated) relations of the facts."""
        if not fact_ids:
            return []
        marks = ",".join("?" * len(fact_ids))
        sql = f"SELECT * FROM relations WHERE fact_id IN ({marks}) AND invalid_at IS NULL"
        return [relation(row) for row in read(self._conn(), sql, list(fact_ids))]

    def _scopes_of(self, batch: GraphBatch) -> dict[str, str]:
        """Scope key of every entity a batch mentions (new or already stored)."""
        out = {e.id: e.scope.key for e in batch.entities}
        ends = [r.source_id for r in batch.relations] + [r.target_id for r in batch.relations]
        unknown = sorted({e for _, e in batch.mentions}.union(ends).difference(out))
        if unknown:
            marks = ",".join("?" * len(unknown))
            sql = f"SELECT id, scope FROM entities WHERE id IN ({marks})"
            out.update(read(self._conn(), sql, unknown))
            missing = [e for e in unknown if e not in out]
            if missing:
                raise BackendError(f"relation or mention of unknown entity {missing[0]}")
        return out

    def delete_facts(self, fact_ids: Sequence[str]) -> None:
        if not fact_ids:
            return
        rows = [(f,) for f in fact_ids]
        with self._lock:
            keys = keys_holding(self._conn(), _FACT_SCOPES, fact_ids)
            self._tx(
                [
                    ("DELETE FROM relations WHERE fact_id=?", rows),
                    ("DELETE FROM mentions WHERE fact_id=?", rows),
                    ("DELETE FROM derived WHERE fact_id=?", rows),
                ]
            )
            for key in keys:
                if sg := self._scopes.peek(key):
                    for f in fact_ids:
                        sg.drop_fact(f)

    def delete_scope(self, scope: Scope) -> None:
        with self._lock:
            keys = matching_keys(self._conn(), scope)
            rows = [(k,) for k in keys]
            derived = (
                "DELETE FROM derived WHERE source_id IN (SELECT id FROM sources WHERE scope=?)"
            )
            self._tx(
                [(derived, rows), (_SCOPE_NAMES, rows), (_SCOPE_MENTIONS, rows)]
                + [
                    (f"DELETE FROM {table} WHERE scope=?", rows)  # table names are constants
                    for table in ("entities", "names", "relations", "sources", "titles")
                ]
                + [("DELETE FROM scopes WHERE key=?", rows)]
            )
            self._scopes.drop(keys)

    def lock(self, scope: Scope) -> AbstractContextManager[object]:
        """One writer of the scope at a time in this process (one process owns the file)."""
        with self._lock:
            return self._writers.setdefault(scope.key, threading.RLock())

    def reset(self) -> None:
        with self._lock:
            self._tx([(f"DELETE FROM {t}", [()]) for t in _TABLES])
            self._scopes.clear()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
            self._db = None
            self._scopes.clear()

    # -- reads -----------------------------------------------------------------------------
    def entities(self, scope: Scope) -> list[Entity]:
        with self._lock:
            return [entity(row) for row in listed(self._conn(), scope, "entities")]

    def scopes(self) -> list[Scope]:
        with self._lock:
            keys = read(self._conn(), "SELECT key FROM scopes ORDER BY rowid", [])
        return [scope_of_key(k) for (k,) in keys]

    def find_entities(self, scope: Scope, norms: Sequence[str]) -> list[Entity]:
        with self._lock:
            return named(self._conn(), scope, norms)

    def relations(
        self,
        scope: Scope,
        *,
        fact_ids: Sequence[str] | None = None,
        entity_ids: Sequence[str] | None = None,
        include_invalid: bool = False,
    ) -> list[Relation]:
        with self._lock:
            rels: list[Relation] = []
            if fact_ids is not None:
                for sg in self._holding(scope, _RELATION_SCOPES, fact_ids):
                    rels.extend(r for f in fact_ids for r in sg.fact_relations.get(f, {}).values())
            elif entity_ids is not None:
                for sg in self._holding(scope, _ENTITY_SCOPES, entity_ids):
                    rels.extend(_touching(sg, entity_ids))
            else:
                rels = [relation(row) for row in listed(self._conn(), scope, "relations")]
            return [r for r in rels if include_invalid or r.invalid_at is None]

    def neighbourhood(
        self,
        scope: Scope,
        entity_ids: Sequence[str],
        hops: int = 2,
        limit: int = 500,
        mention_cap: int | None = None,
        at: datetime | None = None,
    ) -> Subgraph:
        def held(r: Relation) -> bool:
            return r.invalid_at is None if at is None else r.held_at(at)

        bounds = (hops, limit, mention_cap, held)
        with self._lock:
            # an entity belongs to one exact scope: each is walked in its own graph, all at once
            db = self._conn()
            if scope.user_id is None:  # across many users' scopes: read in place, load none
                filed = Filed(db)
                return _in_one_read(
                    db, lambda: walk(filed, self._homes(scope, entity_ids), entity_ids, *bounds)
                )
            home = self._homes(scope, entity_ids)
            graphs = {key: self._scopes.get(db, key) for key in dict.fromkeys(home.values())}
            home = {e: key for e, key in home.items() if e in graphs[key].graph}
            return walk(Loaded(graphs), home, entity_ids, *bounds)

    def _homes(self, scope: Scope, entity_ids: Sequence[str]) -> dict[str, str]:
        """Entity id → the key of its scope, for the entities in ``scope``."""
        rows = rows_by_id(self._conn(), _HOMES, list(dict.fromkeys(entity_ids)))
        return {e: key for e, key in rows if scope.contains(scope_of_key(key))}

    def mentions(self, scope: Scope, fact_ids: Sequence[str]) -> list[tuple[str, str]]:
        """Read from the file by fact id: the facts of a query across many scopes (an
        agent's) need no scope loaded."""
        with self._lock:
            rows = rows_by_id(self._conn(), _MENTIONS, list(dict.fromkeys(fact_ids)))
        return [(f, e) for f, e, key in rows if scope.contains(scope_of_key(key))]

    def sources(self, scope: Scope, ids: Sequence[str]) -> list[Source]:
        if not ids:
            return []
        with self._lock:
            marks = ",".join("?" * len(ids))
            rows = (
                self._conn()
                .execute(
                    f"SELECT * FROM sources WHERE id IN ({marks})",
                    list(ids),  # only placeholders
                )
                .fetchall()
            )
        return [src for src in map(source, rows) if scope.contains(src.scope)]

    def _titled(self, scope: Scope, names: Sequence[str]) -> dict[str, list[str]]:
        """Name → ids of the sources in ``scope`` it titles (names titling none left out)."""
        with self._lock:
            return titled(self._conn(), scope, names)

    def sources_about(self, scope: Scope, names: Sequence[str], limit: int) -> dict[str, list[str]]:
        return {
            n: sorted(ids) for n, ids in self._titled(scope, names).items() if len(ids) <= limit
        }

    def title_counts(self, scope: Scope, names: Sequence[str], limit: int) -> dict[str, int]:
        return {n: min(len(ids), limit) for n, ids in self._titled(scope, names).items()}

    def fact_sources(self, fact_ids: Sequence[str]) -> dict[str, list[str]]:
        return self._pairs("SELECT fact_id, source_id FROM derived WHERE fact_id IN", fact_ids)

    def source_facts(self, source_ids: Sequence[str]) -> dict[str, list[str]]:
        return self._pairs("SELECT source_id, fact_id FROM derived WHERE source_id IN", source_ids)

    def _pairs(self, select: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """``select`` (a constant) ``IN`` the ids, grouped by the first column."""
        if not ids:
            return {}
        with self._lock:
            marks = ",".join("?" * len(ids))
            rows = self._conn().execute(f"{select} ({marks})", list(ids)).fetchall()
        out: dict[str, list[str]] = defaultdict(list)
        for key, value in rows:
            out[key].append(value)
        return dict(out)

    def delete_sources(self, source_ids: Sequence[str]) -> None:
        if not source_ids:
            return
        rows = [(s,) for s in source_ids]
        with self._lock:
            self._tx(
                [
                    ("DELETE FROM derived WHERE source_id=?", rows),
                    ("DELETE FROM titles WHERE source_id=?", rows),
                    ("DELETE FROM sources WHERE id=?", rows),
                ]
            )


def _touching(sg: ScopeGraph, entity_ids: Sequence[str]) -> Iterable[Relation]:
    """The relations of the graph from or to the entities, each once."""
    ids = [e for e in entity_ids if e in sg.graph]
    edges = [*sg.graph.out_edges(ids, data="rel"), *sg.graph.in_edges(ids, data="rel")]
    return {r.id: r for *_, r in edges}.values()


def _in_one_read(db: sqlite3.Connection, read: Callable[[], T]) -> T:
    """``read()`` in one read transaction: another process's commit is in it wholly or not
    at all."""
    try:
        db.execute("BEGIN")
        try:
            return read()
        finally:
            db.execute("COMMIT")
    except sqlite3.Error as e:
        raise BackendError(f"cannot read graph store: {e}") from e


def _replace_invalid(r: Relation, at: datetime) -> Relation:
    return replace(r, invalid_at=at)
