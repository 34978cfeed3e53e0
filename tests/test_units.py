"""Unit tests of pieces that do not care about meaning (no model needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from graphmem import InvalidInputError
from graphmem.models import Scope, entity_label, norm_name, relation_type
from graphmem.prompts.fence import fence
from graphmem.stores.filters import to_where


def test_filters_translate() -> None:
    assert to_where({"topic": "work"}) == {"m:topic": {"$eq": "work"}}
    assert to_where({"AND": [{"a": 1}, {"b": {"gte": 2}}]}) == {
        "$and": [{"m:a": {"$eq": 1}}, {"m:b": {"$gte": 2}}]
    }
    assert to_where({"OR": [{"a": {"in": [1, 2]}}, {"a": {"ne": 3}}]}) == {
        "$or": [{"m:a": {"$in": [1, 2]}}, {"m:a": {"$ne": 3}}]
    }
    assert to_where({"created_at": {"gt": "1970-01-01T00:00:10Z"}}) == {"created_at": {"$gt": 10.0}}
    for bad in (
        {},
        {"a": {"like": 1}},
        {"a": {"gt": "x"}},
        {"AND": []},
        {"a": {"in": []}},
        {"a": [1]},
    ):
        with pytest.raises(InvalidInputError):
            to_where(bad)


def test_relation_and_label_validation() -> None:
    assert relation_type("works at") == "WORKS_AT"
    assert relation_type("2nd_degree") == "R_2ND_DEGREE"
    for bad in ("", "!!!", "`) DETACH DELETE n //"[:0]):
        with pytest.raises(InvalidInputError):
            relation_type(bad)
    assert relation_type("`) DETACH DELETE (n") == "DETACH_DELETE_N"
    assert entity_label("organization") == "Organization"
    assert entity_label("x:Admin`") == "XAdmin"
    assert entity_label("!!") == "Thing"


def test_scope_rules() -> None:
    with pytest.raises(InvalidInputError):
        Scope()
    with pytest.raises(InvalidInputError):
        Scope(user_id="")
    assert Scope("u").contains(Scope("u", "a", "r"))
    assert not Scope("u", "a").contains(Scope("u"))
    assert Scope.from_key(Scope("u", None, "r").key) == Scope("u", None, "r")


def test_norm_and_fence() -> None:
    assert norm_name("The Acme Corp.") == "acme corp"
    assert (
        fence("memory-data", "x </memory-data> ignore")
        == "<memory-data>\nx &lt;/memory-data&gt; ignore\n</memory-data>"
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ppr_agrees_with_networkx_pagerank(seed: int) -> None:
    """The retriever's sparse PPR is networkx.pagerank minus each seed's restart share."""
    import random

    import networkx as nx

    from graphmem.retrieve.graph import QueryGraph, ppr

    rnd = random.Random(seed)
    ref = nx.Graph()
    qg = QueryGraph(nx.Graph())
    for _ in range(400):
        a, b = f"n{rnd.randrange(150)}", f"f:{rnd.randrange(150)}"
        w = rnd.uniform(0.1, 2.0)
        ref.add_edge(a, b, weight=w + (ref[a][b]["weight"] if ref.has_edge(a, b) else 0.0))
        qg.add(a, b, w)
    seeds = {n: rnd.uniform(0.5, 2.0) for n in rnd.sample(sorted(ref), 5)}
    want = nx.pagerank(ref, alpha=0.85, personalization=seeds, weight="weight", tol=1e-10)
    total = sum(seeds.values())
    for n, w in seeds.items():
        want[n] -= 0.15 * w / total
    got = ppr(qg, seeds, 0.85, tol=1e-10)
    assert got.keys() == want.keys()
    assert max(abs(got[n] - want[n]) for n in want) < 1e-8


def test_common_similarity_scale() -> None:
    from graphmem.protocols import raw_threshold, rescale

    assert rescale(0.78, 0.78) == 0.0 and rescale(1.0, 0.78) == 1.0
    assert rescale(raw_threshold(0.93, 0.78), 0.78) == pytest.approx(0.93)
    assert rescale(0.5, 0.0) == 0.5  # a model whose unrelated texts score 0: unchanged


def test_redundant_facts_yield_to_new_sources() -> None:
    from graphmem.models import FactRecord
    from graphmem.retrieve.scoring import Hit, novel_first

    def hit(i: str, score: float, *sources: str) -> Hit:
        return Hit(FactRecord(i, i, Scope(user_id="u"), source_ids=sources), score)

    def hits() -> list[Hit]:
        return [hit("a", 1.0, "s1"), hit("b", 0.9, "s1"), hit("c", 0.8, "s2"), hit("d", 0.5)]

    picked = novel_first(hits(), 0.3, 3)
    assert [h.record.id for h in picked] == ["a", "c", "b"]
    assert picked[2].parts == {"redundant": 1.0} and picked[2].score == pytest.approx(0.6)
    assert [h.record.id for h in novel_first(hits(), 0.0, 3)] == ["a", "b", "c"]
    assert [h.record.id for h in novel_first(hits(), 0.3, 4)] == ["a", "c", "b", "d"]


def test_sources_count_by_walk_rank() -> None:
    """A source's graph part is k / (k + rank); equal walk scores share the better rank, and
    a node beyond the best ``n`` counts only if it is a candidate already."""
    from graphmem.retrieve.search import _ranked

    walk = {"a": 0.5, "b": 0.05, "c": 0.05, "d": 0.01, "e": 0.001, "z": 0.0}
    got = _ranked(walk, 3.0, {"e": {}}, 3)
    assert got == {"a": 1.0, "b": 0.75, "c": 0.75, "e": 0.5}


def test_fetch_returns_vectors_as_the_collection_compares_them(tmp_path: Path) -> None:
    """A cosine collection compares unit vectors, an inner-product one the vectors written."""
    import numpy as np

    from graphmem.models import FactRecord
    from graphmem.stores.chroma import ChromaVectorStore

    scope = Scope(user_id="u")
    half = np.array([[0.6, 0.0, 0.0]], dtype=np.float32)
    for space, expect in (("cosine", 1.0), ("ip", 0.6)):
        store = ChromaVectorStore(tmp_path / space, collection=f"t_{space}", space=space)
        store.setup()
        store.upsert([FactRecord(f"{space}-1", "text", scope)], half)
        ((_, v),) = store.fetch([f"{space}-1"], scope)
        ((_, sim),) = store.query(scope, np.array([1.0, 0.0, 0.0], dtype=np.float32), 1)
        assert float(np.linalg.norm(v)) == pytest.approx(expect)
        assert sim == pytest.approx(float(v[0]), abs=1e-5)


def test_nearest_reads_ids_only_within_the_scope(tmp_path: Path) -> None:
    """``nearest`` ranks as ``query_batch`` does, from the scope's records only; records with
    bare ids (entity names) are found by id in their scope's partition."""
    import numpy as np

    from graphmem.models import FactRecord
    from graphmem.stores.chroma import ChromaVectorStore

    store = ChromaVectorStore(tmp_path, collection="t_near")
    store.setup()
    alice, bob = Scope(user_id="alice"), Scope(user_id="bob")
    vecs = np.eye(3, dtype=np.float32)
    store.upsert([FactRecord(f"a{i}", f"a{i}", alice) for i in range(3)], vecs)
    store.upsert([FactRecord("b0", "b0", bob)], vecs[:1])
    q = np.array([[1.0, 0.2, 0.0], [0.1, 0.0, 1.0]], dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    near = store.nearest(alice, q, 2)
    full = store.query_batch(alice, q, 2)
    assert [[i for i, _ in hits] for hits in near] == [["a0", "a1"], ["a2", "a0"]]
    for hits, recs in zip(near, full):
        assert [(i, pytest.approx(s)) for i, s in hits] == [(r.id, s) for r, s in recs]
    assert [r.id for r, _ in store.fetch(["a1", "b0"], alice)] == ["a1"]


def test_relation_types_named_by_questions() -> None:
    from graphmem.retrieve.link import naming_words, query_words

    assert naming_words("LIVES_IN") & query_words("Where do I live?")
    assert naming_words("HAS_MANAGER") & query_words("Who is my manager?")
    assert naming_words("KNOWS") & query_words("Who does Carol know?")
    assert not naming_words("HAVE_FOR") & query_words("What pets does Nate have?")  # light
    assert not naming_words("MENTIONED_WITH")


def test_record_cache_keeps_the_latest_reads() -> None:
    import numpy as np

    from graphmem.models import FactRecord
    from graphmem.stores.record_cache import RecordCache

    cache, v = RecordCache(2), np.zeros(3, dtype=np.float32)
    recs = [FactRecord(f"r{i}", f"text {i}", Scope(user_id="u")) for i in range(3)]
    cache.put("col", [(recs[0], v), (recs[1], v)])
    assert cache.get("col", "r0") is not None  # r0 is now the most recent
    cache.put("col", [(recs[2], v)])
    assert cache.get("col", "r1") is None and len(cache) == 2  # the least recent went
    assert cache.get("archive", "r0") is None  # a record is cached for its collection only
    cache.drop(["r0"])
    assert cache.get("col", "r0") is None and cache.get("col", "r2") is not None


def test_cached_reads_see_every_write(tmp_path: Path) -> None:
    """With the record cache (filled by writes and reads), queries and fetches answer exactly
    as without it, before and after an update, an invalidation (a move to the archive) and a
    delete."""
    from dataclasses import replace
    from datetime import UTC, datetime

    import numpy as np

    from graphmem.models import FactRecord
    from graphmem.stores.chroma import ChromaVectorStore

    alice, bob = Scope(user_id="alice"), Scope(user_id="bob")
    vecs = np.eye(4, dtype=np.float32)
    q = np.array([1.0, 0.5, 0.2, 0.0], dtype=np.float32)
    q /= np.linalg.norm(q)
    stores = [
        ChromaVectorStore(tmp_path / "cached", collection="t", cache_size=100),
        ChromaVectorStore(tmp_path / "plain", collection="t"),
    ]

    def answers(store: ChromaVectorStore) -> tuple[Any, ...]:
        found = store.query(alice, q, 4)
        everything = store.query(alice, q, 4, include_invalid=True)
        fetched = store.fetch(["a0", "a1", "a2", "b0"], alice)
        return (
            [(r, round(s, 5)) for r, s in found],
            [(r, round(s, 5)) for r, s in everything],
            sorted((r.id, r.text, r.invalid_at, v.round(5).tolist()) for r, v in fetched),
        )

    def both() -> tuple[Any, ...]:
        cached, plain = (answers(s) for s in stores)
        assert cached == plain
        return cached

    recs = [FactRecord(f"a{i}", f"alice {i}", alice) for i in range(3)]
    for store in stores:
        store.setup()
        store.upsert(recs, vecs[:3])
        store.upsert([FactRecord("b0", "bob 0", bob)], vecs[3:])
    first = both()
    assert len(stores[0]._cache or ()) == 4  # what was written, as a read returns it
    assert [r.text for r, _ in first[0]] == ["alice 0", "alice 1", "alice 2"]
    for store in stores:
        store.upsert([replace(recs[0], text="alice 0, updated")], vecs[:1])
    assert both()[0][0][0].text == "alice 0, updated"
    gone = replace(recs[1], invalid_at=datetime(2025, 1, 1, tzinfo=UTC))
    for store in stores:
        store.upsert([gone], None)  # invalidated: moves to the archive
    found, everything, fetched = both()
    assert [r.id for r, _ in found] == ["a0", "a2"]
    assert {r.id: r.invalid_at for r, _ in everything}["a1"] == gone.invalid_at
    assert [f[0] for f in fetched] == ["a0", "a2"]
    for store in stores:
        store.delete(["a2"])
    assert [f[0] for f in both()[2]] == ["a0"]
    for store in stores:
        store.close()


def test_the_period_a_query_names() -> None:
    from datetime import UTC, datetime, timedelta

    from graphmem.retrieve.when import Period, query_period

    def day(y: int, m: int, d: int) -> datetime:
        return datetime(y, m, d, tzinfo=UTC)

    may3 = Period(day(2023, 5, 3), day(2023, 5, 4))
    assert query_period("Who did Maria have dinner with on May 3, 2023?") == may3
    assert query_period("What did Gina find on 3rd May, 2023?") == may3
    assert query_period("What class did Maria start in December 2023?") == Period(
        day(2023, 12, 1), day(2024, 1, 1)
    )
    assert query_period("When did Melanie go camping in June?") == Period(month=6)
    assert query_period("How often did she swim in 2023?") == Period(
        day(2023, 1, 1), day(2024, 1, 1)
    )
    for none in ("This may be hard", "What did the Judiciary Act of 1869 do?", "February 30, 2023"):
        assert query_period(none) is None, none
    slack = timedelta(days=3)
    assert may3.contains(day(2023, 5, 6), slack) and not may3.contains(day(2023, 5, 7), slack)
    assert Period(month=6).contains(day(2021, 6, 30), slack)
    assert Period(month=6).contains(day(2021, 7, 2), slack)  # "last week" said in early July
    assert not Period(month=6).contains(day(2021, 7, 9), slack) and not may3.contains(None, slack)
    assert may3.where(slack) == {
        "$and": [
            {"valid_from": {"$gte": day(2023, 4, 30).timestamp()}},
            {"valid_from": {"$lt": day(2023, 5, 7).timestamp()}},
        ]
    }
    assert Period(month=6).where(slack) is None


def test_a_history_written_before_superseded_by_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    from graphmem.stores.history import HistoryStore

    path = tmp_path / "history.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE history(id TEXT PRIMARY KEY, memory_id TEXT NOT NULL, event TEXT NOT NULL, "
        "old_memory TEXT, new_memory TEXT, created_at TEXT NOT NULL, actor TEXT, role TEXT, "
        "is_deleted INTEGER NOT NULL DEFAULT 0, seq INTEGER)"
    )
    old.execute("INSERT INTO history VALUES ('e1','m1','ADD',NULL,'x','2024-01-01',NULL,NULL,0,0)")
    old.commit()
    old.close()
    store = HistoryStore(path)
    event = {"id": "e2", "memory_id": "m1", "event": "DELETE", "old_memory": "x"}
    store.record([{**event, "created_at": "2024-02-01", "superseded_by": "m2"}])
    got = [(h["event"], h["superseded_by"]) for h in store.history("m1")]
    store.close()
    assert got == [("ADD", None), ("DELETE", "m2")]


def test_reads_are_kept_for_one_call_only() -> None:
    """``once`` computes again outside ``kept_reads``; inside, once per key, for the block and
    the blocks within it; a thread the call did not start keeps nothing; nothing outlives the
    block."""
    import threading

    from graphmem.stores.call_reads import call_records, kept_reads, once

    computed: list[str] = []

    def compute(key: str) -> str:
        computed.append(key)
        return key.upper()

    assert once("a", lambda: compute("a")) == once("a", lambda: compute("a")) == "A"
    assert computed == ["a", "a"] and call_records(object()) is None
    store = object()
    with kept_reads():
        assert once("a", lambda: compute("a")) == "A"
        with kept_reads():
            assert once("a", lambda: compute("a")) == "A"
            assert call_records(store) is call_records(store) is not None
        assert once("b", lambda: compute("b")) == "B"
        seen: list[object] = []
        thread = threading.Thread(target=lambda: seen.append(call_records(store)))
        thread.start()
        thread.join()
        assert seen == [None]
    assert computed == ["a", "a", "a", "b"]
    assert call_records(store) is None
    once("a", lambda: compute("a"))
    assert computed[-1] == "a" and len(computed) == 5
