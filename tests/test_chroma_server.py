"""The same Memory behaviour against a real `chroma run` server (HttpClient mode)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sites import free_port

from graphmem import BackendError, Config, Memory
from graphmem.models import FactRecord, Scope, fact_id, now, partition
from graphmem.stores.chroma import ChromaVectorStore

pytestmark = pytest.mark.chroma_server


def test_memory_over_chroma_server(
    chroma_server: int, tmp_path: Path, embedder: Any, spacy_extractor: Any
) -> None:
    cfg = Config.load(
        {
            "data_dir": tmp_path,
            "extractor": "offline",
            "chroma_host": "127.0.0.1",
            "chroma_port": chroma_server,
            "collection": "srv_test",
        }
    )
    with Memory(cfg, embedder=embedder, offline=spacy_extractor) as m:
        m.add("I live in Hamburg. My manager Bob works at Acme.", user_id="alice")
        m.add("I live in Oslo.", user_id="bob")
        out = m.add("I moved to Berlin.", user_id="alice")
        assert sorted(r["event"] for r in out["results"]) == ["ADD", "DELETE"]
        res = m.search("Where do I live?", user_id="alice")
        found = [r["memory"] for r in res["results"]]
        assert "I moved to Berlin." in found and "I live in Hamburg." not in found
        assert all("Oslo" not in r["memory"] for r in res["results"])
        assert not (tmp_path / "chroma").exists()  # nothing embedded: all in the server
        m.reset()


def test_a_write_asks_the_server_only_what_its_read_did_not(
    chroma_server: int,
    tmp_path: Path,
    embedder: Any,
    spacy_extractor: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new user's add_many: the facts store (read by reconciliation) routes its write by
    what that read found and counts the user's pooled records from it, so it asks the server
    only for its write and for the moves begun meanwhile (``chroma_move.settle``); the source
    store, read by nothing, asks before it writes too. The user moves out of the pool once
    past the limit all the same. (With the embedded graph, entity names are in its file.)"""
    import httpx

    cfg = Config.load(
        {
            "data_dir": tmp_path,
            "extractor": "offline",
            "chroma_host": "127.0.0.1",
            "chroma_port": chroma_server,
            "collection": f"rt{uuid.uuid4().hex[:10]}",
            "vector_pool_limit": 6,
        }
    )
    with Memory(cfg, embedder=embedder, offline=spacy_extractor) as m:
        m.add("I live in Lyon.", user_id="warm")  # the collections exist from here on
        p = m.parts
        assert not isinstance(p.entity_vectors, ChromaVectorStore)
        stores = {"facts": p.vectors, "sources": p.source_vectors}
        calls: dict[str, list[str]] = {name: [] for name in stores}
        for name, store in stores.items():

            def call(what: str, *args: Any, _name: str = name, _s: Any = store, **kw: Any) -> Any:
                calls[_name].append(what)
                return type(_s)._call(_s, what, *args, **kw)

            monkeypatch.setattr(store, "_call", call)
        requests: list[str] = []
        send = httpx.Client.send

        def counted(self: Any, request: Any, *args: Any, **kw: Any) -> Any:
            requests.append(f"{request.method} {request.url.path}")
            return send(self, request, *args, **kw)

        monkeypatch.setattr(httpx.Client, "send", counted)
        texts = ["I work at Globex.", "My sister Ana lives in Porto.", "I play the cello."]
        m.add_many(texts, user_id="new", agent_id="helper")
        read_then_write = ["get", "get", "upsert", "get"]  # ownership, pooled ids | write, moves
        assert calls == {
            "facts": read_then_write,
            "sources": ["get", "upsert", "get", "get"],  # ownership | write, moves, its count
        }
        assert len(requests) == 8, requests

        more = ["I drive a red Volvo.", "I love Thai curry.", "I grew up in Turin."]
        m.add_many(more, user_id="new", agent_id="helper")
        vectors = p.vectors
        assert isinstance(vectors, ChromaVectorStore) and vectors.catalog is not None
        part = partition(Scope("new"))
        assert vectors.catalog.states([part]) == {}  # 6 facts: within the limit
        m.add_many(["I studied law at Leeds."], user_id="new", agent_id="helper")
        assert vectors.catalog.states([part]) == {part: True}  # 7: moved
        found = m.get_all(user_id="new")["results"]
        assert sorted(r["memory"] for r in found) == sorted(
            [*texts, *more, "I studied law at Leeds."]
        )


def test_unreachable_server_is_a_backend_error(
    tmp_path: Path, embedder: Any, spacy_extractor: Any
) -> None:
    cfg = Config.load(
        {
            "data_dir": tmp_path,
            "extractor": "offline",
            "chroma_host": "127.0.0.1",
            "chroma_port": free_port(),
        }
    )
    with pytest.raises(BackendError, match="chroma"):
        Memory(cfg, embedder=embedder, offline=spacy_extractor).get_all(user_id="alice")


ADD_IN_ANOTHER_PROCESS = """
import json, sys
from graphmem import Config, Memory
with Memory(Config.load(json.loads(sys.argv[1]))) as m:
    print(json.dumps(m.add(sys.argv[2], user_id=sys.argv[3])["results"]))
"""


@pytest.mark.neo4j
def test_processes_on_servers_write_one_memory_and_read_it_fresh(
    chroma_server: int, tmp_path: Path, embedder: Any, spacy_extractor: Any
) -> None:
    """Neo4j and a Chroma server: no process owns the data dir (the history in it is shared),
    and a process sees another's writes in every preset, BM25 (an index per process) too."""
    user = f"servers-{uuid.uuid4().hex}"
    settings = {
        "data_dir": str(tmp_path),
        "extractor": "offline",
        "graph_store": "neo4j",
        "neo4j_uri": Config.load().neo4j_uri,
        "chroma_host": "127.0.0.1",
        "chroma_port": chroma_server,
        "collection": "two_procs",
    }
    with Memory(Config.load(settings), embedder=embedder, offline=spacy_extractor) as m:
        try:
            m.add("Bob works at Acme Robotics.", user_id=user)
            assert [r["memory"] for r in m.search("Acme", user_id=user, config="bm25")["results"]]
            args = [json.dumps(settings), "Carol lives in Lisbon.", user]
            code = ADD_IN_ANOTHER_PROCESS
            subprocess.run([sys.executable, "-c", code, *args], check=True, env=os.environ)
            for cfg in ("bm25", "dense", "hybrid"):
                found = m.search("Where does Carol live? Lisbon", user_id=user, config=cfg)
                top = [r["memory"] for r in found["results"]][:1]
                assert top == ["Carol lives in Lisbon."], cfg
            hybrid = m.search("Where does Carol live?", user_id=user)
            assert ("Carol", "LIVES_IN", "Lisbon") in {
                (r["source"], r["relationship"], r["target"]) for r in hybrid["relations"]
            }
        finally:
            m.delete_all(user_id=user)


def test_a_collection_another_client_dropped_is_found_again(
    chroma_server: int, embedder: Any
) -> None:
    """Two stores on one server, as two processes: after one drops the collections (``reset``)
    the other's every call succeeds and finds nothing, and its write creates them again."""

    def store() -> ChromaVectorStore:
        s = ChromaVectorStore(None, "127.0.0.1", chroma_server, name, embedder.family)
        s.setup()
        return s

    name, alice, bob = f"drop-{uuid.uuid4().hex[:8]}", Scope("alice"), Scope("bob")
    a, b = store(), store()
    recs = [FactRecord(fact_id(s), f"{s.user_id} lives in Oslo.", s) for s in (alice, bob)]
    vecs = embedder.embed([r.text for r in recs])
    a.upsert(recs, vecs)
    a.upsert([replace(recs[1], invalid_at=now())], None)  # bob's record moves to the archive
    for scope, rec in zip((alice, bob), recs):  # b now holds handles of every collection
        assert [r.id for r, _ in b.query(scope, vecs[0], 5, include_invalid=True)] == [rec.id]
    a.reset()
    for scope, rec in zip((alice, bob), recs):
        assert b.query(scope, vecs[0], 5, include_invalid=True) == []
        assert b.query_batch(scope, vecs, 5) == [[], []]
        assert b.nearest(scope, vecs, 5) == [[], []]
        assert b.get([rec.id]) == [] and b.fetch([rec.id], scope, include_invalid=True) == []
        assert b.scan(scope, include_invalid=True) == []
        b.delete([rec.id])
        assert b.delete_scope(scope) == []
    b.upsert(recs[:1], vecs[:1])  # a write creates the collection again
    assert [r.id for r in a.scan(alice)] == [recs[0].id]
    assert [r.id for r in b.get([recs[0].id])] == [recs[0].id]
    b.reset()
    a.reset()  # what another client dropped first is no error
    assert a.scan(alice) == b.scan(alice) == []


def test_a_read_that_a_concurrent_delete_broke_is_made_again(
    chroma_server: int, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server looks a row and its vector up apart, so a read by id that another client's
    delete overtakes fails with Chroma's "Error finding id" (about 1 in 1,000 such reads,
    measured): the store reads again. A write that fails so is not made again."""
    from chromadb.errors import InternalError

    s = ChromaVectorStore(None, "127.0.0.1", chroma_server, f"raced-{uuid.uuid4().hex[:8]}")
    alice = Scope("alice")
    rec = FactRecord(fact_id(alice), "Alice lives in Oslo.", alice)
    s.upsert([rec], embedder.embed([rec.text]))
    handle = s._col("pool")
    col, fails = handle._col, iter([True])
    real_get, real_upsert = col.get, col.upsert

    def get(**kwargs: Any) -> Any:
        if next(fails, False):
            raise InternalError("Error executing plan: Internal error: Error finding id")
        return real_get(**kwargs)

    monkeypatch.setattr(col, "get", get)
    assert [(r.id, r.text) for r, _ in s.fetch([rec.id], alice)] == [(rec.id, rec.text)]
    fails = iter([True])

    def upsert(**kwargs: Any) -> Any:
        if next(fails, False):
            raise InternalError("Error executing plan: Internal error: Error finding id")
        return real_upsert(**kwargs)

    monkeypatch.setattr(col, "upsert", upsert)
    with pytest.raises(BackendError, match="Error finding id"):
        s.upsert([rec], embedder.embed([rec.text]))


@pytest.mark.parametrize("unlisted_min", [None, 0])
def test_a_search_on_a_server_reads_each_record_once(
    chroma_server: int,
    tmp_path: Path,
    embedder: Any,
    spacy_extractor: Any,
    monkeypatch: pytest.MonkeyPatch,
    unlisted_min: int | None,
) -> None:
    """A server store keeps no records between calls, but one search keeps what it read
    (``call_reads``): the user's (or the agent's) pooled records are looked up once per store
    and each is read once, with its vector, though the keyword index, the dense ranking and
    the hop queries all need them. The answer is the one the search gave reading them again.
    Past ``UNLISTED_MIN`` pooled rows, an agent's dense ranking finds its records by their
    keys as the pool's index answers, and still reads each once."""
    from graphmem import memory as memory_module
    from graphmem.stores import chroma_pool

    if unlisted_min is not None:
        monkeypatch.setattr(chroma_pool, "UNLISTED_MIN", unlisted_min)

    cfg = Config.load(
        {
            "data_dir": tmp_path,
            "extractor": "offline",
            "chroma_host": "127.0.0.1",
            "chroma_port": chroma_server,
            "collection": f"once{uuid.uuid4().hex[:10]}",
        }
    )
    texts = ["I live in Lyon.", "My sister Ana lives in Porto.", "I work at Globex with Bob."]
    with Memory(cfg, embedder=embedder, offline=spacy_extractor) as m:
        for user, agent in (("alice", "helper"), ("carol", "helper2")):
            m.add_many(texts, user_id=user, agent_id=agent)
        log: list[tuple[str, str, tuple[str, ...], str, tuple[str, ...]]] = []
        for store in (m.parts.vectors, m.parts.source_vectors):

            def call(what: str, fn: Any, *args: Any, _s: Any = store, **kw: Any) -> Any:
                name = getattr(getattr(fn, "__self__", None), "name", "")
                ids = tuple(kw.get("ids") or ())
                where = json.dumps(kw["where"], sort_keys=True) if kw.get("where") else ""
                log.append((what, name, tuple(kw.get("include") or ()), where, ids))
                return type(_s)._call(_s, what, fn, *args, **kw)

            monkeypatch.setattr(store, "_call", call)

        def searched(**scope: str) -> list[tuple[str, float]]:
            log.clear()
            res = m.search("Where does Ana live?", limit=5, **scope)
            return [(r["memory"], round(r["score"], 6)) for r in res["results"]]

        kept = {"user": searched(user_id="alice"), "agent": searched(agent_id="helper")}
        for scope in ({"user_id": "carol"}, {"agent_id": "helper2"}):  # each searched first
            assert searched(**scope)[0][0] == "My sister Ana lives in Porto."
            pools = [e[1] for e in log if e[1].endswith("-pool")]
            lookups = [(e[1], e[3]) for e in log if e[1].endswith("-pool") and e[3]]
            assert len(lookups) == len(set(lookups)), log  # none asked twice
            assert {name for name, _ in lookups} == set(pools) and len(set(pools)) == 2, log
            if unlisted_min == 0 and "agent_id" in scope:  # the keyword index lists them,
                by_keys = [e for e in log if e[0] == "query" and "metadatas" in e[2]]
                assert by_keys and not any(e[3] for e in by_keys), log  # the queries do not
            read = [i for e in log if "documents" in e[2] for i in e[4]]
            assert len(read) == len(set(read)) == 6, log  # 3 facts, 3 messages
        monkeypatch.setattr(memory_module, "kept_reads", contextlib.nullcontext)
        again = {"user": searched(user_id="alice"), "agent": searched(agent_id="helper")}
        assert again == kept
        assert len([e for e in log if e[3]]) > 2  # without: the lookups are made again


#: the statement by which Chroma filters a collection by one metadata value (chromadb 1.x)
FILTER = (
    "SELECT e.embedding_id FROM embeddings e WHERE e.segment_id = ? AND e.id IN "
    "(SELECT id FROM embedding_metadata WHERE key = 'part' AND string_value = ?)"
)


def _filter_plan(file: Path) -> str:
    import sqlite3

    db = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        rows = db.execute(f"EXPLAIN QUERY PLAN {FILTER}", ("s", "p")).fetchall()
    finally:
        db.close()
    return " | ".join(str(r[-1]) for r in rows)


def test_chroma_analyze_makes_an_owners_lookup_read_by_id(tmp_path: Path) -> None:
    """Chroma never gathers SQLite's planner statistics, so its filter by one owner reads
    every record of the pool; ``graphmem chroma-analyze`` on a running server's directory
    gives them, after which SQLite looks the owner's records up by id. The server answers
    the same before and after, and takes writes."""
    import numpy as np
    from sites import chroma_run
    from typer.testing import CliRunner

    from graphmem.cli import app

    path = tmp_path / "chroma"
    runner = CliRunner()
    rng = np.random.default_rng(0)
    with chroma_run(path) as port:
        empty = runner.invoke(app, ["chroma-analyze", str(path)])
        assert empty.exit_code == 1 and "no records yet" in empty.output
        store = ChromaVectorStore(None, "127.0.0.1", port, "stats", pool_limit=50)
        store.setup()
        scopes = [Scope(user_id=f"user{u}", agent_id=f"agent{u % 3}") for u in range(40)]
        recs = [
            FactRecord(fact_id(s), f"{s.user_id} fact {i}", s) for s in scopes for i in range(5)
        ]
        store.upsert(recs, rng.standard_normal((len(recs), 8)).astype(np.float32))
        assert store.catalog is not None
        before = {s.user_id: store.catalog.ids(s) for s in scopes[:5]}
        assert "segment_id=?" in _filter_plan(path / "chroma.sqlite3")  # the whole pool

        res = runner.invoke(app, ["chroma-analyze", str(path), "--json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.output)
        assert out["ready"] and out["records"] >= len(recs)
        plan = _filter_plan(path / "chroma.sqlite3")
        assert "INTEGER PRIMARY KEY" in plan and "segment_id=?" not in plan, plan

        assert {s.user_id: store.catalog.ids(s) for s in scopes[:5]} == before
        late = FactRecord(fact_id(scopes[0]), "user0 fact late", scopes[0])
        store.upsert([late], rng.standard_normal((1, 8)).astype(np.float32))
        assert late.id in store.catalog.ids(scopes[0])[partition(scopes[0])]
        store.close()
    missing = runner.invoke(app, ["chroma-analyze", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "no Chroma database" in missing.output
