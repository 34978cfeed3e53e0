"""Neo4j-specific behaviour: errors, atomicity, the Browser-readable model, parity with the
embedded store, and Memory end to end. Needs the server of ``scripts/neo4j.sh``."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sites import free_port

from graphmem import Config, Memory
from graphmem.errors import BackendError, ConfigError, InvalidInputError
from graphmem.models import Entity, GraphBatch, Relation, Scope, Source, stable_id
from graphmem.stores import cypher, neo4j_batch
from graphmem.stores.neo4j_store import Neo4jGraphStore
from graphmem.stores.networkx_store import NetworkXGraphStore

pytestmark = pytest.mark.neo4j

ALICE = Scope(user_id="alice")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make(**kw: Any) -> Neo4jGraphStore:
    c = Config.load()
    args = {
        "uri": c.neo4j_uri,
        "user": c.neo4j_user,
        "password": c.neo4j_password.get_secret_value(),
        "database": c.neo4j_database,
        **kw,
    }
    return Neo4jGraphStore(**args)


@pytest.fixture()
def store() -> Iterator[Neo4jGraphStore]:
    s = make()
    s.setup()
    s.reset()
    yield s
    s.reset()
    s.close()


def ent(scope: Scope, name: str, type_: str = "Person", aliases: tuple[str, ...] = ()) -> Entity:
    return Entity(stable_id(scope.key, name.lower()), name, type_, scope, aliases, T0)


def rel(a: Entity, r: str, b: Entity, fact: str, **kw: Any) -> Relation:
    return Relation(
        stable_id(fact, a.id, r, b.id), a.id, r, b.id, fact, a.scope, created_at=T0, **kw
    )


def seed(store: Neo4jGraphStore | NetworkXGraphStore, scope: Scope = ALICE) -> dict[str, Entity]:
    e = {n: ent(scope, n) for n in ("Alice", "Bob", "Berlin")}
    e["Acme"] = ent(scope, "Acme", "Organization", ("Acme Corp",))
    store.write(
        GraphBatch(
            entities=tuple(e.values()),
            relations=(
                rel(e["Bob"], "WORKS_AT", e["Acme"], "f1"),
                rel(e["Acme"], "BASED_IN", e["Berlin"], "f2"),
                rel(e["Alice"], "HAS_MANAGER", e["Bob"], "f3"),
            ),
            mentions=(
                ("f1", e["Bob"].id),
                ("f1", e["Acme"].id),
                ("f2", e["Acme"].id),
                ("f2", e["Berlin"].id),
                ("f3", e["Alice"].id),
                ("f3", e["Bob"].id),
            ),
            sources=(Source("s1", scope, "Bob works at Acme. Acme is in Berlin.", created_at=T0),),
            derived=(("f1", "s1"), ("f2", "s1")),
        )
    )
    return e


def empty(store: Neo4jGraphStore, scope: Scope = ALICE) -> bool:
    return store.describe(scope) == {"labels": {}, "relationships": {}}


def test_cypher_files_load_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "MERGE (e:Entity {id: row.id})" in cypher.load("store/write_entities")
    assert all("IF NOT EXISTS" in s for s in cypher.statements("schema"))
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "write_entities.cypher").write_text("RETURN 1\n")
    monkeypatch.setenv("GRAPHMEM_CYPHER_DIR", str(tmp_path))  # read per call, not at import
    assert cypher.load("store/write_entities") == "RETURN 1"
    monkeypatch.delenv("GRAPHMEM_CYPHER_DIR")
    assert cypher.load("store/write_entities") != "RETURN 1"
    for bad in ("../secrets", "store/x.cypher", ""):
        with pytest.raises(ConfigError):
            cypher.load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        cypher.load("store/no_such_query")


# -- errors ----------------------------------------------------------------------------------
def test_wrong_password_is_a_backend_error() -> None:
    bad = make(password="not-the-password")  # one failed login only: Neo4j rate-limits them
    with pytest.raises(BackendError, match=r"authentication failed for user '\w+' at bolt://"):
        bad.setup()
    bad.close()


def test_unreachable_server_fails_fast() -> None:
    uri = f"bolt://127.0.0.1:{free_port()}"
    s = Neo4jGraphStore(uri, "neo4j", "x", connection_timeout=1.0, max_retry_time=1.0)  # no I/O
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"no server reachable at bolt://127\.0\.0\.1"):
        s.entities(ALICE)
    assert time.monotonic() - started < 5


def test_bad_labels_are_rejected_before_any_io() -> None:
    offline = Neo4jGraphStore(f"bolt://127.0.0.1:{free_port()}", "neo4j", "x")
    evil = ent(ALICE, "Eve", "Person`) DETACH DELETE (n")
    with pytest.raises(InvalidInputError, match="label"):
        offline.write(GraphBatch(entities=(evil,)))
    a, b = ent(ALICE, "A"), ent(ALICE, "B")
    with pytest.raises(InvalidInputError, match="relationship type"):
        offline.write(
            GraphBatch(entities=(a, b), relations=(rel(a, "KNOWS]->() DELETE x //", b, "f"),))
        )


def test_bad_label_writes_nothing(store: Neo4jGraphStore) -> None:
    good, evil = ent(ALICE, "Ann"), ent(ALICE, "Eve", "Bad Label")
    with pytest.raises(InvalidInputError):
        store.write(GraphBatch(entities=(good, evil)))
    assert empty(store)


def test_failed_write_rolls_back_everything(
    store: Neo4jGraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = seed(store)
    before = store.describe(ALICE)
    # Let a property the server refuses (a map) through: the relations statement fails after
    # the invalidation, the entities and their labels were already sent in the transaction.
    row = neo4j_batch._relation_row

    def broken(r: Relation) -> dict[str, Any]:
        out = row(r)
        if r.relation == "LIKES":
            out["props"]["oops"] = {"a map": "is not a property value"}
        return out

    monkeypatch.setattr(neo4j_batch, "_relation_row", broken)
    carol = ent(ALICE, "Carol")
    batch = GraphBatch(
        entities=(carol,),
        relations=(rel(carol, "KNOWS", e["Bob"], "f9"), rel(carol, "LIKES", e["Bob"], "f9")),
        mentions=(("f9", carol.id),),
        sources=(Source("s9", ALICE, "Carol knows Bob."),),
        derived=(("f9", "s9"),),
    )
    with pytest.raises(BackendError, match="neo4j write failed"):
        store.write(batch, invalidate_facts=["f1"], at=T0)
    assert store.describe(ALICE) == before
    assert store.find_entities(ALICE, ["carol"]) == []
    assert all(r.invalid_at is None for r in store.relations(ALICE, include_invalid=True))


def test_unknown_entity_or_source_rolls_back(store: Neo4jGraphStore) -> None:
    a = ent(ALICE, "Ann")
    for batch in (
        GraphBatch(entities=(a,), mentions=(("f1", "no-such-entity"),)),
        GraphBatch(entities=(a,), mentions=(("f1", a.id),), derived=(("f1", "nope"),)),
        GraphBatch(entities=(a,), relations=(rel(a, "KNOWS", ent(ALICE, "Ghost"), "f1"),)),
    ):
        with pytest.raises(BackendError, match="does not exist; nothing was written"):
            store.write(batch)
        assert empty(store)


# -- round trips -------------------------------------------------------------------------------
def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of every statement the driver is asked to run from now on."""
    from neo4j._sync.work.session import Session
    from neo4j._sync.work.transaction import TransactionBase

    ran: list[str] = []
    for cls in (Session, TransactionBase):

        def run(self: Any, query: str, *args: Any, _run: Any = cls.run, **kw: Any) -> Any:
            ran.append(query)
            return _run(self, query, *args, **kw)

        monkeypatch.setattr(cls, "run", run)
    return ran


def test_a_write_is_as_many_statements_whatever_its_relation_types(
    store: Neo4jGraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relations of a batch are one statement, however many types they have (a batch of
    20 short personal facts has 23): a statement per type was a round trip and a plan each."""
    types = ["LIVES_IN", "WORKS_AT", "LIKES", "HAS_SISTER", "PLAYS", "OWNS", "STUDIED_AT"]

    def batch(scope: Scope, kinds: list[str]) -> GraphBatch:
        user = ent(scope, "User")
        others = [ent(scope, f"Thing {i}", "Thing") for i in range(len(types))]
        relations = tuple(
            rel(user, kinds[i % len(kinds)], o, f"f{i}") for i, o in enumerate(others)
        )
        return GraphBatch(entities=(user, *others), relations=relations)

    ran = counting(monkeypatch)
    store.write(batch(Scope(user_id="one-type"), types[:1]))
    one = len(ran)
    store.write(batch(Scope(user_id="many-types"), types))
    assert len(ran) - one == one
    many = store.relations(Scope(user_id="many-types"))
    assert sorted(r.relation for r in many) == sorted(types)
    assert {(r.source_id, r.target_id, r.fact_id) for r in many} == {
        (r.source_id, r.target_id, r.fact_id)
        for r in batch(Scope(user_id="many-types"), types).relations
    }


def test_asking_for_no_relations_asks_nothing(
    store: Neo4jGraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that invalidates nothing looks up the relations of no fact: no round trip."""
    seed(store)
    ran = counting(monkeypatch)
    assert store.relations(ALICE, fact_ids=[]) == []
    assert store.relations(ALICE, entity_ids=[]) == []
    assert ran == []
    assert len(store.relations(ALICE, fact_ids=["f1", "f2"])) == 2
    assert len(ran) == 1


# -- the model as seen in Neo4j Browser ------------------------------------------------------
def test_browser_readable_model(store: Neo4jGraphStore) -> None:
    seed(store)
    assert store.describe(ALICE) == {
        "labels": {"Entity": 4, "Person": 3, "Organization": 1, "Fact": 3, "Source": 1},
        # 6 fact mentions + the 3 entities that facts derived from s1 mention
        "relationships": {
            "WORKS_AT": 1,
            "BASED_IN": 1,
            "HAS_MANAGER": 1,
            "MENTIONS": 9,
            "DERIVED_FROM": 2,
        },
    }


def test_fact_nodes_carry_text_and_validity(store: Neo4jGraphStore) -> None:
    e = seed(store)
    later = T0 + timedelta(days=30)
    works = rel(e["Bob"], "WORKS_AT", e["Acme"], "f1", valid_from=T0 + timedelta(days=1))
    texts = (("f1", "Bob works at Acme."), ("f3", "Alice's manager is Bob."), ("fx", "no node"))
    store.write(GraphBatch(relations=(works,), facts=texts))
    assert store.fact_nodes(["f1", "f3", "fx"]) == {
        "f1": {"text": "Bob works at Acme.", "valid_from": works.valid_from, "invalid_at": None},
        "f3": {"text": "Alice's manager is Bob.", "valid_from": None, "invalid_at": None},
    }  # fx has no relation, mention or source: no (unscoped) node
    # f1 and f3 are invalidated, but f3 is re-written in the same batch: its node stays current
    rewrite = GraphBatch(facts=(("f3", "Bob manages Alice."),))
    store.write(rewrite, invalidate_facts=["f1", "f3"], at=later)
    nodes = store.fact_nodes(["f1", "f3"])
    assert nodes["f1"]["invalid_at"] == later and nodes["f1"]["text"] == "Bob works at Acme."
    assert nodes["f3"] == {"text": "Bob manages Alice.", "valid_from": None, "invalid_at": None}
    [old] = store.relations(ALICE, fact_ids=["f1"], include_invalid=True)
    assert old.invalid_at == later
    store.write(GraphBatch(), invalidate_facts=["f1"], at=later + timedelta(days=1))  # replay
    assert store.fact_nodes(["f1"])["f1"]["invalid_at"] == later
    store.delete_facts(["f1"])
    assert store.fact_nodes(["f1", "f3"]).keys() == {"f3"}
    # a fact that arrives superseded (an older message added later): its relations carry the end
    ended = rel(e["Alice"], "LIVES_IN", e["Berlin"], "f9", valid_from=T0, invalid_at=later)
    store.write(GraphBatch(relations=(ended,), facts=(("f9", "I live in Berlin."),)))
    assert store.fact_nodes(["f9"])["f9"]["invalid_at"] == later


def test_type_change_moves_the_label(store: Neo4jGraphStore) -> None:
    e = seed(store)
    store.write(GraphBatch(entities=(replace(e["Acme"], type="Company"),)))
    labels = store.describe(ALICE)["labels"]
    assert labels.get("Company") == 1 and "Organization" not in labels
    assert {x.type for x in store.find_entities(ALICE, ["acme corp"])} == {"Company"}
    store.write(GraphBatch(entities=(replace(e["Acme"], type="Fact"),)))  # graphmem's own label
    assert store.describe(ALICE)["labels"]["Fact"] == 3  # not a fourth Fact node
    assert [x.type for x in store.find_entities(ALICE, ["acme"])] == ["Fact"]


def test_datetimes_round_trip_exactly(store: Neo4jGraphStore) -> None:
    a, b = ent(ALICE, "Ann"), ent(ALICE, "Ben")
    a = replace(a, created_at=datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC))
    cest = timezone(timedelta(hours=2))
    r = rel(
        a,
        "KNOWS",
        b,
        "f1",
        valid_from=datetime(2020, 5, 6, 7, 8, 9, 123456, tzinfo=cest),
        weight=0.25,
    )
    src = Source(
        "s1",
        ALICE,
        "Ann knows Ben",
        created_at=datetime(2021, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        metadata={"k": [1, "x"]},
    )
    store.write(GraphBatch(entities=(a, b), relations=(r,), sources=(src,)))
    assert {x.id: x for x in store.entities(ALICE)}[a.id] == a
    [got] = store.relations(ALICE)
    assert got == r and got.valid_from is not None and got.valid_from.tzinfo == UTC
    assert store.sources(ALICE, ["s1"]) == [src]
    at = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    store.write(GraphBatch(), invalidate_facts=["f1"], at=at)
    assert store.relations(ALICE, include_invalid=True)[0].invalid_at == at


def test_partial_scopes_match_inside_cypher(store: Neo4jGraphStore) -> None:
    run1, run2 = Scope(user_id="u", run_id="r1"), Scope(user_id="u", run_id="r2")
    e1, e2 = seed(store, run1), seed(store, run2)
    assert len(store.entities(Scope(user_id="u"))) == 8
    assert {x.scope for x in store.entities(Scope(run_id="r1"))} == {run1}
    assert store.entities(Scope(user_id="u", agent_id="a")) == []
    assert len(store.relations(Scope(user_id="u"))) == 6
    sub = store.neighbourhood(Scope(user_id="u"), [e1["Alice"].id, e2["Alice"].id], hops=3)
    assert len(sub.relations) == 6 and len(sub.entities) == 8
    assert store.neighbourhood(Scope(run_id="r2"), [e1["Alice"].id]).entities == {}
    store.delete_scope(Scope(run_id="r1"))
    assert {x.scope for x in store.entities(Scope(user_id="u"))} == {run2}
    assert store.sources(run2, ["s1"])  # s1 was last written by run2 and survives


# -- parity with the embedded store ----------------------------------------------------------
def random_ops(rng: random.Random) -> list[tuple[GraphBatch, list[str], datetime]]:
    """A few batches over two scopes: entities with aliases, relations, re-writes, invalidations."""
    scopes = [Scope(user_id="p"), Scope(user_id="p", run_id="x"), Scope(agent_id="q")]
    ops = []
    for step in range(6):
        scope = rng.choice(scopes)
        ents = [
            ent(
                scope,
                f"E{i}",
                rng.choice(["Person", "Place", "Thing"]),
                tuple(f"alias {i} {j}" for j in range(rng.randint(0, 2))),
            )
            for i in range(6)
        ]
        rels, mentions = [], []
        for _ in range(rng.randint(3, 9)):
            a, b = rng.sample(ents, 2)
            fact = f"{scope.key}-f{rng.randint(0, 5)}"
            rels.append(
                rel(
                    a,
                    rng.choice(["KNOWS", "LIKES", "WORKS_AT"]),
                    b,
                    fact,
                    weight=rng.choice([0.5, 1.0, 2.0]),
                    valid_from=rng.choice([None, T0 + timedelta(days=rng.randint(0, 6))]),
                )
            )
            mentions += [(fact, a.id), (fact, b.id)]
        src = Source(f"src{step}", scope, f"text {step}", created_at=T0)
        derived = tuple((f, src.id) for f, _ in mentions[:3])
        written = sorted({r.fact_id for b, _, _ in ops for r in b.relations})
        invalid = rng.sample(written, min(2, len(written))) if step % 2 else []
        ops.append(
            (
                GraphBatch(tuple(ents), tuple(rels), tuple(mentions), (src,), derived),
                invalid,
                T0 + timedelta(days=step),
            )
        )
    return ops


def snapshot(s: Neo4jGraphStore | NetworkXGraphStore, seeds: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for q in (Scope(user_id="p"), Scope(run_id="x"), Scope(agent_id="q"), Scope(user_id="z")):
        ents = sorted(s.entities(q), key=lambda e: e.id)
        ids = [e.id for e in ents]
        facts = sorted({r.fact_id for r in s.relations(q, include_invalid=True)})
        out[q.key] = {
            "entities": ents,
            "find": sorted(e.id for e in s.find_entities(q, ["e1", "alias 2 1", "nothing"])),
            "current": sorted(s.relations(q), key=lambda r: r.id),
            "all": sorted(s.relations(q, include_invalid=True), key=lambda r: r.id),
            "by_fact": sorted(r.id for r in s.relations(q, fact_ids=facts[:3])),
            "by_entity": sorted(
                r.id for r in s.relations(q, entity_ids=ids[:2], include_invalid=True)
            ),
            "sources": sorted(x.id for x in s.sources(q, ["src0", "src1", "src2", "src3"])),
            "fact_sources": s.fact_sources(facts),
        }
        for hops in (0, 1, 2, 3):
            sub = s.neighbourhood(q, seeds, hops=hops)
            out[q.key][f"hop{hops}"] = (
                sorted(sub.entities),
                sorted(r.id for r in sub.relations),
                sorted(sub.mentions),
                sub.degree,
                sorted(s.neighbourhood(q, seeds, hops=hops, mention_cap=2).mentions),
            )
            for limit in (2, 5):  # the same relations under a budget, in the same order
                capped = [r.id for r in s.neighbourhood(q, seeds, hops=hops, limit=limit).relations]
                assert len(capped) <= limit
                out[q.key][f"hop{hops}-limit{limit}"] = capped
        for day in (-1, 0.5, 2.5, 4.5, 9):  # what held then (invalidations fall on days 1-5)
            sub = s.neighbourhood(q, seeds, hops=2, at=T0 + timedelta(days=day))
            out[q.key][f"at{day}"] = sorted(r.id for r in sub.relations)
    return out


@pytest.mark.parametrize("seed_", [1, 2, 3])
def test_same_answers_as_the_embedded_store(
    store: Neo4jGraphStore, tmp_path: Path, seed_: int
) -> None:
    nx_store = NetworkXGraphStore(tmp_path / "g.sqlite")
    nx_store.setup()
    rng = random.Random(seed_)
    ops = random_ops(rng)
    for batch, invalid, at in ops:
        for s in (store, nx_store):
            s.write(batch, invalid, at)
    seeds = [e.id for batch, _, _ in ops for e in batch.entities[:2]]
    first = snapshot(store, seeds)
    assert any(r.invalid_at for v in first.values() for r in v["all"])
    assert first == snapshot(nx_store, seeds)
    gone = sorted({r.fact_id for b, _, _ in ops for r in b.relations})[::3]
    for s in (store, nx_store):
        s.delete_facts(gone)
    assert snapshot(store, seeds) == snapshot(nx_store, seeds)
    for s in (store, nx_store):
        s.delete_scope(Scope(run_id="x"))
    assert snapshot(store, seeds) == snapshot(nx_store, seeds)
    nx_store.close()


# -- Memory end to end -----------------------------------------------------------------------
def test_memory_end_to_end(tmp_path: Path, embedder: Any, spacy_extractor: Any) -> None:
    c = Config.load()
    cfg = Config.load(
        {
            "data_dir": tmp_path / "gm",
            "graph_store": "neo4j",
            "extractor": "offline",
            "neo4j_uri": c.neo4j_uri,
        }
    )
    m = Memory(cfg, embedder=embedder, offline=spacy_extractor)
    m.reset()
    try:
        added = m.add("I live in Paris. I like jazz.", user_id="alice")
        assert {r["event"] for r in added["results"]} == {"ADD"}
        m.add("I live in Madrid and I like football.", user_id="bob")
        graph: Neo4jGraphStore = m.parts.graph
        assert isinstance(graph, Neo4jGraphStore)
        assert {"LIVES_IN", "LIKES"} <= set(graph.describe(Scope(user_id="alice"))["relationships"])

        hits = m.search("Which city does the user live in?", user_id="alice")["results"]
        assert hits and all(h["user_id"] == "alice" for h in hits)
        assert "Paris" in hits[0]["memory"]
        assert all("Madrid" not in h["memory"] for h in hits)
        assert hits[0]["sources"] and hits[0]["sources"][0]["content"].startswith("I live in Paris")
        bob = m.search("music", user_id="bob")["results"]
        assert all(h["user_id"] == "bob" for h in bob)

        m.add("I live in Hamburg.", user_id="carol", timestamp="2024-01-01")
        m.add("I moved to Berlin.", user_id="carol", timestamp="2024-06-01")
        then = m.search("Where do I live?", user_id="carol", as_of="2024-03-01")
        assert [h["memory"] for h in then["results"]] == ["I live in Hamburg."]
        assert [(r["target"], r["invalid_at"][:10]) for r in then["relations"]] == [
            ("Hamburg", "2024-06-01")
        ]
        now = m.search("Where do I live?", user_id="carol")["results"]
        assert [h["memory"] for h in now] == ["I moved to Berlin."]

        paris = next(h for h in hits if "Paris" in h["memory"])
        m.delete(paris["id"])
        rels = graph.relations(Scope(user_id="alice"))
        assert all(r.fact_id != paris["id"] for r in rels)
        assert "LIVES_IN" not in graph.describe(Scope(user_id="alice"))["relationships"]
        assert "LIVES_IN" in graph.describe(Scope(user_id="bob"))["relationships"]

        m.delete_all(user_id="alice")
        assert m.get_all(user_id="alice")["results"] == []
        assert graph.describe(Scope(user_id="alice")) == {"labels": {}, "relationships": {}}
        assert len(m.get_all(user_id="bob")["results"]) >= 1
        assert graph.relations(Scope(user_id="bob"))
    finally:
        m.reset()
        m.close()
