"""One contract suite for every GraphStore implementation (embedded and Neo4j)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graphmem.models import Entity, GraphBatch, Relation, Scope, Source, stable_id
from graphmem.protocols import GraphStore
from graphmem.stores.networkx_store import NetworkXGraphStore

ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


def make_neo4j() -> GraphStore:
    from graphmem.config import Config
    from graphmem.stores.neo4j_store import Neo4jGraphStore

    c = Config.load()
    return Neo4jGraphStore(
        c.neo4j_uri, c.neo4j_user, c.neo4j_password.get_secret_value(), c.neo4j_database
    )


@pytest.fixture(params=["networkx", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    s: GraphStore = (
        NetworkXGraphStore(tmp_path / "g.sqlite") if request.param == "networkx" else make_neo4j()
    )
    s.setup()
    s.reset()
    yield s
    s.reset()
    s.close()


def ent(scope: Scope, name: str, type_: str = "Person", aliases: tuple[str, ...] = ()) -> Entity:
    return Entity(stable_id(scope.key, name.lower()), name, type_, scope, aliases)


def rel(scope: Scope, a: Entity, r: str, b: Entity, fact: str, weight: float = 1.0) -> Relation:
    return Relation(
        stable_id(fact, a.id, r, b.id),
        a.id,
        r,
        b.id,
        fact,
        scope,
        None,
        None,
        datetime(2024, 1, 1, tzinfo=UTC),
        weight,
    )


def seed(store: GraphStore, scope: Scope = ALICE) -> dict[str, Entity]:
    e = {n: ent(scope, n) for n in ("Alice", "Bob", "Acme", "Berlin")}
    e["Acme"] = ent(scope, "Acme", "Organization", ("Acme Corp",))
    src = Source("s1", scope, "Bob works at Acme. Acme is in Berlin.")
    store.write(
        GraphBatch(
            entities=tuple(e.values()),
            relations=(
                rel(scope, e["Bob"], "WORKS_AT", e["Acme"], "f1"),
                rel(scope, e["Acme"], "BASED_IN", e["Berlin"], "f2"),
                rel(scope, e["Alice"], "HAS_MANAGER", e["Bob"], "f3"),
            ),
            mentions=(
                ("f1", e["Bob"].id),
                ("f1", e["Acme"].id),
                ("f2", e["Acme"].id),
                ("f2", e["Berlin"].id),
                ("f3", e["Alice"].id),
                ("f3", e["Bob"].id),
            ),
            sources=(src,),
            derived=(("f1", "s1"), ("f2", "s1")),
        )
    )
    return e


def test_write_and_read_back(store: GraphStore) -> None:
    e = seed(store)
    assert {x.name for x in store.entities(ALICE)} == {"Alice", "Bob", "Acme", "Berlin"}
    rels = store.relations(ALICE)
    assert {(r.relation, r.fact_id) for r in rels} == {
        ("WORKS_AT", "f1"),
        ("BASED_IN", "f2"),
        ("HAS_MANAGER", "f3"),
    }
    assert [x.id for x in store.find_entities(ALICE, ["acme corp"])] == [e["Acme"].id]
    assert store.fact_sources(["f1", "f3"]) == {"f1": ["s1"]}
    assert [s.content for s in store.sources(ALICE, ["s1"])] == [
        "Bob works at Acme. Acme is in Berlin."
    ]


def test_write_is_idempotent(store: GraphStore) -> None:
    seed(store)
    seed(store)
    assert len(store.entities(ALICE)) == 4
    assert len(store.relations(ALICE)) == 3


def test_scopes_are_isolated(store: GraphStore) -> None:
    seed(store, ALICE)
    seed(store, BOB)
    assert all(x.scope == BOB for x in store.entities(BOB))
    assert len(store.relations(BOB)) == 3
    assert store.find_entities(Scope(user_id="carol"), ["acme"]) == []
    assert store.sources(BOB, ["s1"]) == [] or all(
        s.scope == BOB for s in store.sources(BOB, ["s1"])
    )
    assert store.neighbourhood(Scope(user_id="carol"), [ent(ALICE, "Bob").id]).relations == []


def test_neighbourhood_is_bounded(store: GraphStore) -> None:
    e = seed(store)
    one = store.neighbourhood(ALICE, [e["Alice"].id], hops=1)
    assert {r.relation for r in one.relations} == {"HAS_MANAGER"}
    two = store.neighbourhood(ALICE, [e["Alice"].id], hops=2)
    assert {r.relation for r in two.relations} == {"HAS_MANAGER", "WORKS_AT"}
    three = store.neighbourhood(ALICE, [e["Alice"].id], hops=3)
    assert {r.relation for r in three.relations} == {"HAS_MANAGER", "WORKS_AT", "BASED_IN"}
    assert ("f2", e["Berlin"].id) in three.mentions
    assert len(store.neighbourhood(ALICE, [e["Alice"].id], hops=3, limit=1).relations) == 1


def test_invalidation_keeps_history(store: GraphStore) -> None:
    e = seed(store)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    new = rel(ALICE, e["Bob"], "WORKS_AT", e["Berlin"], "f1")
    store.write(GraphBatch(relations=(new,)), invalidate_facts=["f1"], at=at)
    current = {(r.relation, r.target_id) for r in store.relations(ALICE, fact_ids=["f1"])}
    assert current == {("WORKS_AT", e["Berlin"].id)}
    everything = store.relations(ALICE, fact_ids=["f1"], include_invalid=True)
    old = [r for r in everything if r.target_id == e["Acme"].id]
    assert old and old[0].invalid_at == at
    assert all(r.invalid_at is None for r in store.neighbourhood(ALICE, [e["Bob"].id]).relations)


def test_neighbourhood_at_a_time_walks_what_held_then(store: GraphStore) -> None:
    """``at``: the relations begun by then (at their event time, else when written) and not
    ended by then, superseded since or not."""
    e = seed(store)  # written 2024-01-01, no event time
    moved = datetime(2025, 1, 1, tzinfo=UTC)
    new = replace(rel(ALICE, e["Bob"], "WORKS_AT", e["Berlin"], "f4"), valid_from=moved)
    store.write(GraphBatch(relations=(new,)), invalidate_facts=["f1"], at=moved)

    def walked(at: datetime | None) -> set[tuple[str, str]]:
        sub = store.neighbourhood(ALICE, [e["Bob"].id], hops=1, at=at)
        return {(r.relation, sub.entities[r.target_id].name) for r in sub.relations}

    then = walked(datetime(2024, 6, 1, tzinfo=UTC))
    assert then == {("WORKS_AT", "Acme"), ("HAS_MANAGER", "Bob")}
    later = {("WORKS_AT", "Berlin"), ("HAS_MANAGER", "Bob")}
    assert walked(datetime(2025, 6, 1, tzinfo=UTC)) == later == walked(None)
    assert walked(moved) == later  # ended at ``moved``, begun at ``moved``
    assert walked(datetime(2023, 6, 1, tzinfo=UTC)) == set()


def test_each_fact_can_end_at_its_own_time(store: GraphStore) -> None:
    """``ended``: when each invalidated fact stopped holding (its successor's event time);
    a fact not named there ends at ``at``."""
    seed(store)
    at, ended = datetime(2025, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)
    store.write(GraphBatch(), invalidate_facts=["f1", "f2"], at=at, ended={"f1": ended})
    gone = store.relations(ALICE, fact_ids=["f1", "f2"], include_invalid=True)
    assert {r.fact_id: r.invalid_at for r in gone} == {"f1": ended, "f2": at}


def test_delete_facts_removes_exactly_derived_edges(store: GraphStore) -> None:
    e = seed(store)
    store.delete_facts(["f1"])
    assert {r.fact_id for r in store.relations(ALICE)} == {"f2", "f3"}
    assert len(store.entities(ALICE)) == 4  # entities stay
    assert store.fact_sources(["f1"]) == {}
    sub = store.neighbourhood(ALICE, [e["Bob"].id], hops=1)
    assert all(f != "f1" for f, _ in sub.mentions)


def test_sources_know_their_facts_and_can_be_deleted(store: GraphStore) -> None:
    seed(store)
    assert {k: sorted(v) for k, v in store.source_facts(["s1"]).items()} == {"s1": ["f1", "f2"]}
    store.delete_facts(["f1"])
    assert store.source_facts(["s1", "nope"]) == {"s1": ["f2"]}
    store.delete_sources(["s1"])
    assert store.sources(ALICE, ["s1"]) == []
    assert store.source_facts(["s1"]) == {}
    assert store.fact_sources(["f2"]) == {}
    assert {r.fact_id for r in store.relations(ALICE)} == {"f2", "f3"}  # facts untouched
    store.write(
        GraphBatch(sources=(Source("p1", ALICE, "Nigeria has 36 states.", title="Nigeria"),))
    )
    store.delete_sources(["p1"])
    assert store.sources_about(ALICE, ["nigeria"], 5) == {}


def test_neighbourhood_counts_mentions_and_caps_hubs(store: GraphStore) -> None:
    e = seed(store)  # Acme and Bob: 2 facts each, Berlin and Alice: 1
    full = store.neighbourhood(ALICE, [e["Acme"].id], hops=1)
    assert full.degree == {e["Acme"].id: 2, e["Bob"].id: 2, e["Berlin"].id: 1}
    capped = store.neighbourhood(ALICE, [e["Acme"].id], hops=1, mention_cap=1)
    assert capped.degree == full.degree  # hubs are counted, their mentions not listed
    assert sorted(capped.mentions) == [("f2", e["Berlin"].id)]
    assert {r.id for r in capped.relations} == {r.id for r in full.relations}


def test_delete_scope_and_reset(store: GraphStore) -> None:
    seed(store, ALICE)
    seed(store, BOB)
    store.delete_scope(ALICE)
    assert store.entities(ALICE) == []
    assert len(store.entities(BOB)) == 4
    store.reset()
    assert store.entities(BOB) == []


def test_scopes_lists_every_scope_written(store: GraphStore) -> None:
    assert store.scopes() == []
    seed(store, ALICE)
    seed(store, Scope(user_id="alice", agent_id="helper"))
    ops = Scope(agent_id="ops")
    store.write(GraphBatch(sources=(Source("s-ops", ops, "The deploy runs at noon."),)))
    listed = store.scopes()
    assert sorted(s.key for s in listed) == sorted(
        s.key for s in (ALICE, Scope(user_id="alice", agent_id="helper"), ops)
    )
    store.delete_scope(ALICE)  # and its sub-scopes
    assert [s.key for s in store.scopes()] == [ops.key]


def test_relations_by_entity(store: GraphStore) -> None:
    e = seed(store)
    rels = store.relations(ALICE, entity_ids=[e["Acme"].id])
    assert {r.relation for r in rels} == {"WORKS_AT", "BASED_IN"}


def test_restart_keeps_everything(store: GraphStore, tmp_path: Path) -> None:
    seed(store)
    store.close()
    store.setup()
    assert len(store.entities(ALICE)) == 4
    assert len(store.relations(ALICE)) == 3


def test_entity_attributes_are_kept_as_given(store: GraphStore) -> None:
    """Attributes (any JSON) come back from every read, after a restart too; a write of the
    entity stores it as given (merging mentions is resolution's job, not the store's)."""
    e = seed(store)
    told = {
        "age": 41,
        "occupation": "pilote d'essai à Évora",
        "tags": ["a", "b"],
        "home": {"x": 1.5},
    }
    bob = replace(e["Bob"], attributes=told)
    store.write(GraphBatch(entities=(bob,)))

    def attributes() -> list[dict[str, object]]:
        sub = store.neighbourhood(ALICE, [bob.id], hops=1)
        return [
            *(x.attributes for x in store.entities(ALICE) if x.id == bob.id),
            *(x.attributes for x in store.find_entities(ALICE, ["bob"])),
            sub.entities[bob.id].attributes,
        ]

    assert attributes() == [told] * 3
    assert all(x.attributes == {} for x in store.entities(ALICE) if x.id != bob.id)
    store.close()
    store.setup()
    assert attributes() == [told] * 3
    store.write(GraphBatch(entities=(replace(bob, attributes={"age": 42}),)))
    assert attributes() == [{"age": 42}] * 3
    store.write(GraphBatch(entities=(replace(bob, attributes={}),)))
    assert attributes() == [{}] * 3


def test_sources_about_an_entity_by_title(store: GraphStore, tmp_path: Path) -> None:
    passages = (
        Source("p1", ALICE, "Nigeria is named after the Niger River.", title="Nigeria"),
        Source("p2", ALICE, "The Niger River flows through Mali.", title="The Niger River"),
        Source("p3", BOB, "Nigeria has 36 states.", title="Nigeria"),
        Source("p4", ALICE, "An untitled note."),
    )
    store.write(GraphBatch(sources=passages))
    names = ["nigeria", "niger river", "mali"]
    assert store.sources_about(ALICE, names, 5) == {"nigeria": ["p1"], "niger river": ["p2"]}
    assert store.sources_about(BOB, names, 5) == {"nigeria": ["p3"]}
    assert store.sources_about(ALICE, [], 5) == {}
    more = tuple(Source(f"q{i}", ALICE, f"Note {i}.", title="Nigeria") for i in range(3))
    store.write(GraphBatch(sources=more))  # now 4 sources about Nigeria: over a limit of 3
    assert store.sources_about(ALICE, names, 3) == {"niger river": ["p2"]}
    store.close()
    store.setup()  # read back after a restart
    assert store.sources_about(ALICE, ["nigeria"], 4) == {"nigeria": ["p1", "q0", "q1", "q2"]}
    assert store.title_counts(ALICE, names, 10) == {"nigeria": 4, "niger river": 1}
    assert store.title_counts(ALICE, names, 3) == {"nigeria": 3, "niger river": 1}
    assert store.title_counts(BOB, names, 10) == {"nigeria": 1}
    assert store.title_counts(ALICE, [], 10) == {}


def test_the_scope_lock_is_per_scope_and_released(store: GraphStore) -> None:
    """Held for one scope, it lets writers of another scope through; it is released after its
    block, also when the block fails."""
    with store.lock(ALICE):
        assert taken_elsewhere(store, BOB)
    with pytest.raises(RuntimeError), store.lock(ALICE):
        raise RuntimeError("the write failed")
    assert taken_elsewhere(store, ALICE)


def taken_elsewhere(store: GraphStore, scope: Scope) -> bool:
    """Whether another thread takes (and releases) the scope's lock."""
    done = threading.Event()

    def take() -> None:
        with store.lock(scope):
            done.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    thread.join(300)  # a guard against a hang, not a timing
    return done.is_set()
