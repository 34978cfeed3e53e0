"""AsyncMemory: Memory's methods, awaitable, run in worker threads; the loop keeps running."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from graphmem import AsyncMemory, Config, Memory
from graphmem.prompts import Extraction

WAIT = 60  # seconds a test waits for another thread before it gives up (never reached)


class GatedExtractor:
    """The offline extractor, made to wait at ``gate`` before each extraction: a test decides
    when an ``add`` may go on, and sees that it is inside the extraction meanwhile."""

    def __init__(self, inner: Any, gate: Any) -> None:
        self.inner, self.gate = inner, gate
        self.waited: list[bool] = []

    def extract(self, messages: Sequence[dict[str, str]]) -> Extraction:
        return self.extract_many([messages])[0]

    def extract_many(self, batches: Sequence[Sequence[dict[str, str]]]) -> list[Extraction]:
        self.waited.append(self.gate())
        out: list[Extraction] = self.inner.extract_many(batches)
        return out


def public(cls: type) -> set[str]:
    return {n for n, v in vars(cls).items() if not n.startswith("_") and inspect.isfunction(v)}


def test_every_public_method_of_memory_is_awaitable() -> None:
    assert public(Memory) - {"from_config"} <= set(vars(AsyncMemory))
    for name in public(Memory) - {"from_config"}:
        method = getattr(AsyncMemory, name)
        assert inspect.iscoroutinefunction(method), name
        assert method.__doc__ == getattr(Memory, name).__doc__, name
        sync, wrapped = inspect.signature(getattr(Memory, name)), inspect.signature(method)
        assert list(sync.parameters) == list(wrapped.parameters), name


def test_the_loop_keeps_running_while_an_add_runs(
    config: Config, embedder: Any, spacy_extractor: Any
) -> None:
    ticks: list[int] = []
    ticked = threading.Event()
    extractor = GatedExtractor(spacy_extractor, lambda: ticked.wait(WAIT))

    async def ticker() -> None:
        while True:
            ticks.append(len(ticks))
            if len(ticks) >= 3:
                ticked.set()  # the add waits for this: the loop ran while the add was running
            await asyncio.sleep(0)

    async def main() -> dict[str, Any]:
        async with AsyncMemory(
            config, embedder=embedder, offline=spacy_extractor, extractor=extractor
        ) as m:
            tick = asyncio.create_task(ticker())
            out = await m.add("My manager Bob works at Acme Robotics.", user_id="alice")
            tick.cancel()
            found = await m.search("Who is my manager?", user_id="alice")
        assert found["results"][0]["memory"] == "My manager Bob works at Acme Robotics."
        return out

    out = asyncio.run(main())
    assert extractor.waited == [True] and len(ticks) >= 3
    assert [r["event"] for r in out["results"]] == ["ADD"]


def test_concurrent_adds_overlap_their_extraction(
    config: Config, embedder: Any, spacy_extractor: Any
) -> None:
    """Two adds are inside the extraction (the LLM call) at the same time: each waits at a
    barrier that only opens when both reached it."""
    barrier = threading.Barrier(2, timeout=WAIT)
    extractor = GatedExtractor(spacy_extractor, lambda: barrier.wait() >= 0)

    async def main() -> list[dict[str, Any]]:
        async with AsyncMemory(
            config, embedder=embedder, offline=spacy_extractor, extractor=extractor
        ) as m:
            return list(
                await asyncio.gather(
                    m.add("Carol lives in Oslo.", user_id="alice"),
                    m.add("Dave works at Globex.", user_id="bob"),
                )
            )

    a, b = asyncio.run(main())
    assert extractor.waited == [True, True]
    assert [r["memory"] for r in a["results"] + b["results"]] == [
        "Carol lives in Oslo.",
        "Dave works at Globex.",
    ]


PEOPLE = ["Anna", "Boris", "Chen", "Dora", "Emil", "Fatima"]
CITIES = ["Lisbon", "Oslo", "Prague", "Quito", "Riga", "Seoul"]


def test_many_concurrent_searches_and_adds_from_threads(
    config: Config, embedder: Any, spacy_extractor: Any
) -> None:
    """Adds and searches of four users interleaved on eight threads: nothing raises, every
    add is stored once, every search sees only its own user's memories, and each fact is
    found by a search for it once written."""
    users = [f"user{i}" for i in range(4)]
    facts = {
        u: [f"{p} lives in {c}." for p, c in zip(PEOPLE, CITIES[i:] + CITIES[:i])]
        for i, u in enumerate(users)
    }

    async def writer(m: AsyncMemory, user: str, done: asyncio.Event) -> None:
        for fact in facts[user]:
            await m.add(fact, user_id=user)
            found = await m.search(f"Where does {fact.split()[0]} live?", user_id=user)
            assert fact in [r["memory"] for r in found["results"]]
        done.set()

    async def reader(m: AsyncMemory, user: str, done: asyncio.Event, seen: list[Any]) -> None:
        while True:  # until the user's writer is done, and once more after
            last = done.is_set()
            for person in PEOPLE[:3]:
                out = await m.search(f"Where does {person} live?", user_id=user, limit=5)
                seen.extend(out["results"])
            seen.extend((await m.get_all(user_id=user))["results"])
            if last:
                return

    async def main() -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
        seen: list[dict[str, Any]] = []
        done = {u: asyncio.Event() for u in users}
        async with AsyncMemory(config, threads=8, embedder=embedder, offline=spacy_extractor) as m:
            await asyncio.gather(
                *(writer(m, u, done[u]) for u in users),
                *(reader(m, u, done[u], seen) for u in users for _ in "ab"),
            )
            stored = {
                u: [r["memory"] for r in (await m.get_all(user_id=u))["results"]] for u in users
            }
        return seen, stored

    seen, stored = asyncio.run(main())
    for u in users:
        assert sorted(stored[u]) == sorted(facts[u])
    assert {r["memory"] for r in seen} == {f for u in users for f in facts[u]}
    assert all(r["memory"] in facts[r["user_id"]] for r in seen)


def test_wraps_a_memory_and_builds_from_a_dict(tmp_path: Path, memory: Memory) -> None:
    wrapped = AsyncMemory(memory, threads=2)
    assert wrapped.memory is memory and wrapped.config is memory.config
    built = AsyncMemory.from_config({"data_dir": tmp_path / "other", "extractor": "offline"})
    assert built.config.data_dir == tmp_path / "other"
    asyncio.run(built.close())
    with pytest.raises(ValueError):
        AsyncMemory(memory, threads=0)


def test_a_search_while_a_write_is_applied_leaves_no_stale_keyword_index(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search that runs while an add is being stored (here: just before its records reach
    the vector store, as another thread's would) builds the keyword index without them;
    once the add returns, a keyword search finds them all the same."""
    memory.add("Quentin collects antique barometers.", user_id="alice")
    store = memory.parts.vectors
    upsert = store.upsert
    searched: list[int] = []

    def interrupted(records: Any, embeddings: Any) -> None:
        if not searched:
            found = memory.search("zeppelins", user_id="alice", config="bm25")
            searched.append(len(found["results"]))
        upsert(records, embeddings)

    monkeypatch.setattr(store, "upsert", interrupted)
    memory.add("My friend Rosalind restores zeppelins.", user_id="alice")
    assert searched == [0]
    found = memory.search("zeppelins", user_id="alice", config="bm25")
    assert [r["memory"] for r in found["results"]] == ["My friend Rosalind restores zeppelins."]


def test_a_read_in_another_thread_does_not_wait_for_a_write(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While an add holds the write lock (here: while it stores its records), a search in
    another thread runs to its end."""
    memory.add("Quentin collects antique barometers.", user_id="alice")
    store = memory.parts.vectors
    upsert = store.upsert
    found: list[list[str]] = []
    done: list[bool] = []

    def search() -> None:
        out = memory.search("Who collects barometers?", user_id="alice")
        found.append([r["memory"] for r in out["results"]])

    def during_the_write(records: Any, embeddings: Any) -> None:
        if not done:
            reader = threading.Thread(target=search, daemon=True)
            reader.start()
            reader.join(WAIT)  # without the lock-free read it waits for this write: WAIT out
            done.append(not reader.is_alive())
        upsert(records, embeddings)

    monkeypatch.setattr(store, "upsert", during_the_write)
    memory.add("My friend Rosalind restores zeppelins.", user_id="alice")
    assert done == [True]  # the search ended while the write was still holding its lock
    assert found == [["Quentin collects antique barometers."]]
