"""Several processes, one store: Memory instances in separate OS processes that share one
Neo4j server and one `chroma run` server each read what the others wrote, survive the others'
``reset`` and ``delete_all``, and reconcile against each other (an add is planned under a scope
lock held in Neo4j). The processes are real (``multiprocessing``, spawn), each with its own
data dir, as on separate machines."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graphmem import Config, Memory
from graphmem.models import Scope
from graphmem.stores.neo4j_store import Neo4jGraphStore

pytestmark = [pytest.mark.neo4j, pytest.mark.chroma_server]

CTX = multiprocessing.get_context("spawn")
HANG = 300.0  # seconds after which a process that has not answered is taken for hung

TEXTS = [
    "The lighthouse keeper feeds seventeen gulls every morning.",
    "Marzipan cakes are baked in the old bakery on Thursdays.",
    "My violin teacher prefers Bach partitas to modern sonatas.",
    "The orchard behind the school grows quinces and medlars.",
    "Our tandem bicycle has a squeaky rear brake.",
    "Grandfather collects brass telescopes from naval auctions.",
    "The chess club meets in the basement of the town library.",
    "Saffron risotto needs a slow stir and warm stock.",
]


def _serve(config: dict[str, Any], inbox: Any, outbox: Any, barrier: Any) -> None:
    """A Memory in a process of its own that runs what it is sent: ``(method, kwargs)`` →
    ``("ok", result)`` or ``("error", "Type: message")``. ``add_each`` adds texts one at a
    time, each when the other process is about to add it too (``barrier``)."""
    mem = Memory(Config.load(config))
    while True:
        method, kwargs = inbox.get()
        if method == "stop":
            break
        try:
            if method == "add_each":
                result: Any = []
                for text in kwargs["texts"]:
                    barrier.wait(timeout=HANG)
                    result.append(mem.add(text, user_id=kwargs["user_id"]))
            else:
                result = getattr(mem, method)(**kwargs)
            outbox.put(("ok", result))
        except Exception as e:
            outbox.put(("error", f"{type(e).__name__}: {e}"))
    mem.close()


class Worker:
    """The handle of one serving process."""

    def __init__(self, config: dict[str, Any], barrier: Any) -> None:
        self.inbox, self.outbox = CTX.Queue(), CTX.Queue()
        args = (config, self.inbox, self.outbox, barrier)
        self.proc = CTX.Process(target=_serve, args=args, daemon=True)
        self.proc.start()

    def send(self, method: str, **kwargs: Any) -> None:
        self.inbox.put((method, kwargs))

    def reply(self) -> Any:
        status, value = self.outbox.get(timeout=HANG)
        assert status == "ok", value
        return value

    def call(self, method: str, **kwargs: Any) -> Any:
        self.send(method, **kwargs)
        return self.reply()

    def stop(self) -> None:
        self.send("stop")
        self.proc.join(timeout=HANG)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


@pytest.fixture()
def pair(chroma_server: int, tmp_path: Path) -> Iterator[tuple[Worker, Worker]]:
    """Processes A and B on the same Neo4j and Chroma servers (one collection of their own)."""
    collection = f"mp-{uuid.uuid4().hex[:12]}"
    barrier = CTX.Barrier(2)

    def config(name: str) -> dict[str, Any]:
        return {
            "data_dir": str(tmp_path / name),
            "extractor": "offline",
            "graph_store": "neo4j",
            "chroma_host": "127.0.0.1",
            "chroma_port": chroma_server,
            "collection": collection,
        }

    a, b = Worker(config("a"), barrier), Worker(config("b"), barrier)
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def uid() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


def memories(res: dict[str, Any]) -> list[str]:
    return [r["memory"] for r in res["results"]]


def test_a_process_searches_what_another_just_wrote(pair: tuple[Worker, Worker]) -> None:
    a, b = pair
    u = uid()
    a.call("add", messages=TEXTS[0], user_id=u)
    found = b.call("search", query="lighthouse gulls", user_id=u, config="bm25")
    assert memories(found) == [TEXTS[0]]  # B has searched this scope: anything it keeps is warm
    a.call("add", messages=TEXTS[1], user_id=u)
    for config in ("bm25", "hybrid"):
        res = b.call("search", query="marzipan cakes on Thursdays", user_id=u, config=config)
        [hit] = [r for r in res["results"] if r["memory"] == TEXTS[1]]
        assert hit["score_parts"]["bm25"] > 0, config
        [passage] = [s for s in res["sources"] if s["content"] == TEXTS[1]]
        assert passage["score_parts"]["bm25"] > 0, config


def test_a_reset_or_delete_all_elsewhere_breaks_no_call(pair: tuple[Worker, Worker]) -> None:
    a, b = pair
    u, v = uid(), uid()
    for user, text in ((u, TEXTS[2]), (v, TEXTS[3])):
        a.call("add", messages=text, user_id=user)
        assert memories(b.call("search", query=text, user_id=user)) == [text]
        assert memories(b.call("get_all", user_id=user)) == [text]
    a.call("delete_all", user_id=u)
    assert b.call("get_all", user_id=u)["results"] == []
    gone = b.call("search", query=TEXTS[2], user_id=u)
    assert gone["results"] == [] and gone["sources"] == []
    a.call("reset")  # drops the collections whose handles B holds
    for user, text in ((u, TEXTS[2]), (v, TEXTS[3])):
        for config in ("bm25", "hybrid"):
            res = b.call("search", query=text, user_id=user, config=config)
            assert res["results"] == [] and res["sources"] == [], config
        assert b.call("get_all", user_id=user)["results"] == []
    b.call("add", messages=TEXTS[4], user_id=v)  # a write recreates the collections
    assert memories(b.call("get_all", user_id=v)) == [TEXTS[4]]
    assert memories(a.call("search", query="tandem bicycle", user_id=v, config="bm25")) == [
        TEXTS[4]
    ]


def test_two_processes_adding_the_same_texts_store_each_once(pair: tuple[Worker, Worker]) -> None:
    a, b = pair
    u = uid()
    a.send("add_each", texts=TEXTS, user_id=u)
    b.send("add_each", texts=TEXTS, user_id=u)
    from_a, from_b = a.reply(), b.reply()
    stored = Counter(memories(a.call("get_all", user_id=u, limit=100)))
    assert stored == Counter(TEXTS)
    for one, other in zip(from_a, from_b):  # one of the two added it, the other found it
        events = sorted(r["event"] for r in (*one["results"], *other["results"]))
        assert events == ["ADD", "NONE"]


def test_keyword_search_keeps_to_its_scope(pair: tuple[Worker, Worker]) -> None:
    a, b = pair
    u = uid()
    near = f"{u}-x"  # tokenised as u's words and one more: Lucene's phrase for u matches it
    a.call("add", messages=TEXTS[5], user_id=u)
    assert memories(b.call("search", query="brass telescopes", user_id=u, config="bm25"))
    shared = TEXTS[6]
    for scope in ({"user_id": u}, {"user_id": near}, {"user_id": u, "agent_id": "librarian"}):
        a.call("add", messages=shared, **scope)
    for scope in ({"user_id": u}, {"user_id": near}, {"user_id": u, "agent_id": "librarian"}):
        res = b.call("search", query="chess club basement", config="bm25", **scope)
        want = Scope(**scope)
        assert memories(res) and all(want.contains(_scope(r)) for r in res["results"])
        assert res["sources"] and all(want.contains(_scope(s)) for s in res["sources"])
    own = b.call("search", query="chess club basement", config="bm25", user_id=near)
    assert len(own["results"]) == 1


def _scope(result: dict[str, Any]) -> Scope:
    return Scope(result.get("user_id"), result.get("agent_id"), result.get("run_id"))


# -- the scope lock --------------------------------------------------------------------------
def _store() -> Neo4jGraphStore:
    c = Config.load()
    return Neo4jGraphStore(
        c.neo4j_uri, c.neo4j_user, c.neo4j_password.get_secret_value(), c.neo4j_database
    )


def _hold(key: str, held: Any) -> None:
    """Take the scope's lock and keep it until killed."""
    store = _store()
    with store.lock(Scope.from_key(key)):
        held.set()
        while True:
            time.sleep(1)


@pytest.mark.neo4j
def test_a_killed_writer_leaves_no_scope_locked() -> None:
    scope = Scope(user_id=uid())
    held = CTX.Event()
    proc = CTX.Process(target=_hold, args=(scope.key, held), daemon=True)
    proc.start()
    while not held.wait(1):  # the lock is held, or the process failed
        assert proc.is_alive(), "the process could not take the lock"
    proc.kill()
    proc.join()
    store, taken = _store(), threading.Event()

    def take() -> None:
        with store.lock(scope):
            taken.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    thread.join(HANG)
    store.close()
    assert taken.is_set()
