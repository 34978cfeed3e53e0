"""The embedded graph store with many scopes: opening loads none, at most ``cache_scopes`` stay
in memory, a query across many scopes (an agent over many users) stays exact, and a file
written before the scope indexes (or entity attributes) existed is upgraded in place."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from graphmem.models import Entity, GraphBatch, Relation, Scope, Source, norm_name, stable_id
from graphmem.stores.networkx_store import NetworkXGraphStore
from graphmem.stores.sqlite_rows import SCHEMA, SCHEMA_VERSION

#: the embedded store's schema before the scopes table and the scope indexes (a copy)
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities(id TEXT PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL,
  type TEXT NOT NULL, aliases TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS relations(id TEXT PRIMARY KEY, scope TEXT NOT NULL,
  source_id TEXT NOT NULL, relation TEXT NOT NULL, target_id TEXT NOT NULL, fact_id TEXT NOT NULL,
  valid_from REAL, invalid_at REAL, created_at REAL NOT NULL, weight REAL NOT NULL);
CREATE INDEX IF NOT EXISTS relations_fact ON relations(fact_id);
CREATE TABLE IF NOT EXISTS mentions(fact_id TEXT NOT NULL, entity_id TEXT NOT NULL,
  scope TEXT NOT NULL, PRIMARY KEY(fact_id, entity_id));
CREATE TABLE IF NOT EXISTS sources(id TEXT PRIMARY KEY, scope TEXT NOT NULL, content TEXT NOT NULL,
  role TEXT NOT NULL, title TEXT, created_at REAL NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS derived(fact_id TEXT NOT NULL, source_id TEXT NOT NULL,
  PRIMARY KEY(fact_id, source_id));
"""
OLD_TABLES = ("entities", "relations", "mentions", "sources", "derived")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def fact(scope: Scope, i: int) -> str:
    return stable_id(scope.key, "fact", str(i))


def batch(scope: Scope, n: int = 3) -> GraphBatch:
    """A small scope: the user, ``n`` named things in a chain, a titled source."""
    tag = "-".join(v for v in scope.as_dict().values() if v)
    ents = [Entity(stable_id(scope.key, "user"), "user", "Person", scope, (), T0)]
    ents += [
        Entity(stable_id(scope.key, str(i)), f"Thing {tag} {i}", "Thing", scope, (f"T{i}",), T0)
        for i in range(n)
    ]
    rels = [
        Relation(
            stable_id(scope.key, "rel", str(i)),
            ents[i].id,
            "KNOWS",
            ents[i + 1].id,
            fact(scope, i),
            scope,
            None,
            None,
            T0,
        )
        for i in range(n)
    ]
    mentions = [(fact(scope, i), e.id) for i in range(n) for e in (ents[i], ents[i + 1])]
    src = Source(stable_id(scope.key, "src"), scope, f"notes of {tag}", "user", f"Notes {tag}", T0)
    return GraphBatch(
        entities=tuple(ents),
        relations=tuple(rels),
        mentions=tuple(mentions),
        sources=(src,),
        derived=((fact(scope, 0), src.id),),
    )


def copy_rows(new: Path, old: Path, schema: str, tables: tuple[str, ...], version: int = 0) -> None:
    """A file ``old`` of an older ``schema`` (marked ``version``) holding the rows of the file
    ``new`` in ``tables``, each in the columns the old table has."""
    db = sqlite3.connect(old)
    db.executescript(schema)
    db.execute(f"PRAGMA user_version={int(version)}")
    db.execute("ATTACH DATABASE ? AS new", (str(new),))
    for table in tables:
        columns = ", ".join(row[1] for row in db.execute(f"PRAGMA main.table_info({table})"))
        db.execute(f"INSERT INTO main.{table} SELECT {columns} FROM new.{table}")
    db.commit()
    db.close()


def open_store(path: Path, cache_scopes: int = 2000) -> NetworkXGraphStore:
    store = NetworkXGraphStore(path, cache_scopes)
    store.setup()
    return store


def snapshot(store: NetworkXGraphStore, scope: Scope, b: GraphBatch) -> dict[str, Any]:
    """Everything the store answers about ``scope`` for the ids in ``b``, order-free."""
    seeds = [e.id for e in b.entities]
    facts = sorted({r.fact_id for r in b.relations})
    sub = store.neighbourhood(scope, seeds, hops=2)
    return {
        "entities": sorted(store.entities(scope), key=lambda e: e.id),
        "found": sorted(e.id for e in store.find_entities(scope, ["user", "t0"])),
        "relations": sorted(store.relations(scope, include_invalid=True), key=lambda r: r.id),
        "by_fact": sorted(r.id for r in store.relations(scope, fact_ids=facts)),
        "by_entity": sorted(r.id for r in store.relations(scope, entity_ids=seeds)),
        "hood": (sorted(sub.entities), sorted(r.id for r in sub.relations)),
        "hood_mentions": (sorted(sub.mentions), sorted(sub.degree.items())),
        "mentions": sorted(store.mentions(scope, facts)),
        "titles": store.title_counts(scope, [norm_name(s.title or "") for s in b.sources], 10),
        "sources": sorted(s.id for s in store.sources(scope, [s.id for s in b.sources])),
    }


def expected(scope: Scope, batches: list[GraphBatch]) -> dict[str, Any]:
    """What ``snapshot`` must read for the batches of the scopes ``scope`` matches."""
    mine = [b for b in batches if scope.contains(b.entities[0].scope)]
    ents = [e for b in mine for e in b.entities]
    rels = [r for b in mine for r in b.relations]
    return {
        "entities": sorted(ents, key=lambda e: e.id),
        "relations": sorted(rels, key=lambda r: r.id),
        "mentions": sorted(m for b in mine for m in b.mentions),
        "found": sorted(e.id for e in ents if e.name == "user" or "T0" in e.aliases),
    }


def test_opening_many_scopes_loads_none_and_a_user_query_loads_its_scopes(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    store = open_store(path)
    scopes = [Scope(user_id=f"u{i}") for i in range(500)]
    scopes += [Scope(user_id=f"u{i}", agent_id="helper") for i in range(0, 500, 50)]
    for s in scopes:
        store.write(batch(s))
    store.close()

    store = open_store(path)
    assert store.loaded_scopes() == []
    alice = Scope(user_id="u50")
    b = batch(alice)
    assert store.find_entities(alice, ["t0"]) and store.loaded_scopes() == []  # names: SQL
    theirs = [batch(s) for s in scopes if alice.contains(s)]
    seeds = [e.id for x in theirs for e in x.entities]
    sub = store.neighbourhood(alice, seeds)
    assert store.mentions(alice, [fact(s, 0) for s in scopes if alice.contains(s)])
    assert sorted(store.loaded_scopes()) == sorted(s.key for s in scopes if alice.contains(s))
    assert len(store.loaded_scopes()) == 2
    assert sorted(r.id for r in sub.relations) == sorted(r.id for x in theirs for r in x.relations)
    assert snapshot(store, alice, b)["entities"] == expected(alice, theirs)["entities"]
    store.close()


def test_the_lru_bound_holds_and_an_evicted_scope_reads_the_same(tmp_path: Path) -> None:
    store = open_store(tmp_path / "g.sqlite", cache_scopes=10)
    scopes = [Scope(user_id=f"u{i}", run_id="r1") for i in range(50)]
    batches = [batch(s) for s in scopes]
    for b in batches:
        store.write(b)
    before = [snapshot(store, s, b) for s, b in zip(scopes, batches)]  # loads and evicts
    assert len(store.loaded_scopes()) <= 10
    assert scopes[0].key not in store.loaded_scopes()
    for s, b, was in zip(scopes, batches, before):  # every one evicted and loaded again
        assert snapshot(store, s, b) == was
        assert len(store.loaded_scopes()) <= 10
        want = expected(s, batches)
        assert was["entities"] == want["entities"]
        assert was["relations"] == want["relations"]
        assert was["mentions"] == want["mentions"]
        assert was["found"] == want["found"]

    # writes to a scope that is loaded and to one that is not reach both
    loaded, evicted = scopes[-1], scopes[0]
    assert loaded.key in store.loaded_scopes() and evicted.key not in store.loaded_scopes()
    store.write(GraphBatch(), invalidate_facts=[fact(evicted, 0), fact(loaded, 0)], at=T0)
    store.delete_facts([fact(evicted, 1), fact(loaded, 1)])
    for s in (loaded, evicted):
        current = store.relations(s)
        assert sorted(r.fact_id for r in current) == [fact(s, 2)]
        hood = store.neighbourhood(s, [e.id for e in batches[scopes.index(s)].entities])
        assert sorted(r.fact_id for r in hood.relations) == [fact(s, 2)]
        assert not store.mentions(s, [fact(s, 1)])
    store.close()


def test_an_agent_query_across_more_users_than_the_cache_is_exact(tmp_path: Path) -> None:
    store = open_store(tmp_path / "g.sqlite", cache_scopes=5)
    helper = [Scope(user_id=f"u{i}", agent_id="helper") for i in range(30)]
    others = [Scope(user_id=f"u{i}", agent_id="other") for i in range(10)]
    others += [Scope(agent_id="helper-2"), Scope(user_id="helper")]
    batches = [batch(s) for s in [*helper, *others]]
    for b in batches:
        store.write(b)
    query = Scope(agent_id="helper")
    want = expected(query, batches)
    assert len(want["entities"]) == 30 * 4

    assert sorted(store.entities(query), key=lambda e: e.id) == want["entities"]
    assert sorted(store.relations(query), key=lambda r: r.id) == want["relations"]
    found = store.find_entities(query, ["user", "t0"])
    assert sorted(e.id for e in found) == want["found"]
    facts = sorted({r.fact_id for r in want["relations"]})
    assert sorted(store.mentions(query, facts)) == want["mentions"]
    assert sorted(r.id for r in store.relations(query, fact_ids=facts)) == [
        r.id for r in want["relations"]
    ]
    seeds = [e.id for e in want["entities"]]
    sub = store.neighbourhood(query, seeds, hops=1, limit=10_000)
    assert sorted(sub.entities) == sorted(seeds)
    assert sorted(r.id for r in sub.relations) == [r.id for r in want["relations"]]
    assert sorted(sub.mentions) == want["mentions"]
    titles = [norm_name(f"Notes u{i}-helper") for i in (0, 7, 29)] + ["notes u0-other"]
    assert store.title_counts(query, titles, 10) == {t: 1 for t in titles[:3]}
    assert len(store.loaded_scopes()) <= 5
    # another user's scope, or another agent's, is never in the answer
    assert not {e.id for e in store.entities(Scope(agent_id="other"))} & set(seeds)
    store.delete_scope(query)
    assert store.entities(query) == [] and store.relations(query, include_invalid=True) == []
    assert len(store.entities(Scope(agent_id="other"))) == 10 * 4
    assert store.find_entities(Scope(user_id="helper"), ["user"])
    store.close()


def test_a_walk_without_user_reads_in_place_what_each_loaded_scope_gives(tmp_path: Path) -> None:
    """An agent's walk starts in many users' scopes: it reads their rows by entity id and
    loads none of them (nor pushes a user's scope out of the cache), and finds what a walk in
    each scope's loaded graph finds, superseded relations left out."""
    store = open_store(tmp_path / "g.sqlite")
    users = [Scope(user_id=f"u{i}", agent_id="helper") for i in range(12)]
    batches = [batch(s, 4) for s in users]
    for b in batches:
        store.write(b)
    store.write(batch(Scope(user_id="u0", agent_id="other"), 4))
    store.write(GraphBatch(), invalidate_facts=[fact(users[3], 1)], at=T0)
    starts = [b.entities[2].id for b in batches]
    sub = store.neighbourhood(Scope(agent_id="helper"), starts, hops=2, limit=10_000)
    assert store.loaded_scopes() == []
    parts = [store.neighbourhood(u, [b.entities[2].id], hops=2) for u, b in zip(users, batches)]
    assert len(store.loaded_scopes()) == len(users)
    assert sub.entities == {e: s.entities[e] for s in parts for e in s.entities}
    assert sorted(r.id for r in sub.relations) == sorted(r.id for s in parts for r in s.relations)
    assert sorted(sub.mentions) == sorted(m for s in parts for m in s.mentions)
    assert sub.degree == {e: d for s in parts for e, d in s.degree.items()}
    # the superseded relation of user 3 cuts the walk off from one more beyond it
    assert len(sub.relations) == 12 * 4 - 2
    assert fact(users[3], 1) not in {r.fact_id for r in sub.relations}
    capped = store.neighbourhood(Scope(agent_id="helper"), starts, hops=2, limit=5)
    assert [r.id for r in capped.relations] == [r.id for r in sub.relations][:5]
    before = T0 - timedelta(seconds=1)  # at a point in time: what held then
    then = store.neighbourhood(Scope(agent_id="helper"), starts, hops=2, at=before)
    assert then.relations == []
    then = store.neighbourhood(Scope(agent_id="helper"), starts, hops=2, at=T0 + timedelta(1))
    assert sorted(r.id for r in then.relations) == sorted(r.id for r in sub.relations)
    store.close()


def test_refresh_lets_go_of_the_loaded_scopes_and_reads_the_other_writer(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    writer, reader = open_store(path), open_store(path)
    alice = Scope(user_id="alice")
    writer.write(batch(alice, 2))
    reader.refresh()
    assert len(reader.relations(alice, entity_ids=[e.id for e in batch(alice, 2).entities])) == 2
    assert reader.loaded_scopes() == [alice.key]
    writer.write(batch(alice, 4))
    reader.refresh()
    assert reader.loaded_scopes() == []
    b = batch(alice, 4)
    assert len(reader.relations(alice, entity_ids=[e.id for e in b.entities])) == 4
    writer.close()
    reader.close()


def test_a_file_written_before_the_scope_indexes_opens_indexed_and_reads_the_same(
    tmp_path: Path,
) -> None:
    scopes = [Scope(user_id="alice"), Scope(user_id="alice", agent_id="a1", run_id="r1")]
    scopes += [Scope(agent_id="a1"), Scope(run_id="r2"), Scope(user_id="bob", run_id="r1")]
    batches = [batch(s) for s in scopes]
    new = open_store(tmp_path / "new.sqlite")
    for b in batches:
        new.write(b)
    new.write(GraphBatch(), invalidate_facts=[fact(scopes[0], 1)], at=T0)
    queries = [*scopes, Scope(agent_id="a1"), Scope(run_id="r1"), Scope(user_id="alice")]
    want = [snapshot(new, q, b) for q in queries for b in batches]
    new.close()

    old = tmp_path / "old.sqlite"  # the same rows in a file of the old schema
    copy_rows(tmp_path / "new.sqlite", old, OLD_SCHEMA, OLD_TABLES)

    for _ in range(2):  # upgraded on the first open; the second finds it done
        store = open_store(old)
        assert [snapshot(store, q, b) for q in queries for b in batches] == want
        store.close()
    db = sqlite3.connect(old)
    indexes = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT key FROM scopes WHERE agent_id=?", ("a1",)
    ).fetchall()
    stored = sorted(db.execute("SELECT key, user_id, agent_id, run_id FROM scopes").fetchall())
    keyed = {
        n
        for n, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type='table'")
        if "WITHOUT ROWID" in sql
    }
    db.close()
    # the small tables are rebuilt without rowids (and keep every index)
    assert {"entities", "relations", "mentions", "derived"} <= keyed
    assert "sources" not in keyed
    assert {"relations_fact", "relations_source", "relations_target", "derived_source"} <= indexes
    assert "mentions_entity" in indexes
    assert {"entities_scope", "relations_scope", "sources_scope"} <= indexes
    assert "mentions_scope" not in indexes  # a mention's scope is its entity's
    assert {"scopes_user", "scopes_agent", "scopes_run"} <= indexes
    assert "scopes_agent" in str(plan)
    assert stored == sorted((s.key, s.user_id, s.agent_id, s.run_id) for s in scopes)


#: the entities table of schema version 2, before attributes (a copy)
V2_ENTITIES = """
CREATE TABLE entities(id TEXT PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL,
  type TEXT NOT NULL, aliases TEXT NOT NULL, created_at REAL NOT NULL) WITHOUT ROWID;
"""
V2_TABLES = ("entities", "relations", "mentions", "sources", "derived", "scopes", "names", "titles")


def test_a_file_written_before_attributes_keeps_everything_and_takes_them(
    tmp_path: Path,
) -> None:
    scopes = [Scope(user_id="alice"), Scope(agent_id="a1", run_id="r1")]
    batches = [batch(s) for s in scopes]
    new = open_store(tmp_path / "new.sqlite")
    for b in batches:
        new.write(b)
    new.write(GraphBatch(), invalidate_facts=[fact(scopes[0], 1)], at=T0)
    want = [snapshot(new, q, b) for q in scopes for b in batches]
    new.close()
    old = tmp_path / "v2.sqlite"  # the same rows in a file of version 2
    copy_rows(tmp_path / "new.sqlite", old, V2_ENTITIES + SCHEMA, V2_TABLES, version=2)

    for _ in range(2):  # upgraded on the first open; the second finds it done
        store = open_store(old)
        assert [snapshot(store, q, b) for q in scopes for b in batches] == want
        store.close()
    store = open_store(old)
    bob = replace(batches[0].entities[1], attributes={"age": 41, "tags": ["x"]})
    store.write(GraphBatch(entities=(bob,)))
    store.close()
    store = open_store(old)
    found = {e.id: e.attributes for e in store.entities(scopes[0])}
    assert found[bob.id] == {"age": 41, "tags": ["x"]}
    assert sum(a == {} for a in found.values()) == len(found) - 1
    store.close()
    db = sqlite3.connect(old)
    (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name='entities'").fetchone()
    (version,) = db.execute("PRAGMA user_version").fetchone()
    db.close()
    assert "WITHOUT ROWID" in sql and "attributes" in sql
    assert version == SCHEMA_VERSION == 3


def test_a_scoped_query_looks_scopes_up_by_its_most_selective_id(tmp_path: Path) -> None:
    """A user served by an agent is found through the user's index, not the agent's (which
    would visit every scope of the agent: a lookup that grows with its users); an agent's run
    through the run's."""
    store = open_store(tmp_path / "g.sqlite")
    scopes = [Scope(user_id=f"u{i}", agent_id="helper") for i in range(40)]
    scopes += [Scope(agent_id="helper", run_id=f"r{i}") for i in range(40)]
    for s in scopes:
        store.write(batch(s))
    db = store._conn()
    seen: list[str] = []
    db.set_trace_callback(seen.append)
    for s in (scopes[7], scopes[47]):
        assert snapshot(store, s, batch(s)) == snapshot(store, s, batch(s))
        assert store.matching(s) == [s.key]
    db.set_trace_callback(None)
    plans = {
        sql: " ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
        for sql in seen
        if " scopes s" in sql
    }
    assert len(plans) >= 8
    for sql, plan in plans.items():
        index = "scopes_user" if "'u7'" in sql else "scopes_run"
        assert index in plan and "scopes_agent" not in plan, (sql, plan)
    store.close()
