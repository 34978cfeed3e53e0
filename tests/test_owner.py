"""One process owns an embedded data dir; read-only processes read what it commits.

Real second processes (``sys.executable``) on a temporary data dir, with the real embedding
model and spaCy pipeline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graphmem import Config, ConfigError, Memory, ReadOnlyError
from graphmem.factory import build, embedded_dirs
from graphmem.models import Scope
from graphmem.stores.history import HistoryStore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="kills with SIGKILL")

# A Memory in another process, driven over stdin/stdout: one JSON call per line, one JSON
# answer per line ({"ok": result} or {"error": class name, "message": ...}).
CHILD = """
import json, sys
from graphmem import Config, Memory
m = Memory(Config.load(json.loads(sys.argv[1])))
for line in sys.stdin:
    call = json.loads(line)
    try:
        out = {"ok": getattr(m, call["op"])(*call.get("args", []), **call.get("kwargs", {}))}
    except Exception as e:
        out = {"error": type(e).__name__, "message": str(e)}
    print(json.dumps(out, default=str), flush=True)
m.close()
"""


class Child:
    """A ``Memory`` on ``config`` in a process of its own."""

    def __init__(self, config: Config, **overrides: Any) -> None:
        settings = {"data_dir": str(config.data_dir), "extractor": "offline", **overrides}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ,
        )

    def call(self, op: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, "args": args, "kwargs": kwargs}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the child process ended (exit code {self.proc.wait()})"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ok(self, op: str, *args: Any, **kwargs: Any) -> Any:
        answer = self.call(op, *args, **kwargs)
        assert "ok" in answer, answer
        return answer["ok"]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait()


@pytest.fixture()
def child(config: Config) -> Iterator[type[Child]]:
    started: list[Child] = []

    class Tracked(Child):
        def __init__(self, config: Config, **overrides: Any) -> None:
            super().__init__(config, **overrides)
            started.append(self)

    yield Tracked
    for c in started:
        if c.proc.poll() is None:
            c.kill()


def memories(out: dict[str, Any]) -> list[str]:
    return [r["memory"] for r in out["results"]]


def refused(answer: dict[str, Any]) -> str:
    assert answer.get("error") == "ConfigError", answer
    message: str = answer["message"]
    return message


def test_a_second_writer_process_is_refused_and_told_what_to_do(
    memory: Memory, config: Config, child: type[Child]
) -> None:
    memory.add("Bob works at Acme Robotics.", user_id="alice")
    message = refused(child(config).call("get_all", user_id="alice"))
    assert str(config.data_dir) in message and f"process {os.getpid()}" in message
    for alternative in (
        "Share one Memory",
        "GRAPHMEM_GRAPH_STORE=neo4j",
        "GRAPHMEM_CHROMA_HOST",
        "read_only=True",
        "GRAPHMEM_READ_ONLY=1",
    ):
        assert alternative in message
    # nothing was written by the refused one: one memory, no duplicate
    assert memories(memory.get_all(user_id="alice")) == ["Bob works at Acme Robotics."]


def test_a_second_memory_in_the_same_process_is_refused(
    memory: Memory, config: Config, embedder: Any, spacy_extractor: Any
) -> None:
    memory.get_all(user_id="alice")
    second = Memory(config, embedder=embedder, offline=spacy_extractor)
    with pytest.raises(ConfigError, match="another Memory in this process"):
        second.add("Bob works at Acme Robotics.", user_id="alice")
    memory.close()
    with second:  # the owner closed: it may write now
        assert second.add("Bob works at Acme Robotics.", user_id="alice")["results"]


def test_the_data_dir_is_free_again_when_its_owner_closes_or_is_killed(
    config: Config, embedder: Any, spacy_extractor: Any, child: type[Child]
) -> None:
    owner = child(config)
    owner.ok("add", "Bob works at Acme Robotics.", user_id="alice")
    mine = Memory(config, embedder=embedder, offline=spacy_extractor)
    with pytest.raises(ConfigError, match="in use by process"):
        mine.get_all(user_id="alice")
    owner.kill()  # SIGKILL: no close, no clean-up; the kernel drops its lock
    with mine:
        assert memories(mine.get_all(user_id="alice")) == ["Bob works at Acme Robotics."]
    # closed: another process may own it now
    other = child(config)
    assert memories(other.ok("get_all", user_id="alice")) == ["Bob works at Acme Robotics."]
    other.close()


def test_a_read_only_process_reads_what_the_owner_commits(
    memory: Memory, config: Config, child: type[Child]
) -> None:
    bob = memory.add("Bob works at Acme Robotics.", user_id="alice")["results"][0]["id"]
    reader = child(config, read_only=True)
    # the reader loads everything once (graph, vector index, BM25 index, record cache) ...
    assert memories(reader.ok("search", "Where does Bob work?", user_id="alice", config="dense"))
    assert memories(reader.ok("search", "Acme", user_id="alice", config="bm25"))
    assert memories(reader.ok("get_all", user_id="alice")) == ["Bob works at Acme Robotics."]

    # ... and sees what the owner commits after that
    carol = memory.add("Carol lives in Lisbon.", user_id="alice")["results"][0]["id"]
    dense = reader.ok("search", "Where does Carol live?", user_id="alice", config="dense")
    assert memories(dense)[0] == "Carol lives in Lisbon."
    lexical = reader.ok("search", "Lisbon", user_id="alice", config="bm25")
    assert memories(lexical) == ["Carol lives in Lisbon."]
    hybrid = reader.ok("search", "Where does Carol live?", user_id="alice")
    assert ("Carol", "LIVES_IN", "Lisbon") in {
        (r["source"], r["relationship"], r["target"]) for r in hybrid["relations"]
    }
    assert sorted(memories(reader.ok("get_all", user_id="alice"))) == [
        "Bob works at Acme Robotics.",
        "Carol lives in Lisbon.",
    ]
    assert reader.ok("get", carol)["memory"] == "Carol lives in Lisbon."

    memory.update(carol, "Carol lives in Porto.")  # same id, new text: no stale record is read
    dense = reader.ok("search", "Where does Carol live?", user_id="alice", config="dense")
    assert memories(dense)[0] == "Carol lives in Porto."
    assert "Carol lives in Lisbon." not in memories(dense)
    assert reader.ok("get", carol)["memory"] == "Carol lives in Porto."

    memory.delete(bob)
    assert memories(reader.ok("get_all", user_id="alice")) == ["Carol lives in Porto."]
    for cfg in ("dense", "hybrid"):
        found = reader.ok("search", "Where does Bob work?", user_id="alice", config=cfg)
        assert "Bob works at Acme Robotics." not in memories(found)
        assert all(r["source"] != "Bob" for r in found["relations"])
    assert memories(reader.ok("search", "Acme", user_id="alice", config="bm25")) == []
    assert reader.call("get", bob)["error"] == "NotFoundError"

    # its writes are refused; the owner's memory is untouched
    answer = reader.call("add", "Dave lives in Oslo.", user_id="alice")
    assert answer["error"] == "ReadOnlyError" and "read-only" in answer["message"]
    reader.close()
    assert memories(memory.get_all(user_id="alice")) == ["Carol lives in Porto."]


def test_a_read_only_memory_refuses_every_write(
    memory: Memory, config: Config, embedder: Any, spacy_extractor: Any
) -> None:
    fact = memory.add("Bob works at Acme Robotics.", user_id="alice")["results"][0]["id"]
    ro = config.model_copy(update={"read_only": True})
    with Memory(ro, embedder=embedder, offline=spacy_extractor) as reader:  # no lock taken
        assert memories(reader.get_all(user_id="alice")) == ["Bob works at Acme Robotics."]
        writes = [
            lambda: reader.add("Carol lives in Lisbon.", user_id="alice"),
            lambda: reader.add_many(["Carol lives in Lisbon."], user_id="alice"),
            lambda: reader.update(fact, "Bob works at Globex."),
            lambda: reader.delete(fact),
            lambda: reader.delete_all(user_id="alice"),
            reader.reset,
        ]
        for write in writes:
            with pytest.raises(ReadOnlyError):
                write()
        memory.add("Carol lives in Lisbon.", user_id="alice")  # the owner still writes
        assert len(reader.get_all(user_id="alice")["results"]) == 2
    assert len(memory.get_all(user_id="alice")["results"]) == 2
    assert memory.history(fact)[-1]["event"] == "ADD"


def test_read_only_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHMEM_READ_ONLY", "1")
    assert Config.load().read_only is True


# -- which data dirs are owned ------------------------------------------------------------
def test_only_embedded_stores_make_a_data_dir_owned(tmp_path: Path, embedder: Any) -> None:
    servers = {"graph_store": "neo4j", "chroma_host": "127.0.0.1", "data_dir": tmp_path}
    assert embedded_dirs(Config.load(servers), {}) == set()
    assert embedded_dirs(Config.load({**servers, "chroma_host": None}), {}) == {tmp_path}
    assert embedded_dirs(Config.load({**servers, "graph_store": "networkx"}), {}) == {tmp_path}
    # Neo4j and a Chroma server: the history still lives in the data dir, and processes share
    # it; each replays only the journal of writers that are gone (see the next test)
    cfg = Config.load({**servers, "extractor": "offline"})
    first, second = build(cfg, embedder=embedder), build(cfg, embedder=embedder)
    assert first.owner == [] and second.owner == []
    first.close()
    second.close()
    cfg = Config.load({"data_dir": tmp_path, "extractor": "offline"})
    owner = build(cfg, embedder=embedder)
    with pytest.raises(ConfigError, match="in use"):
        build(cfg, embedder=embedder)
    owner.close()
    build(cfg, embedder=embedder).close()


JOURNAL_WRITER = """
import json, sys
from pathlib import Path
from graphmem.stores.history import HistoryStore
h = HistoryStore(Path(sys.argv[1]))
h.journal("plan-of-a-live-writer", json.dumps({"n": 1}))
print("journaled", flush=True)
sys.stdin.read()
"""


def test_a_plan_is_replayed_by_its_writer_or_once_that_writer_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    writer = subprocess.Popen(
        [sys.executable, "-c", JOURNAL_WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "journaled\n"
        mine, other = HistoryStore(path), HistoryStore(path)
        mine.journal("my-plan", json.dumps({"n": 2}))
        # the live writer's plan is left to it; mine are mine only
        assert [p for p, _ in mine.pending()] == ["my-plan"]
        assert other.pending() == []
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        # gone: one of the others adopts its plan, and only one does
        assert [p for p, _ in mine.pending()] == ["plan-of-a-live-writer", "my-plan"]
        assert other.pending() == []
        mine.close()  # closed with plans left: they are anyone's now
        assert [p for p, d in other.pending()] == ["plan-of-a-live-writer", "my-plan"]
        other.close()
        assert sorted(f.name for f in (tmp_path / "writers").iterdir()) == []
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


TRY_LOCK = """
import fcntl, sys
with open(sys.argv[1], "a") as f:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("busy")
    else:
        print("free")
"""


def test_processes_take_turns_on_an_embedded_chroma(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chroma's embedded client writes index files when it loads them, readers too: one
    process at a time is inside a Chroma call; the threads of one process share its turn."""
    from graphmem.stores.chroma import ChromaVectorStore
    from graphmem.stores.owner import process_lock

    store = ChromaVectorStore(tmp_path / "chroma", collection="turns")
    path = tmp_path / "chroma" / "graphmem.lock"

    def other_process() -> str:
        cmd = [sys.executable, "-c", TRY_LOCK, str(path)]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()

    store.setup()
    seen: list[str] = []
    real = store._client.get_collection

    def get_collection(*args: Any, **kwargs: Any) -> Any:
        seen.append(other_process())
        return real(*args, **kwargs)

    monkeypatch.setattr(store._client, "get_collection", get_collection)
    store._cols.clear()  # opening the store looked its collections up: look them up again
    assert store.scan(Scope(user_id="alice")) == []
    assert seen == ["busy"]  # inside a Chroma call, other processes wait
    assert other_process() == "free"  # and after it, no longer
    turn = process_lock(path)
    with turn.held(), turn.held():  # reentrant
        assert other_process() == "busy"
        assert store.scan(Scope(user_id="bob")) == []  # this process's turn: no wait
    store.close()
