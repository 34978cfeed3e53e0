"""Neo4j graph store: the same contract as the embedded store, readable in Neo4j Browser.

Data model (all Cypher text is in ``cypher/``, loaded by name):

* ``(:Entity:<Type> {id, name, type, aliases, norm, attributes, ...})`` - the entity type is a
  second label; ``attributes`` is one JSON string (absent when there are none);
* ``(:Entity)-[:<RELATION> {id, fact_id, valid_from, invalid_at, created_at, weight}]->(:Entity)``;
* ``(:Fact {id, text, valid_from, invalid_at})-[:MENTIONS]->(:Entity)`` and
  ``(:Fact)-[:DERIVED_FROM]->(:Source)`` - invalidating a fact sets ``invalid_at`` on its
  node and on its relations;
* ``(:Source {id, content, role, ...})-[:MENTIONS]->(:Entity)``.

Every node and relationship carries ``user_id``/``agent_id``/``run_id`` and ``scope_key``;
every scoped query matches them in Cypher. Only entity and relation types (validated against
``LABEL`` / ``RELATION_TYPE``, see :mod:`.neo4j_batch`) are put into query text; everything
else is a parameter. Driver errors become one-line ``BackendError``\ s (:mod:`.neo4j_errors`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from neo4j import READ_ACCESS as READ
from neo4j import Driver, GraphDatabase, ManagedTransaction
from neo4j.exceptions import DriverError, Neo4jError

from ..errors import BackendError
from ..models import Entity, GraphBatch, Relation, Scope, Source, Subgraph
from . import cypher
from .neo4j_batch import BatchPlan, Row
from .neo4j_batch import run_rows as _run
from .neo4j_errors import translated
from .neo4j_keywords import Neo4jKeywordIndex

T = TypeVar("T")
log = logging.getLogger("graphmem")
Work = Callable[[ManagedTransaction], T]

RESET_CHUNK = 10_000
#: which scope key a scoped query seeks through: the first one set (see :func:`scoped`)
SEEK_ORDER = ("run_id", "user_id", "agent_id")
INDEX_TIMEOUT_S = 300


class Neo4jGraphStore:
    """:class:`~graphmem.protocols.GraphStore` on a Neo4j 5 server (Community is enough).

    The constructor does no I/O; the driver is created on :meth:`setup` or the first call.
    """

    def __init__(
        self,
        uri: str,
        user: str,
        password: str,
        database: str = "neo4j",
        *,
        connection_timeout: float = 10.0,
        max_retry_time: float = 15.0,
    ) -> None:
        self.uri = uri
        self.user = user
        self.database = database
        self._password = password
        self._connection_timeout = connection_timeout
        self._max_retry_time = max_retry_time
        self._driver: Driver | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Neo4jGraphStore(uri={self.uri!r}, user={self.user!r}, database={self.database!r})"

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        """Connect, check the credentials and apply ``cypher/schema.cypher`` (idempotent)."""
        with self._lock:
            if self._driver is not None:
                return
            driver = self._connect()
            try:
                with self._errors("schema setup"):
                    for statement in cypher.statements("schema"):
                        driver.execute_query(statement, database_=self.database)
                    driver.execute_query(
                        cypher.load("store/await_indexes"),
                        {"timeout": INDEX_TIMEOUT_S},
                        database_=self.database,
                    )
            except BaseException:
                driver.close()
                raise
            self._driver = driver

    def _connect(self) -> Driver:
        with self._errors("connect"):
            driver = GraphDatabase.driver(
                self.uri,
                auth=(self.user, self._password),
                connection_timeout=self._connection_timeout,
                max_transaction_retry_time=self._max_retry_time,
                notifications_min_severity="OFF",  # planner hints are not errors; keep logs clean
            )
            try:
                driver.verify_connectivity()
            except BaseException as e:
                driver.close()
                if isinstance(e, Neo4jError | DriverError) or not isinstance(e, Exception):
                    raise
                raise BackendError(f"neo4j connect failed at {self.uri}: {e!r}") from e
            return driver

    def _drv(self) -> Driver:
        with self._lock:
            if self._driver is None:
                self.setup()
            assert self._driver is not None
            return self._driver

    def refresh(self) -> None:
        """Nothing to forget: every read asks the server."""

    def close(self) -> None:
        with self._lock:
            driver, self._driver = self._driver, None
        if driver is not None:
            with self._errors("close"):
                driver.close()

    def reset(self) -> None:
        """Delete graphmem's own nodes (``:Entity``, ``:Fact``, ``:Source``), in chunks."""
        query = cypher.load("store/reset")
        while True:
            rows = self._write("reset", lambda tx: _run(tx, query, chunk=RESET_CHUNK))
            if not rows or rows[0]["n"] < RESET_CHUNK:
                return

    # -- plumbing --------------------------------------------------------------------------
    @contextmanager
    def _errors(self, op: str) -> Iterator[None]:
        with translated(op, self.uri, self.user):
            yield

    def _read(self, op: str, work: Work[T]) -> T:
        with self._errors(op), self._drv().session(database=self.database) as session:
            return session.execute_read(work)

    def _write(self, op: str, work: Work[T]) -> T:
        with self._errors(op), self._drv().session(database=self.database) as session:
            return session.execute_write(work)

    def _query(self, op: str, name: str, **params: Any) -> list[Row]:
        """One read statement as an auto-commit transaction: a round trip less than a managed
        one (no COMMIT), which is a good part of a small read. A failure the driver deems
        retryable runs it again as a managed read, which retries (reads are safe to repeat)."""
        query, driver = cypher.load(name), self._drv()  # setup errors are translated already
        with self._errors(op):
            try:
                with driver.session(database=self.database, default_access_mode=READ) as session:
                    return [dict(rec) for rec in session.run(query, params)]
            except (Neo4jError, DriverError) as e:
                if not e.is_retryable():
                    raise
        return self._read(op, lambda tx: _run(tx, query, **params))

    # -- writes ----------------------------------------------------------------------------
    def write(
        self,
        batch: GraphBatch,
        invalidate_facts: Sequence[str] = (),
        at: datetime | None = None,
        ended: Mapping[str, datetime] | None = None,
    ) -> None:
        """One transaction: invalidate, then upsert the batch (everything or nothing)."""
        # building the plan validates labels and types: no I/O before this
        plan = BatchPlan.of(batch, invalidate_facts, at or datetime.now(UTC), ended or {})
        self._write("write", plan.run)

    def delete_facts(self, fact_ids: Sequence[str]) -> None:
        ids = list(dict.fromkeys(fact_ids))
        if ids:
            names = ("delete_fact_relations", "delete_fact_nodes")
            self._write_all("delete_facts", names, {"fact_ids": ids})

    def delete_sources(self, source_ids: Sequence[str]) -> None:
        ids = list(dict.fromkeys(source_ids))
        if ids:
            self._write_all("delete_sources", ("delete_sources",), {"source_ids": ids})

    def delete_scope(self, scope: Scope) -> None:
        names = ("delete_scope_entities", "delete_scope_sources", "delete_scope_facts")
        self._write_all("delete_scope", names, scoped(scope))

    @contextmanager
    def lock(self, scope: Scope) -> Iterator[None]:
        """The scope's write lock, shared by every process on this server: a transaction that
        MERGEs the scope's ``:ScopeLock`` node (waiting while another holds it) stays open
        until the block ends, then rolls back. A process that dies loses its connection, and
        the server rolls its transaction back: no lock outlives its holder."""
        query, driver = cypher.load("store/lock_scope"), self._drv()
        with self._errors("lock"):
            session = driver.session(database=self.database)
            try:
                tx = session.begin_transaction()
                tx.run(query, {"key": scope.key}).consume()
            except BaseException:
                session.close()
                raise
        try:
            yield
        finally:
            _release(tx, session)

    def keyword_index(self) -> Neo4jKeywordIndex:
        """Keyword search on this server's full-text indexes (see :mod:`.neo4j_keywords`)."""
        return Neo4jKeywordIndex(self._query)

    def _write_all(self, op: str, names: Sequence[str], params: Row) -> None:
        """The queries ``cypher/store/<name>.cypher``, in order, in one transaction."""
        queries = [cypher.load(f"store/{n}") for n in names]

        def work(tx: ManagedTransaction) -> None:
            for query in queries:
                tx.run(query, params).consume()

        self._write(op, work)

    # -- reads -----------------------------------------------------------------------------
    def entities(self, scope: Scope) -> list[Entity]:
        rows = self._query("entities", "store/entities", **scoped(scope))
        return [_entity(r["e"]) for r in rows]

    def scopes(self) -> list[Scope]:
        (row,) = self._query("scopes", "store/scopes")
        return [Scope.from_key(k) for k in row["keys"]]

    def find_entities(self, scope: Scope, norms: Sequence[str]) -> list[Entity]:
        if not norms:
            return []
        rows = self._query(
            "find_entities", "store/find_entities", norms=list(norms), **scoped(scope)
        )
        return [_entity(r["e"]) for r in rows]

    def relations(
        self,
        scope: Scope,
        *,
        fact_ids: Sequence[str] | None = None,
        entity_ids: Sequence[str] | None = None,
        include_invalid: bool = False,
    ) -> list[Relation]:
        if (fact_ids is not None and not fact_ids) or (entity_ids is not None and not entity_ids):
            return []  # none asked for (a write that invalidates nothing): no round trip
        params: dict[str, Any] = {"include_invalid": include_invalid, **scoped(scope)}
        if fact_ids is not None:
            name, params["fact_ids"] = "store/relations_by_fact", list(fact_ids)
        elif entity_ids is not None:
            name, params["entity_ids"] = "store/relations_by_entity", list(entity_ids)
        else:
            name = "store/relations_all"
        return [_relation(r["r"]) for r in self._query("relations", name, **params)]

    def neighbourhood(
        self,
        scope: Scope,
        entity_ids: Sequence[str],
        hops: int = 2,
        limit: int = 500,
        mention_cap: int | None = None,
        at: datetime | None = None,
    ) -> Subgraph:
        """Breadth-first, one bounded query per hop, all in one read transaction."""
        ids = list(dict.fromkeys(entity_ids))
        walk = _Walk(scope.as_dict(), ids, hops, limit, mention_cap, at)
        return self._read("neighbourhood", walk.run)

    def mentions(self, scope: Scope, fact_ids: Sequence[str]) -> list[tuple[str, str]]:
        if not fact_ids:
            return []
        ids = list(dict.fromkeys(fact_ids))
        (row,) = self._query("mentions", "store/mentions", fact_ids=ids, **scoped(scope))
        return [(f, e) for f, e in row["pairs"]]

    def sources(self, scope: Scope, ids: Sequence[str]) -> list[Source]:
        if not ids:
            return []
        rows = self._query("sources", "store/sources", ids=list(ids), **scoped(scope))
        return [_source(r["s"]) for r in rows]

    def sources_about(self, scope: Scope, names: Sequence[str], limit: int) -> dict[str, list[str]]:
        if not names:
            return {}
        rows = self._query(
            "sources_about",
            "store/sources_about",
            names=list(names),
            limit=limit,
            **scoped(scope),
        )
        return {row["name"]: row["source_ids"] for row in rows}

    def title_counts(self, scope: Scope, names: Sequence[str], limit: int) -> dict[str, int]:
        if not names:
            return {}
        (row,) = self._query(
            "title_counts",
            "store/title_counts",
            names=list(dict.fromkeys(names)),
            limit=limit,
            **scoped(scope),
        )
        return {name: count for name, count in row["counts"]}

    def fact_sources(self, fact_ids: Sequence[str]) -> dict[str, list[str]]:
        return self._pairs("fact_sources", "fact_ids", fact_ids)

    def source_facts(self, source_ids: Sequence[str]) -> dict[str, list[str]]:
        return self._pairs("source_facts", "source_ids", source_ids)

    def _pairs(self, name: str, param: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """``store/<name>.cypher`` returns one row of [key, value] pairs: grouped by key."""
        if not ids:
            return {}
        (row,) = self._query(name, f"store/{name}", **{param: list(dict.fromkeys(ids))})
        out: dict[str, list[str]] = defaultdict(list)
        for key, value in row["pairs"]:
            out[key].append(value)
        return dict(out)

    def fact_nodes(self, fact_ids: Sequence[str]) -> dict[str, Row]:
        """The ``:Fact`` nodes ``fact_ids``: ``{id: {text, valid_from, invalid_at}}`` (for
        inspection; the memories themselves live in the vector store)."""
        if not fact_ids:
            return {}
        rows = self._query("fact_nodes", "store/fact_nodes", fact_ids=list(fact_ids))
        return {
            r["id"]: {"text": r["text"], **{k: _dt(r[k]) for k in ("valid_from", "invalid_at")}}
            for r in rows
        }

    def describe(self, scope: Scope) -> dict[str, dict[str, int]]:
        """Counts of labels and relationship types stored for ``scope`` (for inspection)."""
        out: dict[str, dict[str, int]] = {"labels": {}, "relationships": {}}
        for row in self._query("describe", "store/describe", **scoped(scope)):
            kind = "labels" if row["kind"] == "label" else "relationships"
            out[kind][row["name"]] = row["n"]
        return out


def scoped(scope: Scope) -> dict[str, str | None]:
    """The query parameters of ``scope``: its keys (the exact scope every query checks) and
    ``by_run``/``by_user``/``by_agent``, of which only the first key set in that order is not
    null: queries seek through that key's index and filter by the rest. A run is the
    narrowest key and an agent (serving many users) the broadest, so a scope given by several
    keys reads only its narrowest slice, never the whole of a big tenant that shares a key."""
    keys = scope.as_dict()
    seek = next(k for k in SEEK_ORDER if keys[k] is not None)
    return {**keys, **{f"by_{k[:-3]}": keys[k] if k == seek else None for k in SEEK_ORDER}}


def _release(tx: Any, session: Any) -> None:
    """Roll the lock's transaction back and end its session. A failure here is no error of
    the write it guarded: the server ends a transaction whose connection is gone."""
    for end in (tx.close, session.close):
        try:
            end()
        except (Neo4jError, DriverError, OSError) as e:
            log.warning("neo4j: releasing a scope lock failed (the server ends it): %s", e)


# -- the neighbourhood walk ----------------------------------------------------------------
@dataclass
class _Walk:
    scope: dict[str, str | None]
    seeds: list[str]
    hops: int
    limit: int
    mention_cap: int | None
    at: datetime | None = None

    entities: dict[str, Entity] = field(default_factory=dict)
    mentions: list[tuple[str, str]] = field(default_factory=list)
    degree: dict[str, int] = field(default_factory=dict)

    def run(self, tx: ManagedTransaction) -> Subgraph:
        self.entities, self.mentions, self.degree = {}, [], {}  # a retry starts afresh
        self._reach(tx, self.seeds)
        relations: dict[str, Relation] = {}
        frontier, reached = list(self.entities), set(self.entities)
        hop = cypher.load("store/neighbourhood_hop")
        for _ in range(self.hops):
            if not frontier or len(relations) >= self.limit:
                break
            todo = {"frontier": frontier, "taken": list(relations), "at": self.at, **self.scope}
            (row,) = _run(tx, hop, limit=self.limit - len(relations), **todo)
            nxt: list[str] = []
            for found in row["relations"]:
                r = relations[found["id"]] = _relation(found)
                for end in (r.source_id, r.target_id):
                    if end not in reached:
                        reached.add(end)
                        nxt.append(end)
            frontier = nxt
        self._reach(tx, [e for e in reached if e not in self.entities])
        return Subgraph(self.entities, list(relations.values()), self.mentions, self.degree)

    def _reach(self, tx: ManagedTransaction, ids: list[str]) -> None:
        """Add the entities ``ids`` of the scope, with the facts that mention them (none for
        a hub: only how many)."""
        if not ids:
            return
        query = cypher.load("store/neighbourhood_entities")
        (row,) = _run(tx, query, ids=ids, cap=self.mention_cap, **self.scope)
        for found in row["entities"]:
            e = _entity(found["e"])
            if e.id not in self.entities:
                self.entities[e.id] = e
                self.degree[e.id] = found["degree"]
                self.mentions.extend((f, e.id) for f in found["facts"])


# -- properties -> values ----------------------------------------------------------------
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _dt(value: Any) -> datetime | None:
    """Epoch microseconds (what the store's queries return), a Neo4j temporal value or a
    native one, as an aware UTC ``datetime``."""
    if value is None:
        return None
    if isinstance(value, int):
        return EPOCH + timedelta(microseconds=value)
    native = value.to_native() if hasattr(value, "to_native") else value
    if not isinstance(native, datetime):
        raise BackendError(f"neo4j returned {value!r} where a datetime was expected")
    return native.astimezone(UTC) if native.tzinfo else native.replace(tzinfo=UTC)


def _created(p: Row) -> datetime:
    return _dt(p.get("created_at")) or datetime.now(UTC)


def _entity(p: Row) -> Entity:
    scope, aliases = Scope.from_key(p["scope_key"]), tuple(p.get("aliases") or ())
    attributes = json.loads(p.get("attributes") or "{}")  # none written before attributes
    return Entity(p["id"], p["name"], p["type"], scope, aliases, _created(p), attributes)


def _relation(p: Row) -> Relation:
    ends, scope = (p["source_id"], p["relation"], p["target_id"]), Scope.from_key(p["scope_key"])
    valid, invalid, weight = _dt(p.get("valid_from")), _dt(p.get("invalid_at")), p.get("weight")
    rel = Relation(p["id"], *ends, p["fact_id"], scope, valid, invalid, _created(p))
    return rel if weight is None else replace(rel, weight=float(weight))


def _source(p: Row) -> Source:
    scope, metadata = Scope.from_key(p["scope_key"]), json.loads(p.get("metadata") or "{}")
    return Source(p["id"], scope, p["content"], p["role"], p.get("title"), _created(p), metadata)
