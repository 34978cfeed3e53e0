"""Export and import: the round trip embedded → file → Neo4j + a Chroma server → file →
embedded keeps everything; an import is idempotent, checked whole before it writes, and goes
through the journal; a scoped export holds nothing of other scopes. Real stores throughout."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from graphmem import BackendError, Config, ExportFileError, Memory
from graphmem.cli import app
from graphmem.models import Scope
from graphmem.stores.networkx_store import NetworkXGraphStore
from graphmem.transfer.schema import pack

OWNERS = [Scope(user_id="alice"), Scope(user_id="bob"), Scope(agent_id="ops"), Scope(run_id="r1")]
QUERIES = [
    ("Where do I live?", {"user_id": "alice"}),
    ("Who is my manager and where does he work?", {"user_id": "alice"}),
    ("Which novel did Frank Herbert write?", {"user_id": "alice"}),
    ("What did the book teach me?", {"user_id": "alice"}),
    ("What do I drink?", {"user_id": "alice"}),
    ("What do I drink?", {"agent_id": "helper"}),
    ("Who works at Globex?", {"user_id": "bob"}),
    ("When do I play chess?", {"user_id": "bob"}),
    ("When does the deploy run?", {"agent_id": "ops"}),
    ("Which step failed?", {"run_id": "r1"}),
]


def fill(m: Memory) -> list[str]:
    """Memories of several owners: superseded ones, an update, a delete, titled passages,
    a message read with its context, metadata and event times. The ids of deleted ones."""
    m.add(
        "I live in Hamburg. My manager Bob works at Acme.",
        user_id="alice",
        metadata={"topic": "work"},
        timestamp="2024-01-05T10:00:00Z",
    )
    m.add("I moved to Berlin.", user_id="alice", timestamp="2024-03-01T09:00:00Z")
    m.add_many(
        [
            {"messages": "Dune is a novel by Frank Herbert.", "title": "Dune"},
            {
                "messages": [{"role": "assistant", "content": "It taught me patience."}],
                "context": "I finished reading Dune last week.",
            },
        ],
        user_id="alice",
    )
    m.add("I drink green tea every morning.", user_id="alice", agent_id="helper")
    m.add("Carol knows Dave. Dave works at Globex.", user_id="bob")
    chess = m.add("I play chess on Sundays.", user_id="bob")["results"][0]["id"]
    m.update(chess, "I play chess on Saturdays.")
    gone = m.add("My locker code is 4711.", user_id="bob")["results"][0]["id"]
    m.delete(gone)
    m.add("The deploy runs at noon.", agent_id="ops")
    m.add("Step two failed with a timeout.", run_id="r1")
    return [gone]


def snapshot(m: Memory, deleted: list[str]) -> dict[str, Any]:
    """What the stores hold of ``OWNERS``, read through the store protocols."""
    p, out = m.parts, {}
    for q in OWNERS:
        facts = sorted(p.vectors.scan(q, None, 10**9, True), key=lambda r: r.id)
        ids = [f.id for f in facts]
        sources = sorted(p.source_vectors.scan(q, None, 10**9, True), key=lambda r: r.id)
        entities = sorted(p.graph.entities(q), key=lambda e: e.id)
        names = p.entity_vectors.get([e.id for e in entities], q)
        out[q.key] = {
            "facts": facts,
            "entities": entities,
            "relations": sorted(p.graph.relations(q, include_invalid=True), key=lambda r: r.id),
            "mentions": sorted(p.graph.mentions(q, ids)),
            "derived": {k: sorted(v) for k, v in p.graph.fact_sources(ids).items()},
            "sources": sorted(p.graph.sources(q, [s.id for s in sources]), key=lambda s: s.id),
            "source_records": sources,
            "entity_names": sorted((r.id, r.text) for r in names),
            "history": {i: m.history(i) for i in ids},
        }
    out["deleted"] = {i: m.history(i) for i in deleted}
    return out


def vectors(m: Memory) -> dict[str, np.ndarray[Any, Any]]:
    p, out = m.parts, {}
    for q in OWNERS:
        for store in (p.vectors, p.source_vectors, p.entity_vectors):
            ids = [r.id for r in store.scan(q, None, 10**9, True)]
            out.update({r.id: v for r, v in store.fetch(ids, q, include_invalid=True)})
    return out


def answers(m: Memory) -> list[list[tuple[str, float]]]:
    return [
        [(r["id"], round(r["score"], 4)) for r in m.search(q, limit=10, **scope)["results"]]
        for q, scope in QUERIES
    ]


def records(path: Path) -> list[dict[str, Any]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def memory_at(path: Path, embedder: Any, spacy: Any, **config: Any) -> Memory:
    cfg = Config.load({"data_dir": path, "extractor": "offline", **config})
    return Memory(cfg, embedder=embedder, offline=spacy)


@pytest.fixture()
def filled(
    tmp_path: Path, embedder: Any, spacy_extractor: Any
) -> Iterator[tuple[Memory, list[str]]]:
    with memory_at(tmp_path / "src", embedder, spacy_extractor) as m:
        yield m, fill(m)


# -- the round trip ------------------------------------------------------------------------
@pytest.mark.neo4j
@pytest.mark.chroma_server
def test_round_trip_embedded_to_servers_and_back(
    filled: tuple[Memory, list[str]],
    tmp_path: Path,
    chroma_server: int,
    embedder: Any,
    spacy_extractor: Any,
) -> None:
    first, deleted = filled
    one, two = tmp_path / "one.jsonl.gz", tmp_path / "two.jsonl"
    first.export(one, vectors=True)
    servers = {
        "graph_store": "neo4j",
        "chroma_host": "127.0.0.1",
        "chroma_port": chroma_server,
        "collection": f"t{uuid.uuid4().hex[:10]}",
    }
    with memory_at(tmp_path / "servers", embedder, spacy_extractor, **servers) as middle:
        middle.reset()  # the Neo4j server is shared: a whole-store export reads all of it
        done = middle.import_(one)
        assert done["embedded"] == 0
        assert done["memory"] == sum(r["kind"] == "memory" for r in records(one)) >= 10
        middle.export(two, vectors=True)
        _check_fact_nodes(middle)
        assert not (tmp_path / "servers" / "chroma").exists()
        middle_state = snapshot(middle, deleted), vectors(middle), answers(middle)
        middle.reset()
    with memory_at(tmp_path / "last", embedder, spacy_extractor) as last:
        last.import_(two)
        last_state = snapshot(last, deleted), vectors(last), answers(last)
    first_state = snapshot(first, deleted), vectors(first), answers(first)

    for state in (middle_state, last_state):
        assert state[0] == first_state[0]  # counts, texts, validity, history, relations...
        assert state[1].keys() == first_state[1].keys()
        for i, v in first_state[1].items():
            np.testing.assert_allclose(state[1][i], v, atol=1e-6)
        assert state[2] == first_state[2]  # the same top 10, with the same scores
    assert any(r for r in first_state[2]) and len(first_state[0]["deleted"]) == 1

    a, b = records(one), records(two)  # and the two files hold the same records
    assert [r["kind"] for r in a] == [r["kind"] for r in b]
    for x, y in zip(a, b):
        vx, vy = x.pop("vector", None), y.pop("vector", None)
        x.pop("created_at") if x["kind"] == "header" else None
        y.pop("created_at") if y["kind"] == "header" else None
        assert x == y
        assert (vx is None) == (vy is None)


def _check_fact_nodes(m: Memory) -> None:
    """Neo4j's readable ``:Fact`` nodes hold each memory's text and when it was superseded (a
    memory updated since keeps invalidated relations but is current)."""
    nodes: dict[str, Any] = {}
    facts = [f for q in OWNERS for f in m.parts.vectors.scan(q, None, 10**9, True)]
    nodes = m.parts.graph.fact_nodes([f.id for f in facts])  # type: ignore[attr-defined]
    assert len(nodes) == len(facts)
    for f in facts:
        assert (nodes[f.id]["text"], nodes[f.id]["invalid_at"]) == (f.text, f.invalid_at)


# -- idempotent, checked, journaled ------------------------------------------------------------
@pytest.mark.parametrize("graph", ["networkx", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def test_importing_twice_changes_nothing(
    filled: tuple[Memory, list[str]],
    tmp_path: Path,
    embedder: Any,
    spacy_extractor: Any,
    graph: str,
) -> None:
    source, deleted = filled
    dump = tmp_path / "all.jsonl"
    source.export(dump)  # no vectors: they are made again, the same each time
    with memory_at(tmp_path / "dst", embedder, spacy_extractor, graph_store=graph) as m:
        m.reset()
        first = m.import_(dump)
        once = snapshot(m, deleted), vectors(m), answers(m)
        again = m.import_(dump)
        twice = snapshot(m, deleted), vectors(m), answers(m)
        assert m.health()["ok"]
        m.reset()
    assert first == again and first["embedded"] > 0
    assert twice[0] == once[0] and twice[2] == once[2]
    assert all(np.array_equal(v, twice[1][i]) for i, v in once[1].items())
    assert once[0] == snapshot(source, deleted)  # ids, texts, validity, history as exported


def test_scoped_export_holds_nothing_of_other_scopes(
    filled: tuple[Memory, list[str]], tmp_path: Path
) -> None:
    m, _ = filled
    m.export(tmp_path / "alice.jsonl", user_id="alice")
    m.export(tmp_path / "helper.jsonl", agent_id="helper")
    m.export(tmp_path / "all.jsonl")
    alice = records(tmp_path / "alice.jsonl")[1:-1]
    assert {r["scope"]["user_id"] for r in alice} == {"alice"}
    assert {r["kind"] for r in alice} == {"source", "entity", "memory", "relation", "history"}
    text = (tmp_path / "alice.jsonl").read_text()
    assert "Globex" not in text and "deploy" not in text and "timeout" not in text
    helper = records(tmp_path / "helper.jsonl")[1:-1]
    assert helper and all(
        r["scope"] == {"user_id": "alice", "agent_id": "helper", "run_id": None} for r in helper
    )
    whole = records(tmp_path / "all.jsonl")[1:-1]
    ids = [(r["kind"], r["id"]) for r in whole]
    assert len(ids) == len(set(ids))  # each record once, under its owner
    per_owner = []
    for q in OWNERS:
        out = tmp_path / f"{q.key.replace(chr(31), '_')}.jsonl"
        m.export(out, **q.items())
        per_owner += records(out)[1:-1]
    assert sorted(ids) == sorted((r["kind"], r["id"]) for r in per_owner)


@pytest.fixture(scope="module")
def good_file(
    tmp_path_factory: pytest.TempPathFactory, embedder: Any, spacy_extractor: Any
) -> list[dict[str, Any]]:
    root = tmp_path_factory.mktemp("good")
    with memory_at(root, embedder, spacy_extractor) as m:
        m.add("I live in Lima. My sister Ana works at Acme.", user_id="alice")
        m.add("Carol knows Dave. Dave works at Globex.", user_id="bob")
        m.export(root / "good.jsonl", vectors=True)
    return records(root / "good.jsonl")


def _last(lines: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(r for r in reversed(lines) if r["kind"] == kind)


def _set(kind: str, **values: Any) -> Callable[[list[dict[str, Any]]], None]:
    return lambda lines: _last(lines, kind).update(values)


CORRUPT: dict[str, Callable[[list[dict[str, Any]]], Any]] = {
    "unknown version": lambda lines: lines[0].update(version=99),
    "no header": lambda lines: lines.pop(0),
    "cut short": lambda lines: lines.pop(),
    "record after the end": lambda lines: lines.append(lines[-2]),
    "counts": lambda lines: lines[-1]["counts"].update(memory=99),
    "unknown kind": lambda lines: lines.insert(-1, {"kind": "gizmo"}),
    "dangling entity": _set("relation", target_id="no-such-entity"),
    "dangling mention": _set("memory", entities=["no-such-entity"]),
    "relation type": _set("relation", relation="works at"),
    "entity type": _set("entity", type="not a label"),
    "vector": _set("memory", vector=pack(np.ones(3, dtype=np.float32))),
    "scope": _set("memory", scope={"user_id": ""}),
    "timestamp": _set("relation", created_at="yesterday"),
    "partition": _set("memory", id="0123456789abcdef.1"),
    "missing field": lambda lines: _last(lines, "source").pop("content"),
    "metadata": _set("memory", metadata=[1]),
}


def _raw(lines: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in lines)


BROKEN_TEXT: dict[str, Callable[[str], bytes]] = {
    "not json": lambda t: t.replace('"kind": "relation"', '"kind" "relation"', 1).encode(),
    "lone surrogate": lambda t: t.replace("Globex", "Glob\\ud800ex").encode(),
    "truncated gzip": lambda t: gzip.compress(t.encode())[:-40],
    "empty": lambda t: b"",
    "not utf-8": lambda t: t.encode("utf-16"),
}


@pytest.mark.parametrize("case", [*CORRUPT, *BROKEN_TEXT])
def test_a_bad_file_raises_and_writes_nothing(
    good_file: list[dict[str, Any]], memory: Memory, tmp_path: Path, case: str
) -> None:
    lines = json.loads(json.dumps(good_file))
    if case in CORRUPT:  # the damage is in the last scope's records, after good ones
        CORRUPT[case](lines)
        data = _raw(lines).encode()
    else:
        data = BROKEN_TEXT[case](_raw(lines))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(data)
    with pytest.raises(ExportFileError):
        memory.import_(bad)
    p = memory.parts
    assert p.graph.scopes() == [] and p.history.scopes() == []
    for q in OWNERS:
        assert p.vectors.scan(q, None, 10, True) == []
        assert p.source_vectors.scan(q, None, 10, True) == []
    good = tmp_path / "good.jsonl"
    good.write_text(_raw(good_file))
    memories = sum(r["kind"] == "memory" for r in good_file)
    assert memory.import_(good)["memory"] == memories > 0  # undamaged, the same file imports


def test_an_entity_record_may_carry_fields_this_version_lacks(
    good_file: list[dict[str, Any]], memory: Memory, tmp_path: Path
) -> None:
    lines = json.loads(json.dumps(good_file))
    for r in lines:
        if r["kind"] == "entity":
            r["attributes"] = {"note": "from a later version"}
    path = tmp_path / "extra.jsonl"
    path.write_text(_raw(lines))
    assert memory.import_(path)["entity"] == sum(r["kind"] == "entity" for r in lines)


@pytest.mark.parametrize("model", ["e5-small-v2", "another-model"])
def test_file_vectors_are_used_only_for_the_same_model(
    good_file: list[dict[str, Any]], memory: Memory, tmp_path: Path, embedder: Any, model: str
) -> None:
    lines = json.loads(json.dumps(good_file))
    assert lines[0]["embedding"] == {"model": embedder.family, "dim": 384}
    lines[0]["embedding"]["model"] = model
    rng = np.random.default_rng(7)
    planted = {}
    for r in lines:
        if r["kind"] == "memory":
            v = rng.normal(size=384).astype(np.float32)
            planted[r["id"]] = v / np.linalg.norm(v)
            r["vector"] = pack(planted[r["id"]])
    path = tmp_path / "planted.jsonl"
    path.write_text(_raw(lines))
    done = memory.import_(path)
    q = Scope(user_id="alice")
    stored = memory.parts.vectors.fetch(list(planted), q, include_invalid=True)
    assert stored
    for rec, v in stored:
        if model == embedder.family:  # taken as they are
            np.testing.assert_allclose(v, planted[rec.id], atol=1e-6)
        else:  # another model's vectors: embedded again
            assert float(v @ embedder.embed([rec.text])[0]) > 0.99  # (padded in a batch)
    assert (done["embedded"] == 0) == (model == embedder.family)


class FailingGraph(NetworkXGraphStore):
    """Fails from its third write on."""

    writes = 0

    def write(self, *args: Any, **kwargs: Any) -> None:
        FailingGraph.writes += 1
        if FailingGraph.writes >= 3:
            raise BackendError("injected graph failure")
        super().write(*args, **kwargs)


def test_an_import_that_fails_midway_is_journaled_and_completed_by_importing_again(
    filled: tuple[Memory, list[str]], tmp_path: Path, embedder: Any, spacy_extractor: Any
) -> None:
    source, deleted = filled
    dump = tmp_path / "all.jsonl"
    source.export(dump, vectors=True)
    cfg = Config.load({"data_dir": tmp_path / "dst", "extractor": "offline"})
    FailingGraph.writes = 0
    graph = FailingGraph(cfg.data_dir / "graph.sqlite")
    m = Memory(cfg, embedder=embedder, offline=spacy_extractor, graph=graph)
    with pytest.raises(BackendError, match="journaled"):
        m.import_(dump)
    assert len(m.health()["pending"]) == 1
    m.close()
    with Memory(cfg, embedder=embedder, offline=spacy_extractor) as again:
        assert again.health()["ok"]  # the journaled part was replayed on open
        again.import_(dump)
        assert snapshot(again, deleted) == snapshot(source, deleted)
        assert answers(again) == answers(source)


# -- the CLI -------------------------------------------------------------------------------------
def test_cli_export_and_import(tmp_path: Path) -> None:
    runner = CliRunner()
    src, dst = ["--data-dir", str(tmp_path / "src")], ["--data-dir", str(tmp_path / "dst")]
    assert runner.invoke(app, ["add", "Carol knows Dave.", "--user", "alice", *src]).exit_code == 0
    assert runner.invoke(app, ["add", "I like tea.", "--user", "bob", *src]).exit_code == 0
    out = tmp_path / "alice.jsonl.gz"
    done = runner.invoke(app, ["export", "--user", "alice", "--out", str(out), *src])
    assert done.exit_code == 0, done.output
    assert "exported 1 memories" in done.stdout
    assert out.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    done = runner.invoke(app, ["import", str(out), "--json", *dst])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["memory"] == 1
    listed = runner.invoke(app, ["get-all", "--user", "alice", "--json", *dst])
    assert [r["memory"] for r in json.loads(listed.stdout)["results"]] == ["Carol knows Dave."]
    listed = runner.invoke(app, ["get-all", "--user", "bob", "--json", *dst])
    assert json.loads(listed.stdout)["results"] == []
    (tmp_path / "bad.jsonl").write_text('{"kind": "header", "format": "graphmem-export"}\n')
    done = runner.invoke(app, ["import", str(tmp_path / "bad.jsonl"), *dst])
    assert done.exit_code == 2 and "version" in done.stdout
