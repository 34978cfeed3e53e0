"""The vector store's layout: small owners pooled, large ones with collections of their own,
and stores of the collection-per-owner layout upgraded on open; each test runs on an embedded
data dir and, where it applies, on a `chroma run` server. Vectors here are arbitrary (the
layout must not change a single score), so no embedding model is used."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sites import Site

from graphmem.errors import BackendError
from graphmem.models import TITLE_KEY, FactRecord, Scope, fact_id, partition, searchable
from graphmem.retrieve.lexical import LexicalIndex
from graphmem.stores.catalog import Catalog
from graphmem.stores.chroma import ChromaVectorStore
from graphmem.stores.chroma_pool import CATALOG, POOL
from graphmem.stores.pool_rows import MOVED

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


def collections(s: ChromaVectorStore) -> set[str]:
    """The store's collections, named by what follows the store's name (a server catalog's
    markers aside)."""
    names = [c.name for c in s._open().list_collections()]
    return {n[len(s.base) + 1 :] for n in names if n.startswith(s.base + "-")} - {CATALOG}


def owned(s: ChromaVectorStore) -> set[str]:
    assert s.catalog is not None
    return set(s.catalog.states())


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
def test_pooled_and_own_collections_answer_alike(site: Site, cache: int) -> None:
    """Every read gives the same records and scores whether an owner's records are pooled
    (scored here) or in collections of their own (Chroma's index), before and after an
    update of validity and a delete."""
    recs, vecs = records(3, big=10)
    pooled = site.store(8, cache, name="pooled")
    apart = site.store(0, cache, name="apart")
    ids = [r.id for r in recs]
    for s in (pooled, apart):
        s.upsert(recs, vecs)
    assert owned(pooled) == {partition(SCOPES[3])}
    assert collections(pooled) == {POOL, partition(SCOPES[3]), partition(SCOPES[3]) + "-x"}
    assert answers(pooled, ids) == answers(apart, ids)
    changed = [replace(r, invalid_at=datetime(2026, 1, 1, tzinfo=UTC)) for r in recs[:3]]
    for s in (pooled, apart):
        s.upsert(changed, None)
        s.delete(ids[5:9])
    assert answers(pooled, ids) == answers(apart, ids)


def test_an_owner_moves_out_of_the_pool_when_it_grows(site: Site) -> None:
    s = site.store(4)
    ana = Scope(user_id="ana")
    first = [FactRecord(fact_id(ana), f"fact {i}", ana) for i in range(4)]
    vecs = np.eye(DIM, dtype=np.float32)
    s.upsert(first, vecs[:4])
    assert collections(s) == {POOL}
    more = [FactRecord(fact_id(ana), f"fact {i}", ana) for i in range(4, 6)]
    s.upsert(more, vecs[4:6])
    assert partition(ana) in collections(s) and owned(s) == {partition(ana)}
    moved = [r.id for r in first + more]
    assert s._col(POOL).get(ids=moved)["ids"] == []  # the pooled copies are gone
    assert sorted(s._col(partition(ana)).get(ids=moved)["ids"]) == sorted(moved)
    assert [r.id for r, _ in s.query(ana, vecs[5], 1)] == [more[1].id]


def test_an_interrupted_move_is_completed_without_bringing_back_a_delete(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A move that fails after copying the records leaves them in the pool and in the
    owner's collections: reads take each once; a record deleted then does not reappear when
    the move is completed by the next write, and the pool keeps none of the owner's."""
    s = site.store(3)
    assert s.catalog is not None
    ana = Scope(user_id="ana")
    recs = [FactRecord(fact_id(ana), f"fact {i}", ana) for i in range(6)]
    vecs = np.eye(DIM, dtype=np.float32)
    s.upsert(recs[:3], vecs[:3])

    def fail(ids: Any) -> set[str]:
        raise BackendError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(s.catalog, "dropped", fail)
        with pytest.raises(BackendError):
            s.upsert(recs[3:5], vecs[3:5])  # copied to its own collection, then failed
    assert s.catalog.states() == {partition(ana): False}  # moving
    assert len(s._col(POOL).get(ids=[r.id for r in recs])["ids"]) == 5
    assert sorted(r.id for r in s.scan(ana, limit=100)) == sorted(r.id for r in recs[:5])
    hits = s.query(ana, vecs[1], 10)
    assert sorted(r.id for r, _ in hits) == sorted(r.id for r in recs[:5])
    s.delete([recs[0].id])
    assert recs[0].id not in {r.id for r in s.scan(ana, limit=100)}
    s.upsert(recs[5:], vecs[5:6])  # completes the move
    assert s.catalog.states() == {partition(ana): True}
    assert sorted(r.id for r in s.scan(ana, limit=100)) == sorted(r.id for r in recs[1:])
    every = s._col(partition(ana)).get()["ids"]
    assert recs[0].id not in every
    assert s._col(POOL).get(ids=[r.id for r in recs])["ids"] == []


def test_reads_without_user_use_the_index_not_every_partition(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Agent- or run-only reads (``get_all`` or ``search`` without ``user_id``) come from
    the catalog's indexes: no partition list is read, however many users there are."""
    s = site.store(50)
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


def test_a_read_without_user_takes_each_current_record_once(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent's or a run's read, across owners that are pooled, moving (a move that failed
    after copying) or moved: every current record once, superseded ones only when asked, and
    one superseded then current again is current. On a server the pooled rows are listed by
    id: a listing reads metadata only of owners with collections of their own, and a query
    lists nothing."""
    s = site.store(3)
    assert s.catalog is not None
    old = datetime(2025, 1, 1, tzinfo=UTC)
    owners = {n: Scope(n, "a", "r1" if n == "pooled" else None) for n in ("pooled", "moving")}
    owners |= {"moved": Scope("moved", "a"), "none": Scope(agent_id="a")}
    recs = {
        n: [FactRecord(fact_id(sc), f"{n} {i}", sc) for i in range(5)] for n, sc in owners.items()
    }
    for n in ("pooled", "none"):  # pooled: 2 current, 1 superseded
        recs[n] = [*recs[n][:2], replace(recs[n][2], invalid_at=old)]
    rng = np.random.default_rng(3)
    vec = lambda n: rng.standard_normal((n, DIM)).astype(np.float32)
    for n in ("pooled", "none", "moved"):
        s.upsert(recs[n], vec(len(recs[n])))
    s.upsert(recs["moving"][:3], vec(3))
    with monkeypatch.context() as patch:
        patch.setattr(s.catalog, "dropped", lambda ids: (_ for _ in ()).throw(BackendError("x")))
        with pytest.raises(BackendError):
            s.upsert(recs["moving"][3:], vec(2))  # copied to its own collections, then failed
    assert s.catalog.states() == {
        partition(owners["moving"]): False,
        partition(owners["moved"]): True,
    }
    current = {r.id for rs in recs.values() for r in rs if r.invalid_at is None}
    every = {r.id for rs in recs.values() for r in rs}
    agent = Scope(agent_id="a")

    reads: list[tuple[bool, list[str]]] = []
    if site.port is not None:
        call = type(s)._call

        def logged(self: Any, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
            res = call(self, what, fn, *args, **kw)
            if getattr(getattr(fn, "__self__", None), "name", "").endswith(POOL) and kw.get(
                "where"
            ):
                reads.append(("metadatas" in (kw.get("include") or ()), res["ids"]))
            return res

        monkeypatch.setattr(type(s), "_call", logged)
    scanned = [r.id for r in s.scan(agent, limit=100)]
    assert sorted(scanned) == sorted(current)
    if site.port is not None:
        with_metadata = [i for md, ids in reads if md for i in ids]
        mine = {r.id for n in ("moving", "moved") for r in recs[n]}
        assert with_metadata and set(with_metadata) <= mine, reads
    assert {r.id for r in s.scan(agent, limit=100, include_invalid=True)} == every
    from graphmem.stores import chroma_pool

    for unlisted_min in (10**9, 0):  # a small pool is listed; past UNLISTED_MIN, not
        monkeypatch.setattr(chroma_pool, "UNLISTED_MIN", unlisted_min)
        reads.clear()
        hits = s.query(agent, vec(1)[0], 100)
        assert sorted(r.id for r, _ in hits) == sorted(current)
        # unlisted, a query keeps the neighbours whose keys are in its scope
        assert bool(reads) == (site.port is not None and unlisted_min > 0)
        hits = s.query(agent, vec(1)[0], 100, include_invalid=True)
        assert sorted(r.id for r, _ in hits) == sorted(every)
    run = s.scan(Scope(agent_id="a", run_id="r1"), limit=100)
    assert {r.id for r in run} == {r.id for r in recs["pooled"][:2]}
    s.upsert([replace(recs["none"][2], invalid_at=None)], None)  # current again
    assert recs["none"][2].id in {r.id for r in s.scan(agent, limit=100)}


def test_a_collection_per_owner_data_dir_is_upgraded_on_open(site: Site) -> None:
    """A data dir (or a server) written with a collection per owner opens in the pooled
    layout: small owners move to the pool (their collections dropped), large ones keep
    theirs, every read answers as before, and a second open changes nothing."""
    recs, vecs = records(5, big=12)
    ids = [r.id for r in recs]
    old = site.store(0)
    old.upsert(recs, vecs)
    before = answers(old, ids)
    old_names = collections(old)
    old.close()
    assert len(old_names) > 6

    new = site.store(10)
    assert new.catalog is not None and new.catalog.version() == 3
    big = partition(SCOPES[3])
    assert collections(new) == {POOL, big, f"{big}-x"} and owned(new) == {big}
    assert answers(new, ids) == before
    new.close()
    again = site.store(10)
    assert answers(again, ids) == before


def test_a_read_only_open_does_not_upgrade(site: Site) -> None:
    recs, vecs = records(2, big=0)
    old = site.store(0)
    old.upsert(recs, vecs)
    names = collections(old)
    old.close()
    reader = site.store(10, upgrade=False)
    assert collections(reader) == names


def test_a_memory_written_with_a_collection_per_owner_reads_the_same_after_upgrade(
    site: Site, config: Any, embedder: Any, spacy_extractor: Any
) -> None:
    """A whole data dir or server (facts, entities, messages) of the older layout: search,
    get_all, get and history answer the same once it is opened, and upgraded, by today's
    code."""
    from graphmem import Memory

    if site.port is not None:
        server = {"chroma_host": "127.0.0.1", "chroma_port": site.port}
        config = config.model_copy(update={**server, "collection": site.prefix})
    base, path = config.collection, None if site.port else config.data_dir / "chroma"

    def old(name: str, space: Any = "cosine") -> ChromaVectorStore:
        port, family = site.port or 8000, embedder.family
        return ChromaVectorStore(path, config.chroma_host, port, name, family, space, 0, 0)

    given = {
        "vectors": old(base),
        "entity_vectors": old(base + "_entities"),
        "source_vectors": old(base + "_sources", "ip"),
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
        store = m.parts.vectors
        assert isinstance(store, ChromaVectorStore)
        names = {c.name for c in store._open().list_collections() if c.name.startswith(base)}
    names = {n for n in names if not n.endswith("-" + CATALOG)}
    # the entity names moved into the embedded graph store's file (``name_vectors``)
    assert names == {f"{base}-pool", f"{base}_sources-pool"}


def test_keyword_indexes_of_many_scopes_are_bounded(tmp_path: Path) -> None:
    """The in-process BM25 indexes are kept for the most recently searched scopes only, and
    one dropped is built again when its scope is searched again."""
    s = Site(tmp_path, None).store(50)
    users = [Scope(user_id=f"u{i}") for i in range(12)]
    recs = [FactRecord(fact_id(u), f"{u.user_id} plays chess in Lyon", u) for u in users]
    s.upsert(recs, np.random.default_rng(2).standard_normal((len(recs), DIM)).astype(np.float32))
    index = LexicalIndex(s, s, kept=3)
    found = [index.search("facts", u, "chess", 5) for u in users]
    assert [[i for i, _ in hits] for hits in found] == [[r.id] for r in recs]
    assert len(index._entries) == 3
    assert [i for i, _ in index.search("facts", users[0], "chess", 5)] == [recs[0].id]


def test_a_lost_catalog_is_read_back_from_the_collections(site: Site) -> None:
    """The catalog's listing is derived data: deleted, it is rebuilt from the pool and the
    owners' collections on the next open. An embedded catalog also holds the text of pooled
    records (``pool_rows``): those are lost with it, and reads leave them out; the records in
    collections of their own answer as before."""
    recs, vecs = records(3, big=10)
    ids = [r.id for r in recs]
    s = site.store(8)
    s.upsert(recs, vecs)
    before = answers(s, ids)
    big = partition(SCOPES[3])
    if isinstance(s.catalog, Catalog):
        path = s.catalog.path
        s.close()
        for f in path.parent.glob(path.name + "*"):
            f.unlink()
        kept = [n for n, r in enumerate(recs) if partition(r.scope) == big]
        alone = site.store(8, name="alone")  # what is left: the big owner's records only
        alone.upsert([recs[n] for n in kept], vecs[kept])
        before = answers(alone, ids)
    else:  # a server's: its marker collection (the pool's rows are the rest)
        s._cols.drop(s._name(CATALOG, False))
    again = site.store(8)
    assert owned(again) == {big}
    assert answers(again, ids) == before


def test_pooled_rows_keep_their_text_in_the_catalog(tmp_path: Path) -> None:
    """Embedded, a pooled row in Chroma holds the vector and the filtered keys only: its text,
    metadata JSON and source ids are the catalog's, and every read puts them back."""
    site = Site(tmp_path, None)
    recs, vecs = records(3, big=0)
    recs = [replace(r, source_ids=("s1", "s2")) for r in recs]
    s = site.store(8)
    s.upsert(recs, vecs)
    raw = s._cols.get(s._name(POOL, False))
    assert raw is not None
    res = raw.get(include=["documents", "metadatas"])
    assert len(res["ids"]) == len(recs)
    assert res["documents"] == [None] * len(recs)
    assert not [key for md in res["metadatas"] for key in md if key in MOVED]
    assert all("created_at" in md for md in res["metadatas"])
    got = {r.id: r for r in s.get([r.id for r in recs])}
    assert {i: (r.text, r.metadata, r.source_ids) for i, r in got.items()} == {
        r.id: (r.text, r.metadata, r.source_ids) for r in recs
    }
    s.delete([recs[0].id])
    assert isinstance(s.catalog, Catalog) and s.catalog.texts([recs[0].id]) == {}


def test_pooled_rows_of_the_older_layout_read_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data dir whose pooled rows hold their documents in Chroma (written before the catalog
    kept them) reads the same, and its records are updated and deleted as others."""
    site = Site(tmp_path, None)
    recs, vecs = records(3, big=0)
    ids = [r.id for r in recs]
    slim = site.store(8, name="slim")
    slim.upsert(recs, vecs)
    expected = answers(slim, ids)
    raw_col = ChromaVectorStore._col
    with monkeypatch.context() as m:  # the older layout: the pool's handle as Chroma's
        m.setattr(
            ChromaVectorStore,
            "_col",
            lambda st, part, archive=False, create=False: st._cols.get(
                st._name(part, archive), create
            ),
        )
        old = site.store(8)
        old.upsert(recs, vecs)
        old.close()
    assert ChromaVectorStore._col is raw_col
    s = site.store(8)
    assert isinstance(s.catalog, Catalog) and s.catalog.texts(ids) == {}
    assert answers(s, ids) == expected
    changed = [replace(r, text=r.text + " (changed)") for r in recs[:2]]
    for store in (s, slim):
        store.upsert(changed, vecs[:2])
        store.delete(ids[2:4])
    assert answers(s, ids) == answers(slim, ids)


@pytest.mark.parametrize(
    ("scored_max", "indexed_min", "unfiltered_max", "filter_fallback"),
    [(1, 500, 5000, False), (1, 500, 2, True), (2000, 1, 5000, False), (2000, 1, 2, False)],
)
def test_a_read_matching_many_pooled_records_searches_the_pool_index(
    site: Site,
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
    filter. On a server, a read without ``user_id`` or filters lists none of its rows: it
    keeps the neighbours whose keys are in its scope, and past ``UNFILTERED_MAX`` asks
    Chroma's filter. The same answers as scoring them here, whichever way."""
    from graphmem.stores import chroma_pool

    recs, vecs = records(3, big=0)
    ids = [r.id for r in recs]
    s = site.store(50)
    s.upsert(recs, vecs)
    scored = answers(s, ids)
    monkeypatch.setattr(chroma_pool, "SCORED_MAX", scored_max)
    monkeypatch.setattr(chroma_pool, "INDEXED_MIN", indexed_min)
    monkeypatch.setattr(chroma_pool, "UNFILTERED_MAX", unfiltered_max)
    monkeypatch.setattr(chroma_pool, "UNLISTED_MIN", 0)
    calls: list[Any] = []
    real = s._col(POOL).query
    monkeypatch.setattr(s._col(POOL), "query", lambda **kw: calls.append(kw) or real(**kw))
    assert answers(s, ids) == scored
    # restricted: by Chroma's filter, or (embedded: the catalog holds the scope) by ids
    unfiltered = [kw for kw in calls if kw.get("where") is None and kw.get("ids") is None]
    filtered = [kw for kw in calls if kw.get("where") is not None or kw.get("ids") is not None]
    fallback = [kw for kw in filtered if "'n'" not in str(kw.get("where"))]  # no filter given
    assert unfiltered  # the pool's index answered without a filter
    unlisted_fallback = site.port is not None and unfiltered_max == 2
    # the queries with filters, past SCORED_MAX (or an unlisted read past UNFILTERED_MAX)
    assert bool(filtered) == (scored_max == 1 or unlisted_fallback)
    assert bool(fallback) == (filter_fallback or unlisted_fallback)  # not answered unfiltered


def test_a_read_of_many_rows_asks_chroma_in_parts(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chroma binds each row of a ``get`` as one SQLite variable and fails past 32,766 (a
    keyword index of a 100k-fact scope reads them all): every get asks for ``GET_MAX`` rows at
    most, by id or by page, and the reads answer as in one part."""
    from chromadb.api.models.Collection import Collection

    from graphmem.stores import chroma_handles

    recs, vecs = records(4, big=30)
    ids = [r.id for r in recs]
    s = site.store(8)
    s.upsert(recs, vecs)
    whole = answers(s, ids)
    monkeypatch.setattr(chroma_handles, "GET_MAX", 7)
    asked: list[int] = []
    real = Collection.get

    def spy(col: Any, ids: Any = None, limit: Any = None, **kw: Any) -> Any:
        asked.append(len(ids) if ids is not None else limit if limit is not None else 10**9)
        return real(col, ids=ids, limit=limit, **kw)

    def query_spy(col: Any, ids: Any = None, **kw: Any) -> Any:
        asked.append(len(ids) if ids is not None else 0)
        return real_query(col, ids=ids, **kw)

    real_query = Collection.query
    monkeypatch.setattr(Collection, "get", spy)
    monkeypatch.setattr(Collection, "query", query_spy)
    assert answers(s, ids) == whole
    big = Scope(user_id="big")
    assert len(s.scan(big, limit=10**9, include_invalid=True)) == 34
    assert asked and max(asked) <= 7
    # a query of the pool restricted to more ids than that, asked in parts, answers the same
    from graphmem.stores import chroma_pool

    monkeypatch.setattr(chroma_pool, "SCORED_MAX", 1)
    monkeypatch.setattr(chroma_pool, "UNFILTERED_MAX", 2)
    assert answers(s, ids) == whole
    assert max(asked) <= 7


def chroma_reads(s: ChromaVectorStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls the store makes to Chroma from now on, by name."""
    calls: list[str] = []
    call = s._call

    def counted(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(what)
        return call(what, fn, *args, **kwargs)

    monkeypatch.setattr(s, "_call", counted)
    return calls


def scanned(s: ChromaVectorStore, scope: Scope, invalid: bool) -> list[tuple[str, str]]:
    recs = s.scan(scope, limit=10**6, include_invalid=invalid)
    return [(r.id, searchable(r.text, r.metadata)) for r in recs]


def keyword_hits(s: ChromaVectorStore, scan_only: bool) -> list[Any]:
    """Every scope's keyword hits (ids and exact scores), its index built from the catalog's
    texts or, if ``scan_only``, from the records ``scan`` reads."""
    index = LexicalIndex(s, s)
    if scan_only:
        index._stores = {"facts": _ScanOnly(s), "sources": _ScanOnly(s)}  # type: ignore[dict-item]
    return [
        index.search("facts", scope, query, 50, invalid)
        for scope in QUERIES
        for invalid in (False, True)
        for query in ("fact", "chess club 2", "coach fact 1")
    ]


class _ScanOnly:
    """A store's ``scan`` alone (no ``keyword_texts``)."""

    def __init__(self, s: ChromaVectorStore) -> None:
        self.scan = s.scan


def tied_records() -> tuple[list[FactRecord], Any]:
    """``records``, a title on some, and creation times tied in groups of three."""
    recs, vecs = records(3, big=10)
    when = [datetime(2025, 3, 1 + n // 3, tzinfo=UTC) for n in range(len(recs))]
    recs = [replace(r, created_at=w) for r, w in zip(recs, when)]
    recs[0] = replace(recs[0], metadata={TITLE_KEY: "Chess club", "n": 2})
    return recs, vecs


def test_a_keyword_index_reads_the_texts_a_scan_reads(site: Site) -> None:
    """``keyword_texts`` lists what ``scan`` reads (ids and searchable texts, in its order,
    ties as listed) when it can, else None (owners with collections of their own, a server
    catalog): a keyword search finds the same ids with the same scores either way."""
    recs, vecs = tied_records()
    s = site.store(8)
    s.upsert(recs, vecs)
    answered = 0
    for scope in QUERIES:
        for invalid in (False, True):
            found = s.keyword_texts(scope, invalid)
            assert found is None or found == scanned(s, scope, invalid)
            answered += found is not None
    assert answered == (0 if site.port else 10)  # "ana", "big" and "nobody": own collections
    assert keyword_hits(s, scan_only=False) == keyword_hits(s, scan_only=True)


def test_a_keyword_index_of_pooled_owners_reads_nothing_from_chroma(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Embedded, a scope whose records are all pooled has its keyword index built from the
    catalog's texts: Chroma is not read."""
    s = Site(tmp_path, None).store(50)
    recs, vecs = tied_records()
    s.upsert(recs, vecs)
    index = LexicalIndex(s, s)
    calls = chroma_reads(s, monkeypatch)
    hits = index.search("facts", Scope(agent_id="coach"), "fact", 50)
    assert hits and calls == []
    assert hits == keyword_hits(s, scan_only=True)[QUERIES.index(Scope(agent_id="coach")) * 6]


def test_texts_written_without_creation_times_are_read_from_chroma(tmp_path: Path) -> None:
    """A catalog whose ``texts`` table was made without creation times gains the column when
    a writer opens it (a read-only process leaves it as it is); its scopes' keyword indexes
    are read from Chroma as before (same hits), those of records written since from the
    catalog."""
    site = Site(tmp_path, None)
    recs, vecs = tied_records()
    s = site.store(50)
    s.upsert(recs, vecs)
    want = keyword_hits(s, scan_only=True)
    assert isinstance(s.catalog, Catalog)
    path = s.catalog.path
    s.close()
    db = sqlite3.connect(path)  # ``texts`` as first made
    db.execute("ALTER TABLE texts DROP COLUMN created")
    db.commit()
    db.close()
    reader = site.store(50, upgrade=False)  # a read-only process: the file as it is
    assert reader.keyword_texts(Scope(agent_id="coach"), False) is None
    assert keyword_hits(reader, scan_only=False) == want
    reader.close()
    assert "created" not in text_columns(path)
    s = site.store(50)
    assert "created" in text_columns(path)
    assert s.keyword_texts(Scope(agent_id="coach"), False) is None
    assert keyword_hits(s, scan_only=False) == want
    s.upsert(recs, vecs)  # written again: their creation times are kept
    assert s.keyword_texts(Scope(agent_id="coach"), False) == scanned(
        s, Scope(agent_id="coach"), False
    )
    assert keyword_hits(s, scan_only=False) == want


def text_columns(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    found = {row[1] for row in db.execute("PRAGMA table_info(texts)")}
    db.close()
    return found
