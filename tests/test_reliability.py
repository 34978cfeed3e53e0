"""Nothing bricks, nothing leaks: hostile input is refused before anything is stored, a write
that keeps failing is quarantined instead of blocking everyone, and a delete removes the text
from every read. Real Chroma, embedder, spaCy and SQLite."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from graphmem import BackendError, Config, GraphMemError, InvalidInputError, Memory
from graphmem.cli import app
from graphmem.models import GraphBatch
from graphmem.prompts import Answer
from graphmem.stores.networkx_store import NetworkXGraphStore


def texts(out: dict[str, Any]) -> list[str]:
    return [r["memory"] for r in out["results"]]


def everything_read(m: Memory, question: str, user: str) -> str:
    """Every read a user has, as one string: search (results, sources, relations, paths),
    get_all (superseded too) and the memories' sources."""
    found = m.search(question, user_id=user, limit=50)
    listed = m.get_all(user_id=user, include_invalid=True)
    got = [m.get(r["id"]) for r in listed["results"]]
    return json.dumps([found, listed, got], default=str)


# -- one bad write never poisons the store -------------------------------------------------
HOSTILE_ADDS: list[dict[str, Any]] = [
    {"messages": "Omar Reyes lives in Quito.", "user_id": "h", "metadata": {"k": "\ud800"}},
    {"messages": "Omar lives in Quito.", "user_id": "h", "metadata": {"k": {1, 2}}},
    {"messages": "Omar lives in Quito.", "user_id": "h", "metadata": {"k": b"bytes"}},
    {"messages": "Omar lives in Quito.", "user_id": "h", "metadata": {"k": float("nan")}},
    {"messages": "Omar lives in Quito.", "user_id": "h", "metadata": {"k": 2**70}},
    {"messages": "Omar lives in Quito.", "user_id": "h", "metadata": {"k": "x" * 70_000}},
    {"messages": "Omar lives in Quito.", "user_id": "h", "metadata": {"": 1}},
    {"messages": "Omar lives in Quito \ud800.", "user_id": "h"},
    {"messages": "Omar lives in Quito.\x00", "user_id": "h"},
    {"messages": "Omar lives in Quito.", "user_id": "h\x1fx"},
    {"messages": "Omar lives in Quito.", "user_id": "h\ud800"},
    {"messages": "Omar lives in Quito.", "user_id": "h\n"},
    {"messages": "Omar lives in Quito.", "user_id": "x" * 300},
    {"messages": [{"role": "user", "content": "Hi", "name": "\ud800"}], "user_id": "h"},
    {"messages": [{"role": ["user"], "content": "Hi"}], "user_id": "h"},
    {"messages": "Omar lives in Quito.", "user_id": "h", "timestamp": float("inf")},
    {"messages": "Omar lives in Quito.", "user_id": "h", "timestamp": 1e300},
    {"messages": "Omar lives in Quito.", "user_id": "h", "timestamp": [2024]},
]


@pytest.mark.parametrize("call", HOSTILE_ADDS, ids=lambda c: repr(c)[:60])
def test_hostile_add_is_refused_and_poisons_nothing(
    memory: Memory, config: Config, embedder: Any, spacy_extractor: Any, call: dict[str, Any]
) -> None:
    memory.add("I live in Lima.", user_id="other")
    with pytest.raises(InvalidInputError):
        memory.add(**call)
    assert memory.health()["ok"]
    assert texts(memory.search("Where do I live?", user_id="other")) == ["I live in Lima."]
    memory.add("I work at Acme.", user_id="other")  # later writes go through
    memory.close()
    with Memory(config, embedder=embedder, offline=spacy_extractor) as again:  # and a restart
        assert len(again.get_all(user_id="other")["results"]) == 2
        assert again.get_all(user_id="h")["results"] == []


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.search("x", user_id="a", filters={1: "x"}),
        lambda m: m.search("x", user_id="a", filters={"k": "\udcff"}),
        lambda m: m.search("x", user_id="a", filters={"k": {"in": [{1}]}}),
        lambda m: m.search("x", user_id="a", filters={"k": {"gt": True}}),
        lambda m: m.search("x", user_id="a", filters={"k": float("nan")}),
        lambda m: m.search("x", user_id="a", filters={"created_at": None}),
        lambda m: m.search("\ud800", user_id="a"),
        lambda m: m.search("x", user_id="a", as_of=float("inf")),
        lambda m: m.search("x", user_id="a", as_of=10**20),
        lambda m: m.search("x", user_id="a", threshold="high"),
        lambda m: m.search("x", user_id="a", threshold=float("nan")),
        lambda m: m.get_all(user_id="a", filters={1: "x"}),
        lambda m: m.get("\ud800"),
        lambda m: m.get("x\x00"),
        lambda m: m.delete("\ud800"),
        lambda m: m.history("a\x1fb"),
        lambda m: m.update("\ud800", "text"),
        lambda m: m.add_many([{"messages": "Hi", "title": "a\nb"}], user_id="a"),
        lambda m: m.add_many([{"messages": "Hi", "context": ["\ud800"]}], user_id="a"),
    ],
)
def test_bad_arguments_raise_invalid_input(memory: Memory, call: Any) -> None:
    memory.add("I live in Lima.", user_id="a")
    with pytest.raises(InvalidInputError):
        call(memory)
    assert texts(memory.get_all(user_id="a")) == ["I live in Lima."]


def test_an_unstorable_plan_is_refused_before_the_journal(memory: Memory) -> None:
    """The last guard: whatever reaches a plan (an LLM's reply, say) is checked as the journal
    will store it, and nothing is journaled when it fails."""
    from graphmem.models import Scope
    from graphmem.plan import Plan

    memory.add("I live in Lima.", user_id="a")
    plan = Plan("p1", "2024-01-01T00:00:00+00:00", history=[{"old_memory": "\ud800"}])
    with pytest.raises(InvalidInputError):
        memory._apply(plan, Scope(user_id="a"))
    assert memory.parts.history.pending() == []
    assert memory.health()["ok"]


# -- a write that keeps failing is quarantined ---------------------------------------------
class PoisonedGraph(NetworkXGraphStore):
    """Refuses every graph write of one user (as a backend might refuse one bad value)."""

    def write(self, batch: GraphBatch, *args: Any, **kwargs: Any) -> None:
        if any(e.scope.user_id == "bad" for e in batch.entities):
            raise BackendError("injected permanent failure")
        super().write(batch, *args, **kwargs)


def test_a_failing_write_is_quarantined_and_blocks_no_one(
    config: Config, embedder: Any, spacy_extractor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = PoisonedGraph(config.data_dir / "graph.sqlite")
    m = Memory(config, embedder=embedder, offline=spacy_extractor, graph=graph)
    m.add("I live in Lima.", user_id="good")
    with pytest.raises(BackendError, match="journaled"):
        m.add("Omar lives in Quito.", user_id="bad")
    for i in range(config.journal_max_attempts + 1):  # every call replays it once, and goes on
        m.add(f"I have {i + 2} cats.", user_id="good")
        assert texts(m.search("Where do I live?", user_id="good", limit=1)) == ["I live in Lima."]
    health = m.health()
    assert not health["ok"] and health["pending"] == []
    [bad] = health["quarantined"]
    assert bad["attempts"] == config.journal_max_attempts
    assert "injected permanent failure" in bad["error"]
    assert bad["scope"] == {"user_id": "bad"}
    assert m.get_all(user_id="bad")["results"] == []  # refused by the graph: nothing half-written
    m.close()

    runner = CliRunner()  # `graphmem doctor` lists it, and exits 1
    monkeypatch.chdir(config.data_dir.parent)
    shown = runner.invoke(app, ["doctor", "--data-dir", str(config.data_dir), "--json"])
    assert shown.exit_code == 1, shown.output
    assert json.loads(shown.output)["quarantined"][0]["id"] == bad["id"]

    with Memory(config, embedder=embedder, offline=spacy_extractor) as healed:  # backend fixed
        assert healed.health()["quarantined"]  # a restart does not replay it on its own
        out = healed.retry_quarantined()
        assert out["ok"] and out["requeued"] == 1
        assert texts(healed.get_all(user_id="bad")) == ["Omar lives in Quito."]
    done = runner.invoke(app, ["doctor", "--data-dir", str(config.data_dir)])
    assert done.exit_code == 0 and "ok" in done.output


def test_dropping_a_quarantined_write(config: Config, embedder: Any, spacy_extractor: Any) -> None:
    graph = PoisonedGraph(config.data_dir / "graph.sqlite")
    with Memory(
        config.model_copy(update={"journal_max_attempts": 1}),
        embedder=embedder,
        offline=spacy_extractor,
        graph=graph,
    ) as m:
        with pytest.raises(BackendError):
            m.add("Omar lives in Quito.", user_id="bad")
        assert len(m.health()["quarantined"]) == 1
        assert m.drop_quarantined()["ok"]


# -- delete means gone ---------------------------------------------------------------------
@pytest.fixture()
def u() -> str:
    return f"u-{uuid.uuid4()}"


def test_delete_removes_the_text_from_every_read(any_memory: Memory, u: str) -> None:
    memory = any_memory
    added = memory.add("My bank PIN is 4921.", user_id=u)
    memory.add("I live in Quito with my dog Rex.", user_id=u)
    memory.delete(added["results"][0]["id"])
    seen = everything_read(memory, "What is my bank PIN?", u)
    assert "4921" not in seen
    assert "Quito" in seen  # the rest is still there


def test_delete_cuts_the_memory_out_of_a_shared_message(any_memory: Memory, u: str) -> None:
    memory = any_memory
    out = memory.add("My bank PIN is 4921. I live in Quito with my dog Rex.", user_id=u)
    pin = next(r["id"] for r in out["results"] if "4921" in r["memory"])
    memory.delete(pin)
    seen = everything_read(memory, "What is my bank PIN?", u)
    assert "4921" not in seen
    [left] = memory.get_all(user_id=u)["results"]
    [source] = memory.get(left["id"])["sources"]
    assert source["content"] == "I live in Quito with my dog Rex."
    found = memory.search("Where do I live with my dog?", user_id=u)
    assert found["sources"][0]["content"] == "I live in Quito with my dog Rex."


class Recorder:
    """A scripted LLM that records the prompt it was given."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def complete(self, system: str, user: str, schema: Any, context: Any = None) -> Any:
        self.prompts.append(user)
        return Answer(answer="I don't know.", citations=[])


def test_delete_removes_the_text_from_ask_context(
    config: Config, embedder: Any, spacy_extractor: Any
) -> None:
    llm = Recorder()
    parts = {"offline": spacy_extractor, "extractor": spacy_extractor, "llm": llm}
    with Memory(config, embedder=embedder, **parts) as m:
        m.add_many(["My bank PIN is 4921.", "I bank with Banco Pichincha."], user_id="u")
        pin = next(r["id"] for r in m.get_all(user_id="u")["results"] if "4921" in r["memory"])
        m.delete(pin)
        m.ask("What is my bank PIN?", user_id="u")
    assert "Pichincha" in llm.prompts[0] and "4921" not in llm.prompts[0]


def test_erase_forgets_a_user_history_included(any_memory: Memory, u: str) -> None:
    memory, v = any_memory, u + "-v"
    first = memory.add("My bank PIN is 4921.", user_id=u)["results"][0]["id"]
    memory.delete(first)
    kept = memory.add("I live in Quito.", user_id=u)["results"][0]["id"]
    memory.update(kept, "I live in Lima.")
    other = memory.add("I live in Oslo.", user_id=v)["results"][0]["id"]
    assert memory.history(first)[0]["old_memory"] is None  # history keeps deleted memories
    out = memory.erase(user_id=u)
    assert out["deleted"] == 1 and out["history_events"] >= 4
    for gone in (first, kept):
        with pytest.raises(GraphMemError):
            memory.history(gone)
    assert "4921" not in everything_read(memory, "PIN", u)
    assert memory.get_all(user_id=u, include_invalid=True)["results"] == []
    assert len(memory.history(other)) == 1  # another user keeps everything
    assert texts(memory.search("Where do I live?", user_id=v)) == ["I live in Oslo."]


def test_erase_reaches_history_written_before_scopes_were_recorded(memory: Memory) -> None:
    """Events of an older version carry no scope: a user's are still found by id."""
    first = memory.add("My bank PIN is 4921.", user_id="u")["results"][0]["id"]
    memory.delete(first)
    db = memory.parts.history._conn()
    db.execute("UPDATE history SET scope=NULL")
    memory.erase(user_id="u")
    with pytest.raises(GraphMemError):
        memory.history(first)


def test_old_journal_layout_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    from graphmem.stores.history import HistoryStore

    path = tmp_path / "history.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE journal(id TEXT PRIMARY KEY, plan TEXT NOT NULL, created_at TEXT)")
    old.execute("INSERT INTO journal VALUES ('p1', '{}', '2024-01-01')")
    old.commit()
    old.close()
    store = HistoryStore(path)
    assert store.problems()["pending"][0]["attempts"] == 0
    assert store.failed("p1", "boom", max_attempts=1)
    assert store.problems()["quarantined"][0]["error"] == "boom"
    store.close()
