"""Entity-name vectors: one contract for the store that keeps them in the embedded graph's
file and the Chroma store Neo4j keeps using, what is particular to the first (its matrix
cache, its checks, float16), and the upgrade of a data dir that kept them in Chroma."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graphmem import Config, Memory
from graphmem.errors import BackendError, ConfigError
from graphmem.models import Entity, FactRecord, GraphBatch, Scope, stable_id
from graphmem.protocols import VectorStore
from graphmem.stores.chroma import ChromaVectorStore
from graphmem.stores.name_vectors import GraphNameVectors
from graphmem.stores.networkx_store import NetworkXGraphStore

ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")
NAMES = ["Tikhaya Sosna River", "Acme Corporation", "Berlin", "Eva Martin", "Miso"]


@dataclass
class Names:
    """A name store and the graph holding the entities it names."""

    graph: NetworkXGraphStore
    store: VectorStore
    embedder: Any
    #: entity id → the vector written (the quantised model's vectors depend a little on the
    #: batch they are embedded in)
    written: dict[str, Any] = field(default_factory=dict)

    def put(self, scope: Scope, names: list[str]) -> list[Entity]:
        ents = [Entity(stable_id(scope.key, n.lower()), n, "Thing", scope) for n in names]
        self.graph.write(GraphBatch(entities=tuple(ents)))
        records = [FactRecord(e.id, e.name, scope, {"type": e.type}) for e in ents]
        vecs = self.embedder.embed(names, query=True)
        self.store.upsert(records, vecs)
        self.written.update(zip((e.id for e in ents), vecs))
        return ents

    def vec(self, text: str) -> Any:
        return self.embedder.embed([text], query=True)


def _store(kind: str, root: Path, graph: NetworkXGraphStore, family: str) -> VectorStore:
    if kind == "chroma":
        return ChromaVectorStore(root / "chroma", collection="t_entities", family=family)
    return GraphNameVectors(graph, family)


@pytest.fixture(params=["graph", "chroma"])
def names(request: pytest.FixtureRequest, tmp_path: Path, embedder: Any) -> Iterator[Names]:
    graph = NetworkXGraphStore(tmp_path / "graph.sqlite")
    store = _store(request.param, tmp_path, graph, embedder.family)
    graph.setup()
    store.setup()
    yield Names(graph, store, embedder)
    store.close()
    graph.close()


def cos(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


# -- the contract ------------------------------------------------------------------------------
def test_the_nearest_name_of_the_scope_with_its_cosine(names: Names) -> None:
    mine = {e.name: e for e in names.put(ALICE, NAMES)}
    names.put(BOB, ["Tikhaya Sosna"])
    q = names.vec("Tikhaya Sosna")
    [[(rec, score), *_]] = names.store.query_batch(ALICE, q, 3)
    river = mine["Tikhaya Sosna River"]
    assert (rec.id, rec.text, rec.scope) == (river.id, river.name, ALICE)
    assert score == pytest.approx(cos(q, names.written[river.id]), abs=1e-3)
    hits = names.store.query_batch(ALICE, np.vstack([q, names.vec("Acme Corp")]), 10)
    assert [len(h) for h in hits] == [len(NAMES), len(NAMES)]
    assert all(r.scope == ALICE for h in hits for r, _ in h)  # never Bob's own name
    assert hits[1][0][0].text == "Acme Corporation"
    assert [s for _, s in hits[0]] == sorted((s for _, s in hits[0]), reverse=True)
    [ids_only] = names.store.nearest(ALICE, q, 3)  # as one query alone: the same to 1e-6
    assert [i for i, _ in ids_only] == [r.id for r, _ in hits[0][:3]]
    assert [s for _, s in ids_only] == pytest.approx([s for _, s in hits[0][:3]], abs=1e-6)
    assert names.store.query(BOB, q[0], 5)[0][0].text == "Tikhaya Sosna"


def test_a_query_scope_reads_every_stored_scope_it_matches(names: Names) -> None:
    a1, a2 = Scope("alice", "a1"), Scope("alice", "a2")
    names.put(a1, ["Berlin"])
    names.put(a2, ["Lyon"])
    names.put(Scope("bob", "a1"), ["Oslo"])
    both = names.store.query_batch(ALICE, names.vec("city"), 10)[0]
    assert sorted(r.text for r, _ in both) == ["Berlin", "Lyon"]
    agent = names.store.query_batch(Scope(agent_id="a1"), names.vec("city"), 10)[0]
    assert sorted(r.text for r, _ in agent) == ["Berlin", "Oslo"]
    assert names.store.query_batch(Scope("carol"), names.vec("city"), 10) == [[]]


def test_fetch_get_and_scan_stay_in_their_scope(names: Names) -> None:
    ents = names.put(ALICE, NAMES)
    [bob] = names.put(BOB, ["Oslo"])
    ids = [e.id for e in ents]
    got = names.store.fetch([*ids, bob.id], ALICE)
    assert sorted(r.id for r, _ in got) == sorted(ids)
    for rec, vec in got:
        assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)
        assert cos(vec, names.written[rec.id]) > 0.9999
        assert rec.metadata == {"type": "Thing"}
    assert {r.id for r in names.store.get([*ids, bob.id])} == {*ids, bob.id}
    assert [r.id for r in names.store.get([*ids, bob.id], BOB)] == [bob.id]
    assert sorted(r.text for r in names.store.scan(ALICE, limit=100)) == sorted(NAMES)
    assert len(names.store.scan(ALICE, limit=2)) == 2


def test_delete_delete_scope_and_reset(names: Names) -> None:
    ents = names.put(ALICE, NAMES)
    names.put(BOB, ["Oslo"])
    names.store.query_batch(ALICE, names.vec("Berlin"), 1)  # read (and kept) before the delete
    names.store.delete([ents[2].id])
    left = names.store.query_batch(ALICE, names.vec("Berlin"), 10)[0]
    assert ents[2].id not in {r.id for r, _ in left} and len(left) == len(NAMES) - 1
    assert names.store.get([ents[2].id]) == []
    names.store.delete_scope(ALICE)
    assert names.store.query_batch(ALICE, names.vec("Berlin"), 10) == [[]]
    assert names.store.scan(ALICE) == []
    assert [r.text for r in names.store.scan(BOB)] == ["Oslo"]
    names.store.reset()
    assert names.store.scan(BOB) == []


def test_names_are_kept_across_a_restart(names: Names, tmp_path: Path) -> None:
    names.put(ALICE, NAMES)
    before = names.store.query_batch(ALICE, names.vec("Acme"), 3)
    names.store.close()
    names.graph.close()
    graph = NetworkXGraphStore(names.graph.path)
    kind = "graph" if isinstance(names.store, GraphNameVectors) else "chroma"
    again = _store(kind, tmp_path, graph, names.embedder.family)
    again.setup()
    assert again.query_batch(ALICE, names.vec("Acme"), 3) == before
    names.graph, names.store = graph, again


# -- the store in the graph's file --------------------------------------------------------------
@pytest.fixture()
def graph_names(tmp_path: Path, embedder: Any) -> Iterator[Names]:
    graph = NetworkXGraphStore(tmp_path / "graph.sqlite")
    store = GraphNameVectors(graph, embedder.family)
    store.setup()
    yield Names(graph, store, embedder)
    store.close()
    graph.close()


@pytest.mark.parametrize("budget", [0, 20_000, 1 << 20])
def test_writes_reach_a_loaded_scope_and_the_cache_keeps_its_budget(
    tmp_path: Path, embedder: Any, budget: int
) -> None:
    graph = NetworkXGraphStore(tmp_path / "graph.sqlite")
    store = GraphNameVectors(graph, embedder.family, cache_bytes=budget)
    n = Names(graph, store, embedder)
    scopes = [Scope(f"user{i}") for i in range(4)]
    for s in scopes:
        n.put(s, NAMES[:3])
        assert store.query_batch(s, n.vec("Berlin"), 1)[0][0][0].text == "Berlin"
    for s in scopes:  # each scope loaded (or not, within the budget), then written
        [eva] = n.put(s, ["Eva Martin"])
        assert store.nearest(s, n.vec("Eva Martin"), 1)[0][0][0] == eva.id
        store.delete([eva.id])
        assert store.nearest(s, n.vec("Eva Martin"), 1)[0][0][0] != eva.id
        assert store.cached_bytes() <= budget
    loaded = len(store.loaded_scopes())
    assert loaded == 0 if budget == 0 else 0 < loaded < 4 if budget == 20_000 else loaded == 4
    store.close()
    graph.close()


def test_a_name_of_an_entity_the_graph_lacks_is_refused(graph_names: Names) -> None:
    ghost = FactRecord("no-such-entity", "Ghost", ALICE, {"type": "Thing"})
    with pytest.raises(BackendError, match="unknown entity"):
        graph_names.store.upsert([ghost], graph_names.vec("Ghost"))


def test_names_of_another_embedder_are_refused(graph_names: Names) -> None:
    graph_names.put(ALICE, ["Berlin"])
    other = GraphNameVectors(graph_names.graph, "some-other-model")
    with pytest.raises(ConfigError, match="embeds with some-other-model"):
        other.setup()


def test_float16_moves_a_cosine_by_less_than_a_thousandth(graph_names: Names) -> None:
    """Stored as float16, read back as float32: the cosines of real names barely move (the
    entity-merge threshold is 0.93 on the common scale; a step there is ~0.004 raw)."""
    people = ["Eva Martin", "Eve Martin", "Dr. Eva Martin", "Evan Martinez", "Martin"]
    places = ["Tikhaya Sosna", "Tikhaya Sosna River", "Lyon", "Lyons", "Toulouse"]
    stored = [*NAMES, *people, *places]
    graph_names.put(ALICE, stored)
    queries = [*people, *places, "the river", "Acme Corp.", "Berlin, Germany"]
    qv = graph_names.embedder.embed(queries, query=True)
    got = graph_names.store.query_batch(ALICE, qv, len(stored))
    exact = graph_names.written
    worst = max(abs(s - cos(q, exact[r.id])) for q, hits in zip(qv, got) for r, s in hits)
    assert 0 < worst < 1e-3


# -- the upgrade of a data dir that kept the names in Chroma -------------------------------------
def _old_names(config: Config, embedder: Any, pool_limit: int) -> ChromaVectorStore:
    """The entity-name store as every data dir before this layout has it."""
    path = config.data_dir / "chroma"
    name = config.collection + "_entities"
    return ChromaVectorStore(path, None, 8000, name, embedder.family, pool_limit=pool_limit)


PEOPLE = {
    "ana": ["I live in Lyon.", "My sister Eva works at Airbus in Toulouse."],
    "ben": ["I adopted a cat called Miso.", "My brother Tom lives in Oslo."],
}


def _written_the_old_way(config: Config, embedder: Any, spacy: Any) -> dict[str, Any]:
    """A data dir as the layout before writes it (Ben's names in collections of his own),
    and what it holds of the entity names."""
    old = _old_names(config, embedder, pool_limit=4)
    with Memory(config, embedder=embedder, offline=spacy, entity_vectors=old) as m:
        for user, texts in PEOPLE.items():
            m.add_many(texts, user_id=user)
        m.add("Tom plays the cello in the Oslo Philharmonic.", user_id="ben")
        held = {}
        for user in PEOPLE:
            ents = [e.id for e in m.parts.graph.entities(Scope(user))]
            held.update({r.id: (r.text, v) for r, v in old.fetch(ents, Scope(user))})
        answers = _answers(m)
    assert old.catalog is not None and old.catalog.states()  # Ben's are no longer pooled
    return {"names": held, "answers": answers}


def _answers(m: Memory) -> list[Any]:
    out = []
    for user, question in (("ana", "Where does Eva work?"), ("ben", "Where does Tom live?")):
        hits = m.search(question, user_id=user)["results"]
        out.append([(h["id"], round(h["score"], 3)) for h in hits])
    return out


def _same(a: list[Any], b: list[Any]) -> bool:
    """The same results, with scores equal to float16's precision."""
    ids = [[i for i, _ in hits] for hits in a] == [[i for i, _ in hits] for hits in b]
    scores = [s for hits in a for _, s in hits], [s for hits in b for _, s in hits]
    return ids and scores[0] == pytest.approx(scores[1], abs=2e-3)


def _chroma_names(config: Config) -> set[str]:
    """The entity-name collections in the data dir's Chroma files."""
    db = sqlite3.connect(config.data_dir / "chroma" / "chroma.sqlite3")
    try:
        names = {n for (n,) in db.execute("SELECT name FROM collections")}
    finally:
        db.close()
    return {n for n in names if n.startswith(config.collection + "_entities-")}


def test_a_data_dir_with_names_in_chroma_is_upgraded_on_open(
    config: Config, embedder: Any, spacy_extractor: Any
) -> None:
    old = _written_the_old_way(config, embedder, spacy_extractor)
    catalog = config.data_dir / "chroma" / f"{config.collection}_entities.catalog.sqlite"
    assert catalog.exists() and _chroma_names(config)
    for _ in range(2):  # the second open finds nothing left to move
        with Memory(config, embedder=embedder, offline=spacy_extractor) as m:
            store = m.parts.entity_vectors
            assert isinstance(store, GraphNameVectors)
            got = {
                r.id: (r.text, v)
                for user in PEOPLE
                for r, v in store.fetch(list(old["names"]), Scope(user))
            }
            assert {i: t for i, (t, _) in got.items()} == {
                i: t for i, (t, _) in old["names"].items()
            }
            assert all(cos(v, old["names"][i][1]) > 0.9999 for i, (_, v) in got.items())
            assert _same(_answers(m), old["answers"])
        assert not catalog.exists() and _chroma_names(config) == set()


def test_an_interrupted_upgrade_is_completed_and_a_read_only_open_does_not_upgrade(
    config: Config, embedder: Any, spacy_extractor: Any
) -> None:
    old = _written_the_old_way(config, embedder, spacy_extractor)
    graph = NetworkXGraphStore(config.data_dir / "graph.sqlite")
    part = GraphNameVectors(graph, embedder.family)
    some = list(old["names"])[:3]  # moved before a crash; the collections are still there
    part.put(some, np.stack([old["names"][i][1] for i in some]), keep=True)
    graph.close()
    reader = config.model_copy(update={"read_only": True})
    with Memory(reader, embedder=embedder, offline=spacy_extractor) as m:
        m.search("Where does Eva work?", user_id="ana")
    assert _chroma_names(config)
    with Memory(config, embedder=embedder, offline=spacy_extractor) as m:
        store = m.parts.entity_vectors
        assert isinstance(store, GraphNameVectors)
        users = [Scope(u) for u in PEOPLE]
        moved = {r.id for s in users for r in store.scan(s, limit=1000)}
        assert moved == set(old["names"])
    assert _chroma_names(config) == set()


def test_delete_all_takes_the_names_of_the_scope(memory: Memory) -> None:
    memory.add("My sister Eva works at Airbus in Toulouse.", user_id="ana")
    memory.add("My brother Tom lives in Oslo.", user_id="ben")
    store = memory.parts.entity_vectors
    assert store.scan(Scope("ana")) and store.scan(Scope("ben"))
    memory.delete_all(user_id="ana")
    assert store.scan(Scope("ana")) == []
    assert store.query_batch(Scope("ana"), memory.parts.embedder.embed(["Eva"]), 3) == [[]]
    graph = memory.parts.graph
    assert isinstance(graph, NetworkXGraphStore)
    (count,) = graph.select("SELECT count(*) FROM name_vectors", [])[0]
    assert count == len(store.scan(Scope("ben")))


def test_a_scope_read_while_it_had_no_names_takes_its_first(memory: Memory) -> None:
    """A search (or a write without entities) loads the scope's empty matrix; the first name
    written after it is added to that matrix."""
    memory.add("0", user_id="ana")  # no entity: the scope's names are read, and none found
    memory.add("I live in Paris.", user_id="ana")
    assert memory.health()["ok"]
    store = memory.parts.entity_vectors
    assert "Paris" in {r.text for r in store.scan(Scope("ana"))}


def test_the_graph_store_chooses_where_names_live(any_memory: Memory) -> None:
    """Beside the entities in the embedded graph's file; in Chroma with Neo4j."""
    embedded = isinstance(any_memory.parts.graph, NetworkXGraphStore)
    kind = GraphNameVectors if embedded else ChromaVectorStore
    assert isinstance(any_memory.parts.entity_vectors, kind)
    any_memory.add("My sister Eva works at Airbus in Toulouse.", user_id="nv-ana")
    q = any_memory.parts.embedder.embed(["Airbus company"], query=True)
    [[(rec, _)]] = any_memory.parts.entity_vectors.query_batch(Scope("nv-ana"), q, 1)
    assert rec.text == "Airbus"
    any_memory.delete_all(user_id="nv-ana")
