"""Embedded graph store: NetworkX in memory, persisted transactionally to SQLite.

SQLite is the durable copy (one transaction per ``write``); one ``MultiDiGraph`` per scope
is loaded from it on ``setup`` and updated only after a commit succeeds, so the two never
disagree and a restart loses nothing. One process writes it (see ``owner.py``); a read-only
one calls ``refresh`` to load it again once the writer committed.
"""

from __future__ import annotations

import heapq
import itertools
import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import BackendError
from ..models import Entity, GraphBatch, Relation, Scope, Source, Subgraph, norm_name
from .scope_graph import ScopeGraph
from .sqlite_rows import SCHEMA, entity, num, relation, source


class NetworkXGraphStore:
    """The default :class:`~graphmem.protocols.GraphStore`: no server, one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._scopes: dict[str, ScopeGraph] = {}
        self._lock = threading.RLock()
        self._loaded = -1  # the file's data_version when it was loaded
        self._writers: dict[str, threading.RLock] = {}  # scope key → its writers' lock

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        with self._lock:
            if self._db is not None:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA secure_delete=ON")  # deleted text is overwritten on disk
                db.executescript(SCHEMA)
            except sqlite3.Error as e:
                raise BackendError(f"cannot open graph store {self.path}: {e}") from e
            self._db = db
            self._load()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.setup()
        assert self._db is not None
        return self._db

    def _load(self) -> None:
        db = self._conn()
        self._scopes = {}
        version = self._version(db)
        db.execute("BEGIN")  # one snapshot: another process's commit is in it wholly or not
        try:
            for row in db.execute(
                "SELECT id, scope, name, type, aliases, created_at FROM entities"
            ):
                self._sg(row[1]).add_entity(entity(row))
            for row in db.execute("SELECT * FROM relations"):
                self._sg(row[1]).add_relation(relation(row))
            for fact_id, entity_id, scope in db.execute("SELECT * FROM mentions"):
                self._sg(scope).add_mention(fact_id, entity_id)
            for sid, scope, title in db.execute(
                "SELECT id, scope, title FROM sources WHERE title IS NOT NULL AND title != ''"
            ):
                self._sg(scope).titled[norm_name(title)].add(sid)
        finally:
            db.execute("COMMIT")
        self._loaded = version  # not before: a failed load is tried again

    @staticmethod
    def _version(db: sqlite3.Connection) -> int:
        """Changes whenever another connection (another process) commits to the file."""
        return int(db.execute("PRAGMA data_version").fetchone()[0])

    def refresh(self) -> None:
        """Load the graph again if another process changed the file since it was loaded."""
        with self._lock:
            try:
                if self._db is not None and self._version(self._db) != self._loaded:
                    self._load()
            except sqlite3.Error as e:
                raise BackendError(f"cannot read graph store {self.path}: {e}") from e

    def _sg(self, scope_key: str) -> ScopeGraph:
        sg = self._scopes.get(scope_key)
        if sg is None:
            sg = self._scopes[scope_key] = ScopeGraph()
        return sg

    def _matching(self, scope: Scope) -> Iterable[ScopeGraph]:
        self._conn()
        return [sg for key, sg in self._scopes.items() if scope.contains(Scope.from_key(key))]

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
                _replace_invalid(r, ended.get(f, at))
                for f in invalidate_facts
                for sg in self._scopes.values()
                for r in sg.fact_relations.get(f, {}).values()
                if r.invalid_at is None and r.id not in keep
            ]
            self._tx(
                [
                    (
                        "UPDATE relations SET invalid_at=? WHERE id=?",
                        [(num(r.invalid_at), r.id) for r in stale],
                    ),
                    (
                        "INSERT OR REPLACE INTO entities VALUES (?,?,?,?,?,?)",
                        [
                            (
                                e.id,
                                e.scope.key,
                                e.name,
                                e.type,
                                json.dumps(list(e.aliases)),
                                e.created_at.timestamp(),
                            )
                            for e in batch.entities
                        ],
                    ),
                    (
                        "INSERT OR REPLACE INTO relations VALUES (?,?,?,?,?,?,?,?,?,?)",
                        [
                            (
                                r.id,
                                r.scope.key,
                                r.source_id,
                                r.relation,
                                r.target_id,
                                r.fact_id,
                                num(r.valid_from),
                                num(r.invalid_at),
                                r.created_at.timestamp(),
                                r.weight,
                            )
                            for r in batch.relations
                        ],
                    ),
                    (
                        "INSERT OR IGNORE INTO mentions VALUES (?,?,?)",
                        [(f, e, scope_of[e]) for f, e in batch.mentions],
                    ),
                    (
                        "INSERT OR REPLACE INTO sources VALUES (?,?,?,?,?,?,?)",
                        [
                            (
                                s.id,
                                s.scope.key,
                                s.content,
                                s.role,
                                s.title,
                                s.created_at.timestamp(),
                                json.dumps(s.metadata, default=str),
                            )
                            for s in batch.sources
                        ],
                    ),
                    (
                        "INSERT OR IGNORE INTO derived VALUES (?,?)",
                        list(batch.derived),
                    ),
                ]
            )
            for r in stale:
                self._sg(r.scope.key).add_relation(r)
            for e in batch.entities:
                self._sg(e.scope.key).add_entity(e)
            for r in batch.relations:
                self._sg(r.scope.key).add_relation(r)
            for f, eid in batch.mentions:
                self._sg(scope_of[eid]).add_mention(f, eid)
            for s in batch.sources:
                if s.title:
                    self._sg(s.scope.key).titled[norm_name(s.title)].add(s.id)

    def _scopes_of(self, batch: GraphBatch) -> dict[str, str]:
        """Scope key of every entity a batch mentions (new or already stored)."""
        out = {e.id: e.scope.key for e in batch.entities}
        ends = [r.source_id for r in batch.relations] + [r.target_id for r in batch.relations]
        for eid in [e for _, e in batch.mentions] + ends:
            if eid not in out:
                key = next((k for k, sg in self._scopes.items() if eid in sg.graph), None)
                if key is None:
                    raise BackendError(f"relation or mention of unknown entity {eid}")
                out[eid] = key
        return out

    def delete_facts(self, fact_ids: Sequence[str]) -> None:
        if not fact_ids:
            return
        rows = [(f,) for f in fact_ids]
        with self._lock:
            self._tx(
                [
                    ("DELETE FROM relations WHERE fact_id=?", rows),
                    ("DELETE FROM mentions WHERE fact_id=?", rows),
                    ("DELETE FROM derived WHERE fact_id=?", rows),
                ]
            )
            for sg in self._scopes.values():
                for f in fact_ids:
                    sg.drop_fact(f)

    def delete_scope(self, scope: Scope) -> None:
        with self._lock:
            keys = [k for k in self._scopes if scope.contains(Scope.from_key(k))]
            stored = {r[0] for r in self._conn().execute("SELECT DISTINCT scope FROM sources")}
            keys += [k for k in stored if k and scope.contains(Scope.from_key(k)) and k not in keys]
            rows = [(k,) for k in keys]
            derived = (
                "DELETE FROM derived WHERE source_id IN (SELECT id FROM sources WHERE scope=?)"
            )
            self._tx(
                [(derived, rows)]
                + [
                    (f"DELETE FROM {table} WHERE scope=?", rows)  # table names are constants
                    for table in ("entities", "relations", "mentions", "sources")
                ]
            )
            for k in keys:
                self._scopes.pop(k, None)

    def lock(self, scope: Scope) -> AbstractContextManager[object]:
        """One writer of the scope at a time in this process (one process owns the file)."""
        with self._lock:
            return self._writers.setdefault(scope.key, threading.RLock())

    def reset(self) -> None:
        with self._lock:
            self._tx(
                [
                    (f"DELETE FROM {t}", [()])
                    for t in ("entities", "relations", "mentions", "sources", "derived")
                ]
            )
            self._scopes = {}

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
            self._db = None
            self._scopes = {}

    # -- reads -----------------------------------------------------------------------------
    def entities(self, scope: Scope) -> list[Entity]:
        with self._lock:
            return [
                d["entity"] for sg in self._matching(scope) for _, d in sg.graph.nodes(data=True)
            ]

    def find_entities(self, scope: Scope, norms: Sequence[str]) -> list[Entity]:
        with self._lock:
            out: dict[str, Entity] = {}
            for sg in self._matching(scope):
                for n in norms:
                    for eid in sg.by_norm.get(n, ()):
                        out[eid] = sg.graph.nodes[eid]["entity"]
            return list(out.values())

    def relations(
        self,
        scope: Scope,
        *,
        fact_ids: Sequence[str] | None = None,
        entity_ids: Sequence[str] | None = None,
        include_invalid: bool = False,
    ) -> list[Relation]:
        with self._lock:
            out: list[Relation] = []
            for sg in self._matching(scope):
                if fact_ids is not None:
                    rels: Iterable[Relation] = (
                        r for f in fact_ids for r in sg.fact_relations.get(f, {}).values()
                    )
                elif entity_ids is not None:
                    ids = [e for e in entity_ids if e in sg.graph]
                    rels = {
                        d["rel"].id: d["rel"]
                        for _, _, d in [
                            *sg.graph.out_edges(ids, data=True),
                            *sg.graph.in_edges(ids, data=True),
                        ]
                    }.values()
                else:
                    rels = (d["rel"] for _, _, d in sg.graph.edges(data=True))
                out.extend(r for r in rels if include_invalid or r.invalid_at is None)
            return out

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

        with self._lock:
            # an entity belongs to one exact scope: walk each in its own graph, all at once
            graphs = list(self._matching(scope))
            home = {e: sg for e in entity_ids for sg in graphs if e in sg.graph}
            frontier = list(home)
            rels: dict[str, Relation] = {}
            for _ in range(hops):
                nxt: list[str] = []
                for node in frontier:  # the budget goes to the first entities first
                    if len(rels) >= limit:
                        break
                    g = home[node].graph
                    edges = itertools.chain(
                        g.out_edges(node, data="rel"), g.in_edges(node, data="rel")
                    )
                    fresh = [r for *_, r in edges if held(r) and r.id not in rels]
                    for r in heapq.nsmallest(limit - len(rels), fresh, key=_oldest):
                        rels[r.id] = r
                        for end in (r.source_id, r.target_id):
                            if end not in home:
                                home[end] = home[node]
                                nxt.append(end)
                frontier = nxt
            ents: dict[str, Entity] = {}
            mentions: list[tuple[str, str]] = []
            degree: dict[str, int] = {}
            for eid, sg in home.items():
                ents[eid] = sg.graph.nodes[eid]["entity"]
                facts = sg.entity_facts.get(eid, ())
                degree[eid] = len(facts)
                if mention_cap is None or len(facts) <= mention_cap:
                    mentions.extend((f, eid) for f in facts)
            return Subgraph(ents, list(rels.values()), mentions, degree)

    def mentions(self, scope: Scope, fact_ids: Sequence[str]) -> list[tuple[str, str]]:
        with self._lock:
            return [
                (f, e)
                for sg in self._matching(scope)
                for f in fact_ids
                for e in sg.fact_entities.get(f, ())
            ]

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
            groups = self._matching(scope)
            found = {n: [i for sg in groups for i in sg.titled.get(n, ())] for n in names}
        return {n: ids for n, ids in found.items() if ids}

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
            marks = ",".join("?" * len(source_ids))
            titled = self._conn().execute(
                f"SELECT id, scope, title FROM sources WHERE id IN ({marks})", list(source_ids)
            )
            found = titled.fetchall()
            self._tx(
                [
                    ("DELETE FROM derived WHERE source_id=?", rows),
                    ("DELETE FROM sources WHERE id=?", rows),
                ]
            )
            for sid, key, title in found:
                if title and key in self._scopes:
                    self._scopes[key].titled[norm_name(title)].discard(sid)


def _oldest(r: Relation) -> tuple[datetime, str]:
    return r.created_at, r.id


def _replace_invalid(r: Relation, at: datetime) -> Relation:
    return replace(r, invalid_at=at)
