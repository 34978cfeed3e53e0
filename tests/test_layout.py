"""The embedded vector store's layout: small owners pooled, large ones with collections of
their own, and data dirs of the collection-per-owner layout upgraded on open. Vectors here
are arbitrary (the layout must not change a single score), so no embedding model is used."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graphmem.errors import BackendError
from graphmem.models import FactRecord, Scope, fact_id, partition
from graphmem.stores.chroma import ChromaVectorStore
from graphmem.stores.chroma_pool import POOL

DIM = 8
SCOPES = [
    Scope(user_id="ana"),
    Scope(user_id="ana", agent_id="coach"),
    Scope(user_id="ben", agent_id="coach", run_id="r1"),
    Scope(user_id="big", agent_id="coach"),
    Scope(agent_id="coach"),
    Scope(agent_id="solo", run_id="r1"),
]
QUERIES = [
    Scope(user_id="ana"),
    Scope(user_id="ana", agent_id="coach"),
    Scope(user_id="big"),
    Scope(agent_id="coach"),
    Scope(run_id="r1"),
    Scope(agent_id="solo"),
    Scope(user_id="nobody"),
]


def records(n_per_scope: int, big: int, seed: int = 0) -> tuple[list[FactRecord], Any]:
    """Records of every scope (``big`` more for the user "big"), some invalidated, with
    metadata, and random vectors."""
    rng = np.random.default_rng(seed)
    recs = []
    for s in SCOPES:
        count = n_per_scope + (big if s.user_id == "big" else 0)
        for i in range(count):
            rec = FactRecord(fact_id(s), f"{s.key} fact {i}", s, metadata={"n": i % 3})
            if i % 4 == 3:
                rec = replace(rec, invalid_at=datetime(2025, 1, 1, tzinfo=UTC))
            recs.append(rec)
    return recs, rng.standard_normal((len(recs), DIM)).astype(np.float32)


def store(path: Path, pool_limit: int, cache: int = 0) -> ChromaVectorStore:
    s = ChromaVectorStore(path, collection="t", cache_size=cache, pool_limit=pool_limit)
    s.setup()
    return s


def answers(s: ChromaVectorStore, ids: list[str]) -> list[Any]:
    """Everything each read returns, for every query scope, rounded to be compared."""
    q = np.random.default_rng(9).standard_normal((2, DIM)).astype(np.float32)
    out: list[Any] = []
    for scope in QUERIES:
        for invalid in (False, True):
            out.append([(r.id, round(x, 4)) for r, x in s.query(scope, q[0], 5, None, invalid)])
            out.append(sorted(r.id for r in s.scan(scope, limit=1000, include_invalid=invalid)))
            out.append(sorted(r.id for r in s.get(ids, scope, include_invalid=invalid)))
        out.append([(r.id, round(x, 4)) for r, x in s.query(scope, q[0], 5, {"n": {"$eq": 1}})])
        out.append([[(r.id, round(x, 4)) for r, x in h] for h in s.query_batch(scope, q, 3)])
        out.append([[(i, round(x, 4)) for i, x in h] for h in s.nearest(scope, q, 3)])
        fetched = s.fetch(ids, scope, include_invalid=True)
        out.append(sorted((r.id, v.round(4).tolist()) for r, v in fetched))
    return out


@pytest.mark.parametrize("cache", [0, 1000])
def test_pooled_and_own_collections_answer_alike(tmp_path: Path, cache: int) -> None:
    """Every read gives the same records and scores whether an owner's records are pooled
    (scored here) or in collections of their own (Chroma's index), before and after an
    update of validity and a delete."""
    recs, vecs = records(3, big=10)
    pooled, owned = store(tmp_path / "pooled", 8, cache), store(tmp_path / "owned", 0, cache)
    ids = [r.id for r in recs]
    for s in (pooled, owned):
        s.upsert(recs, vecs)
    assert pooled.catalog is not None and pooled.catalog.owners() == {partition(SCOPES[3])}
    assert answers(pooled, ids) == answers(owned, ids)
    changed = [replace(r, invalid_at=datetime(2026, 1, 1, tzinfo=UTC)) for r in recs[:3]]
    for s in (pooled, owned):
        s.upsert(changed, None)
        s.delete(ids[5:9])
    assert answers(pooled, ids) == answers(owned, ids)


def test_an_owner_moves_out_of_the_pool_when_it_grows(tmp_path: Path) -> None:
    s = store(tmp_path, 4)
    ana = Scope(user_id="ana")
    first = [FactRecord(fact_id(ana), f"fact {i}", ana) for i in range(4)]
    vecs = np.eye(DIM, dtype=np.float32)
    s.upsert(first, vecs[:4])
    names = {c.name for c in s._open().list_collections()}
    assert names == {"t-pool"}
    more = [FactRecord(fact_id(ana), f"fact {i}", ana) for i in range(4, 6)]
    s.upsert(more, vecs[4:6])
    own = f"t-{partition(ana)}"
    assert own in {c.name for c in s._open().list_collections()}
    moved = [r.id for r in first + more]
    assert s._col(POOL).get(ids=moved)["ids"] == []  # the pooled copies are gone
    assert sorted(s._col(partition(ana)).get(ids=moved)["ids"]) == sorted(moved)
    assert [r.id for r, _ in s.query(ana, vecs[5], 1)] == [more[1].id]


def test_an_interrupted_move_is_completed_without_bringing_back_a_delete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A move that fails after copying the records leaves them pooled; a record deleted
    then does not reappear when the move is done again by the next write."""
    s = store(tmp_path, 3)
    assert s.catalog is not None
    ana = Scope(user_id="ana")
    recs = [FactRecord(fact_id(ana), f"fact {i}", ana) for i in range(6)]
    vecs = np.eye(DIM, dtype=np.float32)
    s.upsert(recs[:3], vecs[:3])
    real_own = s.catalog.own

    def fail(part: str) -> None:
        raise BackendError("disk full")

    monkeypatch.setattr(s.catalog, "own", fail)
    with pytest.raises(BackendError):
        s.upsert(recs[3:5], vecs[3:5])  # copied to its own collection, then failed
    monkeypatch.setattr(s.catalog, "own", real_own)
    assert not s.catalog.owns(partition(ana))
    s.delete([recs[0].id])
    assert recs[0].id not in {r.id for r in s.scan(ana, limit=100)}
    s.upsert(recs[5:], vecs[5:6])  # the move again
    assert s.catalog.owns(partition(ana))
    assert sorted(r.id for r in s.scan(ana, limit=100)) == sorted(r.id for r in recs[1:])
    every = s._col(partition(ana)).get()["ids"]
    assert recs[0].id not in every


def test_reads_without_user_use_the_index_not_every_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Agent- or run-only reads (``get_all`` or ``search`` without ``user_id``) come from
    the catalog's indexes: no partition list is read, however many users there are."""
    s = store(tmp_path, 50)
    recs = [
        FactRecord(fact_id(sc), f"{u} {i}", sc)
        for u in range(40)
        for i, sc in enumerate([Scope(f"u{u}", "a1"), Scope(f"u{u}", "a2", f"r{u % 3}")])
    ]
    s.upsert(recs, np.random.default_rng(1).standard_normal((len(recs), DIM)).astype(np.float32))

    def visited() -> list[str]:
        raise AssertionError("a read visited every partition")

    monkeypatch.setattr(s, "_partitions", visited)
    assert len(s.scan(Scope(agent_id="a1"), limit=1000)) == 40
    assert len(s.scan(Scope(run_id="r0"), limit=1000)) == 14
    hits = s.query(Scope(agent_id="a2", run_id="r1"), np.ones(DIM, dtype=np.float32), 100)
    assert {r.scope.run_id for r, _ in hits} == {"r1"} and len(hits) == 13


def test_a_collection_per_owner_data_dir_is_upgraded_on_open(tmp_path: Path) -> None:
    """A data dir written with a collection per owner opens in the pooled layout: small
    owners move to the pool (their collections dropped), large ones keep theirs, every read
    answers as before, and a second open changes nothing."""
    recs, vecs = records(5, big=12)
    ids = [r.id for r in recs]
    old = store(tmp_path, 0)
    old.upsert(recs, vecs)
    before = answers(old, ids)
    old_names = {c.name for c in old._open().list_collections()}
    old.close()
    assert len(old_names) > 6

    new = store(tmp_path, 10)
    assert new.catalog is not None and new.catalog.version() == 2
    names = {c.name for c in new._open().list_collections()}
    big = partition(SCOPES[3])
    assert names == {"t-pool", f"t-{big}", f"t-{big}-x"}
    assert answers(new, ids) == before
    new.close()
    again = store(tmp_path, 10)
    assert answers(again, ids) == before


def test_a_read_only_open_does_not_upgrade(tmp_path: Path) -> None:
    recs, vecs = records(2, big=0)
    old = store(tmp_path, 0)
    old.upsert(recs, vecs)
    names = {c.name for c in old._open().list_collections()}
    old.close()
    reader = ChromaVectorStore(tmp_path, collection="t", pool_limit=10, upgrade=False)
    reader.setup()
    assert {c.name for c in reader._open().list_collections()} == names


def test_a_memory_written_with_a_collection_per_owner_reads_the_same_after_upgrade(
    config: Any, embedder: Any, spacy_extractor: Any
) -> None:
    """A whole data dir (facts, entities, messages) of the older layout: search, get_all,
    get and history answer the same once it is opened, and upgraded, by today's code."""
    from graphmem import Memory

    data = config.data_dir

    def old(name: str, space: Any = "cosine") -> ChromaVectorStore:
        return ChromaVectorStore(data / "chroma", None, 8000, name, embedder.family, space, 0, 0)

    given = {
        "vectors": old("graphmem"),
        "entity_vectors": old("graphmem_entities"),
        "source_vectors": old("graphmem_sources", "ip"),
    }
    people = {"ana": ["I live in Lyon.", "My sister Eva works at Airbus in Toulouse."]}
    people["ben"] = ["I adopted a cat called Miso.", "My brother Tom lives in Oslo."]

    def reads(m: Memory) -> list[Any]:
        out: list[Any] = []
        for user in people:
            hits = m.search("Where does my sister work?", user_id=user)["results"]
            out.append([(h["id"], h["memory"], round(h["score"], 4)) for h in hits])
            out.append(sorted(r["memory"] for r in m.get_all(user_id=user)["results"]))
        out.append(sorted(r["memory"] for r in m.get_all(agent_id="helper")["results"]))
        return out

    with Memory(config, embedder=embedder, offline=spacy_extractor, **given) as m:
        for user, texts in people.items():
            m.add_many(texts, user_id=user, agent_id="helper")
        before = reads(m)
        some = m.get_all(user_id="ana")["results"][0]["id"]
        history = m.history(some)
    with Memory(config, embedder=embedder, offline=spacy_extractor) as m:
        assert reads(m) == before
        assert m.history(some) == history and m.get(some)["id"] == some
        names = {c.name for c in m.parts.vectors._open().list_collections()}  # type: ignore[attr-defined]
    assert names == {"graphmem-pool", "graphmem_entities-pool", "graphmem_sources-pool"}


def test_keyword_indexes_of_many_scopes_are_bounded(tmp_path: Path) -> None:
    """The in-process BM25 indexes are kept for the most recently searched scopes only, and
    one dropped is built again when its scope is searched again."""
    from graphmem.retrieve.lexical import LexicalIndex

    s = store(tmp_path, 50)
    users = [Scope(user_id=f"u{i}") for i in range(12)]
    recs = [FactRecord(fact_id(u), f"{u.user_id} plays chess in Lyon", u) for u in users]
    s.upsert(recs, np.random.default_rng(2).standard_normal((len(recs), DIM)).astype(np.float32))
    index = LexicalIndex(s, s, kept=3)
    found = [index.search("facts", u, "chess", 5) for u in users]
    assert [[i for i, _ in hits] for hits in found] == [[r.id] for r in recs]
    assert len(index._entries) == 3
    assert [i for i, _ in index.search("facts", users[0], "chess", 5)] == [recs[0].id]


def test_a_lost_catalog_is_read_back_from_the_collections(tmp_path: Path) -> None:
    """The catalog is derived data: deleted, it is rebuilt from the pool and the owners'
    collections on the next open, and every read answers as before."""
    recs, vecs = records(3, big=10)
    ids = [r.id for r in recs]
    s = store(tmp_path, 8)
    s.upsert(recs, vecs)
    before = answers(s, ids)
    assert s.catalog is not None
    path = s.catalog.path
    s.close()
    for f in path.parent.glob(path.name + "*"):
        f.unlink()
    assert answers(store(tmp_path, 8), ids) == before


@pytest.mark.parametrize(
    ("scored_max", "indexed_min", "unfiltered_max", "filter_fallback"),
    [(1, 500, 5000, False), (1, 500, 2, True), (2000, 1, 5000, False), (2000, 1, 2, False)],
)
def test_a_read_matching_many_pooled_records_searches_the_pool_index(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scored_max: int,
    indexed_min: int,
    unfiltered_max: int,
    filter_fallback: bool,
) -> None:
    """A read matching many pooled records (an agent across thousands of users) asks the
    pool's index unfiltered for more neighbours, keeping those in the scope. When that does
    not find enough (``UNFILTERED_MAX``) or the query has filters, it scores them here, or
    past ``SCORED_MAX`` asks the index with the scope, the filters and validity as Chroma's
    filter. The same answers as scoring them here, whichever way."""
    from graphmem.stores import chroma_pool

    recs, vecs = records(3, big=0)
    ids = [r.id for r in recs]
    s = store(tmp_path, 50)
    s.upsert(recs, vecs)
    scored = answers(s, ids)
    monkeypatch.setattr(chroma_pool, "SCORED_MAX", scored_max)
    monkeypatch.setattr(chroma_pool, "INDEXED_MIN", indexed_min)
    monkeypatch.setattr(chroma_pool, "UNFILTERED_MAX", unfiltered_max)
    calls: list[Any] = []
    real = s._col(POOL).query
    monkeypatch.setattr(s._col(POOL), "query", lambda **kw: calls.append(kw) or real(**kw))
    assert answers(s, ids) == scored
    unfiltered = [kw for kw in calls if kw.get("where") is None]
    filtered = [kw for kw in calls if kw.get("where") is not None]
    fallback = [kw for kw in filtered if "'n'" not in str(kw["where"])]  # no filter given
    assert unfiltered  # the pool's index answered without a filter
    assert bool(filtered) == (scored_max == 1)  # the queries with filters, past SCORED_MAX
    assert bool(fallback) == filter_fallback  # and those it could not answer unfiltered
