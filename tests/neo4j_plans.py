"""Query plans of the Neo4j store's statements, for ``tests/test_neo4j_plans.py`` and the
tenants probe (``benchmarks/probe_neo4j_tenants.py``).

* Tenants: the same small synthetic graph for any scope (one ``USER`` entity related to a few
  names every tenant shares, and to names of its own; a message per fact, every other one
  titled "Alice"), written through the store's write path.
* A workload: what a search and a write call on the store for one tenant. It runs against
  the real server with every statement recorded (query text and parameters) as the driver is
  asked to run it, and every write transaction rolled back, so it can be repeated.
* Plans: each recorded statement run again with ``PROFILE`` in a transaction that is rolled
  back (so a write's plan, rows and db hits are real and nothing is kept).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from neo4j import Driver, GraphDatabase, ManagedTransaction
from neo4j._sync.work.session import Session
from neo4j._sync.work.transaction import TransactionBase

from graphmem import Config
from graphmem.models import Entity, GraphBatch, Relation, Scope, Source, norm_name, stable_id
from graphmem.stores import cypher
from graphmem.stores.neo4j_store import Neo4jGraphStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)
#: names every tenant has (a name lookup by name alone reads every tenant's)
SHARED = ("Alice", "Bob", "Carol", "Dave", "Acme", "Globex", "Berlin", "Paris", "Tokyo", "Lisbon")
RELATIONS = ("KNOWS", "WORKS_AT", "LIVES_IN", "LIKES")
SPEAKER = "Alice"

#: plan operators that read every tenant's nodes or relationships of a label or type (or a
#: whole index) instead of seeking: none may appear in a plan of the store's statements
SCAN = re.compile(r"AllNodesScan|ByLabels?Scan|Index\w*Scan|RelationshipTypeScan|AllRelationships")


# -- tenants -------------------------------------------------------------------------------
def entity_id(scope: Scope, name: str) -> str:
    return stable_id(scope.key, norm_name(name))


def fact_id(scope: Scope, i: int) -> str:
    return stable_id(scope.key, "fact", str(i))


def source_id(scope: Scope, i: int) -> str:
    return stable_id(scope.key, "source", str(i))


def name_of(i: int) -> str:
    """The other end of fact ``i``: a shared name, or (one fact in four) a name of its own."""
    return SHARED[i % len(SHARED)] if i % 4 else f"Thing {i}"


def batch(scope: Scope, facts: range, type_: str = "Person") -> GraphBatch:
    """Facts ``facts`` of the tenant ``scope``: ``USER -[REL]-> name``, each fact mentioning
    both ends and derived from a message of its own."""
    user = Entity(entity_id(scope, "USER"), "USER", "Person", scope, (), T0)
    entities = {user.id: user}
    relations, mentions, sources, derived, texts = [], [], [], [], []
    for i in facts:
        name, rel, fid, sid = name_of(i), RELATIONS[i % 4], fact_id(scope, i), source_id(scope, i)
        other = Entity(entity_id(scope, name), name, type_, scope, (), T0)
        entities[other.id] = other
        at = T0 + timedelta(minutes=i)
        relations.append(Relation(stable_id(fid, rel), user.id, rel, other.id, fid, scope, at))
        mentions += [(fid, user.id), (fid, other.id)]
        text = f"I {rel.lower().replace('_', ' ')} {name} (note {i})"
        title = SPEAKER if i % 2 else None
        sources.append(Source(sid, scope, text, "user", title, at))
        derived.append((fid, sid))
        texts.append((fid, text))
    return GraphBatch(
        tuple(entities.values()),
        tuple(relations),
        tuple(mentions),
        tuple(sources),
        tuple(derived),
        tuple(texts),
    )


def write_tenant(store: Neo4jGraphStore, scope: Scope, facts: int, start: int = 0) -> None:
    """Facts ``start .. start + facts`` of the tenant, 500 a write."""
    for first in range(start, start + facts, 500):
        store.write(batch(scope, range(first, min(start + facts, first + 500))))


# -- recording what the store runs ---------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    """One statement the store ran: its text, parameters and transaction (statements of one
    transaction share ``tx``; an auto-commit one has its own)."""

    query: str
    params: dict[str, Any]
    tx: int
    name: str = ""


@contextmanager
def recording(store: Neo4jGraphStore) -> Iterator[list[Statement]]:
    """Every statement the driver is asked to run inside the block, with its parameters; the
    store's write transactions are rolled back instead of committed."""
    ran: list[Statement] = []
    with pytest.MonkeyPatch.context() as mp:
        for cls in (Session, TransactionBase):
            mp.setattr(cls, "run", _recorder(cls.run, ran, cls is Session))
        mp.setattr(store, "_write", _rolled_back(store))
        yield ran


def _recorder(run: Callable[..., Any], ran: list[Statement], alone: bool) -> Callable[..., Any]:
    def recorded(self: Any, query: str, parameters: dict[str, Any] | None = None, **kw: Any) -> Any:
        tx = -len(ran) if alone else id(self)
        ran.append(Statement(query, {**(parameters or {}), **kw}, tx))
        return run(self, query, parameters, **kw)

    return recorded


def _rolled_back(store: Neo4jGraphStore) -> Callable[..., Any]:
    def write(op: str, work: Callable[[ManagedTransaction], Any]) -> Any:
        with store._drv().session(database=store.database) as session:
            tx = session.begin_transaction()
            try:
                return work(tx)  # type: ignore[arg-type]  # a Transaction runs like one
            finally:
                tx.rollback()

    return write


def statement_names() -> dict[str, re.Pattern[str]]:
    """Every ``cypher/store/<name>.cypher`` as a pattern of the text the store runs."""
    out = {}
    for path in sorted((cypher.cypher_dir() / "store").glob("*.cypher")):
        text = cypher.load(f"store/{path.stem}")
        out[path.stem] = re.compile(re.escape(text))
    return out


def named(ran: list[Statement]) -> list[Statement]:
    """Each recorded statement with the name of its file in ``cypher/store``."""
    names = statement_names()
    out = []
    for s in ran:
        found = [n for n, pattern in names.items() if pattern.fullmatch(s.query.strip())]
        assert len(found) == 1, f"not one statement of cypher/store: {s.query[:200]!r}"
        out.append(replace(s, name=found[0]))
    return out


# -- plans ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    name: str
    operators: list[tuple[str, str]]  # (operator, details)
    db_hits: int
    ms: float

    def scans(self) -> list[str]:
        return [f"{op}: {details}" for op, details in self.operators if SCAN.search(op)]


def store_args() -> dict[str, str]:
    c = Config.load()
    secret = c.neo4j_password.get_secret_value()
    return {
        "uri": c.neo4j_uri,
        "user": c.neo4j_user,
        "password": secret,
        "database": c.neo4j_database,
    }


def driver() -> Driver:
    a = store_args()
    auth = (a["user"], a["password"])
    return GraphDatabase.driver(a["uri"], auth=auth, notifications_min_severity="OFF")


def profile(drv: Driver, statements: list[Statement], replan: str = "force") -> list[Plan]:
    """Each statement's plan under ``PROFILE``, the statements of one recorded transaction
    again in one transaction, which is rolled back: writes show their real plans, rows and db
    hits, and nothing is kept. ``replan="force"`` plans each afresh from the statistics as
    they are now (and caches it); ``"skip"`` runs the plan cached before, to compare like with
    like."""
    plans: list[Plan] = []
    for tx_key in dict.fromkeys(s.tx for s in statements):
        with drv.session(database=Config.load().neo4j_database) as session:
            tx = session.begin_transaction()
            try:
                plans += [_profile(tx, s, replan) for s in statements if s.tx == tx_key]
            finally:
                tx.rollback()
    return plans


def _profile(tx: Any, s: Statement, replan: str) -> Plan:
    result = tx.run(f"CYPHER replan={replan} PROFILE {s.query}", s.params)
    list(result)
    summary = result.consume()
    operators: list[tuple[str, str]] = []
    hits = _walk(summary.profile, operators)
    ms = (summary.result_available_after or 0) + (summary.result_consumed_after or 0)
    return Plan(s.name, operators, hits, float(ms))


def _walk(node: dict[str, Any], out: list[tuple[str, str]]) -> int:
    out.append((node["operatorType"].split("@")[0], str(node.get("args", {}).get("Details", ""))))
    return int(node.get("dbHits", 0)) + sum(_walk(c, out) for c in node.get("children", []))


# -- the workload --------------------------------------------------------------------------
Call = tuple[str, Callable[[Neo4jGraphStore], object]]


def search_calls(scope: Scope, facts: int) -> list[Call]:
    """The store calls of a search for the tenant ``scope`` (written with :func:`write_tenant`,
    ``facts`` facts), with the arguments they would have: link the query's names (names the
    tenant knows and one it does not), walk the graph, read provenance, the keyword signal."""
    fids = [fact_id(scope, i) for i in range(min(facts, 6))]
    sids = [source_id(scope, i) for i in range(min(facts, 6))]
    names = [norm_name(n) for n in ("USER", SPEAKER, "Bob", "Thing 0", "Nobody")]
    user, alice = entity_id(scope, "USER"), entity_id(scope, SPEAKER)
    past = T0 + timedelta(minutes=3)
    return [
        ("find_entities", lambda s: s.find_entities(scope, names)),
        ("title_counts", lambda s: s.title_counts(scope, names, 21)),
        ("sources_about", lambda s: s.sources_about(scope, names, 20)),
        ("neighbourhood", lambda s: s.neighbourhood(scope, [alice, user], 2, 200, 20)),
        ("neighbourhood_at", lambda s: s.neighbourhood(scope, [alice], 1, 50, at=past)),
        ("mentions", lambda s: s.mentions(scope, fids)),
        ("fact_sources", lambda s: s.fact_sources(fids)),
        ("source_facts", lambda s: s.source_facts(sids)),
        ("sources", lambda s: s.sources(scope, sids)),
        ("keyword_facts", lambda s: s.keyword_index().search("facts", scope, "alice knows", 10)),
        ("keyword_sources", lambda s: s.keyword_index().search("sources", scope, "alice", 10)),
    ]


def write_calls(scope: Scope, facts: int) -> list[Call]:
    """The store calls of a write for the tenant: reconcile and resolve read, then one locked
    write (invalidating a fact and re-typing an entity), the deletes, and inspection."""
    fids = [fact_id(scope, i) for i in range(min(facts, 6))]
    sids = [source_id(scope, i) for i in range(min(facts, 6))]
    user = entity_id(scope, "USER")
    new = batch(scope, range(facts, facts + 2), "Robot")

    def locked_write(s: Neo4jGraphStore) -> None:
        with s.lock(scope):
            s.write(new, invalidate_facts=fids[:1])

    return [
        ("relations_by_entity", lambda s: s.relations(scope, entity_ids=[user])),
        ("relations_by_fact", lambda s: s.relations(scope, fact_ids=fids)),
        ("relations", lambda s: s.relations(scope)),
        ("entities", lambda s: s.entities(scope)),
        ("write", locked_write),
        ("delete_facts", lambda s: s.delete_facts(fids[1:2])),
        ("delete_sources", lambda s: s.delete_sources(sids[1:2])),
        ("delete_scope", lambda s: s.delete_scope(scope)),
        ("describe", lambda s: s.describe(scope)),
        ("fact_nodes", lambda s: s.fact_nodes(fids)),
    ]


def workload(store: Neo4jGraphStore, scope: Scope, facts: int) -> None:
    """Every call of :func:`search_calls` and :func:`write_calls`. Run it inside
    :func:`recording`: its writes are rolled back."""
    for _, call in [*search_calls(scope, facts), *write_calls(scope, facts)]:
        call(store)


def record(
    store: Neo4jGraphStore, scope: Scope, facts: int, calls: Callable[..., list[Call]] | None = None
) -> list[Statement]:
    """The named statements of :func:`workload` (or of ``calls(scope, facts)`` only)."""
    with recording(store) as ran:
        if calls is None:
            workload(store, scope, facts)
        else:
            for _, call in calls(scope, facts):
                call(store)
    return named(ran)
