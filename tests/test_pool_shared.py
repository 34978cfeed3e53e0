"""A pooled vector store written by several clients at once: two stores on one `chroma run`
server stand for two processes (embedded, one store for two threads of its one process), whose
writes of one owner in different scopes (user X with agent A, user X with agent B) do not
wait for each other. A move of the owner out of the pool must lose, undo or bring back
nothing, whatever the other one does meanwhile. The interleavings are forced (a call of one
client runs inside a call of the other)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sites import Site

from graphmem import Config, Memory
from graphmem.errors import BackendError
from graphmem.models import FactRecord, Scope, fact_id, now, partition
from graphmem.stores.chroma import ChromaVectorStore
from graphmem.stores.chroma_pool import POOL

DIM = 8
USER = "xu"
A, B = Scope(USER, "a"), Scope(USER, "b")
PART = partition(A)


def facts(scope: Scope, n: int, start: int = 0) -> list[FactRecord]:
    return [FactRecord(fact_id(scope), f"{scope.key} fact {start + i}", scope) for i in range(n)]


def vectors(n: int, seed: int = 0) -> Any:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def pair(site: Site) -> tuple[ChromaVectorStore, ChromaVectorStore]:
    """Two clients of one store: two processes on a server; embedded, where one process
    owns the data dir, two threads of it share one store."""
    a = site.store(4, name="x")
    return a, (site.store(4, name="x") if site.port is not None else a)


def seen(s: ChromaVectorStore, include_invalid: bool = False) -> list[str]:
    """The ids of the user's records that ``s`` reads, sorted (a record read twice, twice)."""
    scope = Scope(USER)
    scanned = [r.id for r in s.scan(scope, limit=1000, include_invalid=include_invalid)]
    queried = [r.id for r, _ in s.query(scope, vectors(1, 9)[0], 1000, None, include_invalid)]
    assert sorted(queried) == sorted(scanned)
    return sorted(scanned)


def pooled(s: ChromaVectorStore, recs: list[FactRecord]) -> list[str]:
    """Which of ``recs`` the pool holds."""
    col = s._col(POOL)
    return [] if col is None else list(col.get(ids=[r.id for r in recs])["ids"])


def test_a_write_that_did_not_see_the_move_is_moved_by_its_writer(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B looks up where the user's records go, then A moves the user out of the pool, then
    B writes to the pool as it found: B moves its record after it, and both read it."""
    a, b = pair(site)
    assert b.catalog is not None
    first, late, last = facts(A, 4), facts(B, 1), facts(A, 1, start=4)
    a.upsert(first, vectors(4))
    looked = b.catalog.states

    def stale(parts: Any = None) -> dict[str, bool]:
        found = looked(parts)
        monkeypatch.setattr(b.catalog, "states", looked)  # once
        a.upsert(last, vectors(1, 1))  # A moves the user meanwhile
        assert a.catalog is not None and a.catalog.states() == {PART: True}
        return found  # what B saw: pooled

    monkeypatch.setattr(b.catalog, "states", stale)
    b.upsert(late, vectors(1, 2))
    every = sorted(r.id for r in first + late + last)
    assert seen(a) == seen(b) == every
    assert pooled(a, first + late + last) == []
    assert late[0].id in a._col(PART).get()["ids"]


def test_a_record_deleted_while_its_owner_moves_stays_deleted(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B deletes a record after A's move read it from the pool and before A copies it: the
    copy is deleted too."""
    a, b = pair(site)
    recs = facts(A, 3) + facts(B, 1)
    victim = recs[3]
    a.upsert(recs[:3], vectors(3))
    read = a._read

    def read_then_delete(col: Any, ids: list[str], where: Any = None) -> Any:
        got = read(col, ids, where)
        monkeypatch.setattr(a, "_read", read)  # once: the move's read of the pool
        assert victim.id in ids
        b.delete([victim.id])
        return got

    b.upsert([victim], vectors(1, 1))  # pooled: the user has 4 records
    monkeypatch.setattr(a, "_read", read_then_delete)
    more = facts(A, 1, start=3)
    a.upsert(more, vectors(1, 2))  # A's write finds 5 > 4: the move
    every = sorted(r.id for r in recs[:3] + more)
    assert seen(a, True) == seen(b, True) == every
    for archive in (False, True):
        assert victim.id not in a._col(PART, archive, create=True).get()["ids"]


def test_a_record_deleted_after_another_move_finished_stays_deleted(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A's move reads the pool; B's write of the moving user moves it all and records it
    moved, then B deletes a record; A's move copies what it read: the copy is deleted."""
    a, b = pair(site)
    recs = facts(A, 3) + facts(B, 1)
    victim = recs[3]
    a.upsert(recs[:3], vectors(3))
    b.upsert([victim], vectors(1, 1))
    read, later = a._read, facts(B, 1, start=1)

    def read_then_overtake(col: Any, ids: list[str], where: Any = None) -> Any:
        got = read(col, ids, where)
        monkeypatch.setattr(a, "_read", read)  # once: A's move's read of the pool
        b.upsert(later, vectors(1, 3))  # B's write of the moving user moves it first
        assert b.catalog is not None and b.catalog.states() == {PART: True}
        b.delete([victim.id])
        return got

    monkeypatch.setattr(a, "_read", read_then_overtake)
    more = facts(A, 1, start=3)
    a.upsert(more, vectors(1, 2))  # 5 > 4: A's move
    every = sorted(r.id for r in recs[:3] + more + later)
    assert seen(a, True) == seen(b, True) == every
    assert victim.id not in a._col(PART).get()["ids"]


def test_a_delete_that_began_before_the_move_stays_deleted(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B's delete finds the record pooled; A's move then copies it before B deletes it from
    the pool: B deletes the copy as well."""
    a, b = pair(site)
    assert b.catalog is not None
    recs = facts(A, 3) + facts(B, 1)
    victim = recs[3]
    a.upsert(recs[:3], vectors(3))
    b.upsert([victim], vectors(1, 1))
    more = facts(A, 1, start=3)
    drop = b.catalog.drop

    def move_then_drop(ids: Any) -> None:
        monkeypatch.setattr(b.catalog, "drop", drop)  # once
        a.upsert(more, vectors(1, 2))  # A moves the user, the victim with it
        assert a.catalog is not None and a.catalog.states() == {PART: True}
        assert victim.id in a._col(PART).get()["ids"]
        drop(ids)

    monkeypatch.setattr(b.catalog, "drop", move_then_drop)
    b.delete([victim.id])
    every = sorted(r.id for r in recs[:3] + more)
    assert seen(a, True) == seen(b, True) == every
    assert victim.id not in a._col(PART).get()["ids"]


def test_an_update_while_the_move_is_interrupted_is_not_undone(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A's move stops after copying (the pool and the owner's collections both hold the
    records); B then invalidates one of them, which goes to the owner's collections, and its
    own completion of the move stops too: every read, by scope or by id, takes the owner's
    newer copy, not the pooled one. The next write completes the move without bringing the
    pooled copy back, and a move again changes nothing."""
    a, b = pair(site)
    assert a.catalog is not None and b.catalog is not None
    recs = facts(A, 5)
    a.upsert(recs[:4], vectors(4))

    def fail(ids: Any) -> set[str]:
        raise BackendError("connection reset")

    with monkeypatch.context() as patch:
        patch.setattr(a.catalog, "dropped", fail)
        with pytest.raises(BackendError):
            a.upsert(recs[4:], vectors(1, 1))
    assert a.catalog.states() == {PART: False} and len(pooled(a, recs)) == 5
    assert seen(b) == sorted(r.id for r in recs)  # each once
    with monkeypatch.context() as patch:
        patch.setattr(b.catalog, "dropped", fail)
        with pytest.raises(BackendError):
            b.upsert([replace(recs[0], invalid_at=now())], None)
    assert a.catalog.states() == {PART: False} and len(pooled(a, recs)) == 5
    current = sorted(r.id for r in recs[1:])
    for s in (a, b):
        assert seen(s) == current and seen(s, True) == sorted(r.id for r in recs)
        assert s.get([recs[0].id], include_invalid=False) == []
        assert [r.invalid_at is not None for r in s.get([recs[0].id])] == [True]
        assert s.fetch([recs[0].id], A) == []
    b.upsert(facts(B, 1), vectors(1, 2))  # completes the move
    assert a.catalog.states() == {PART: True} and pooled(a, recs) == []
    assert seen(a) == seen(b) and len(seen(a)) == len(current) + 1
    assert seen(a, True) == sorted([*seen(a), recs[0].id])
    a.catalog.own(PART)  # a move again: nothing left to move
    assert a.catalog.states() == {PART: True}
    assert seen(a, True) == sorted([*seen(a), recs[0].id])


@pytest.mark.chroma_server
def test_two_memories_on_one_server_write_one_user_across_its_move(
    chroma_server: int, tmp_path: Path, embedder: Any, spacy_extractor: Any
) -> None:
    """Two Memory objects (each with a graph of its own, as on two machines) on one Chroma
    server add one user's memories at once, under two agents, past the pool's limit: each
    reads all of them afterwards, and the pool keeps none of the user's."""
    collection = f"sh{uuid.uuid4().hex[:10]}"

    def memory(name: str) -> Memory:
        cfg = Config.load(
            {
                "data_dir": tmp_path / name,
                "extractor": "offline",
                "chroma_host": "127.0.0.1",
                "chroma_port": chroma_server,
                "collection": collection,
                "vector_pool_limit": 5,
            }
        )
        return Memory(cfg, embedder=embedder, offline=spacy_extractor)

    texts = {
        "a": [f"I keep {n} beehives in the orchard." for n in range(3, 11)],
        "b": [f"My cousin owns {n} sailing boats in Brest." for n in range(3, 11)],
    }
    errors: list[BaseException] = []
    with memory("a") as ma, memory("b") as mb:

        def write(m: Memory, agent: str) -> None:
            try:
                for text in texts[agent]:
                    m.add(text, user_id=USER, agent_id=agent, infer=False)
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=write, args=(m, n)) for m, n in ((ma, "a"), (mb, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        every = sorted(texts["a"] + texts["b"])
        for m in (ma, mb):
            assert sorted(r["memory"] for r in m.get_all(user_id=USER)["results"]) == every
            hits = m.search("How many boats does my cousin own?", user_id=USER, agent_id="b")
            assert hits["results"] and "sailing boats" in hits["results"][0]["memory"]
        store = ma.parts.vectors
        assert isinstance(store, ChromaVectorStore) and store.catalog is not None
        assert store.catalog.states([partition(Scope(USER))]) == {partition(Scope(USER)): True}
        assert store.catalog.ids(Scope(USER), include_invalid=True) == {}
