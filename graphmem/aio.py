"""``AsyncMemory``: :class:`~graphmem.Memory` for event loops (asyncio, trio), awaitable.

One implementation: every method is ``Memory``'s own, run in a worker thread
(``anyio.to_thread.run_sync``) so the event loop never waits on an embedding, a store or an
LLM call. At most ``threads`` calls of one ``AsyncMemory`` run at a time; the others wait
for a free thread without blocking the loop.

Concurrency model (what ``Memory`` guarantees to the threads it runs in):

- ``add`` extracts facts (the LLM call, or spaCy) outside any lock, so concurrent ``add``\\ s
  overlap their extraction; planning and applying a write then holds the ``Memory``'s lock
  and the graph store's lock of the scope: the writes of one process are serialised, each
  reconciled against what the one before it wrote.
- reads (``search``, ``get_all``, ``get``, ``history``…) take no write lock and run side by
  side: the embedded stores are shared by threads (one SQLite connection each, opened with
  ``check_same_thread=False`` and used under the store's lock; the NetworkX scope graphs
  and record caches under their store's lock; the ONNX session under the embedder's
  lock), and Chroma's and Neo4j's clients are thread-safe.
- a read that runs while a write is applied sees the memory before or after that write's
  records are stored, as a reader in another process would.
- a call that is cancelled (its task, a timeout) still runs to its end in its thread: a
  write is never cut half-way by a cancellation; the caller just stops waiting for it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio
import anyio.to_thread

from .config import Config
from .memory import Memory

P = ParamSpec("P")
R = TypeVar("R")


def _in_thread(
    fn: Callable[Concatenate[Memory, P], R],
) -> Callable[Concatenate[AsyncMemory, P], Awaitable[R]]:
    """``Memory.fn`` as an ``AsyncMemory`` method: same arguments, same docstring, awaitable."""

    async def method(self: AsyncMemory, /, *args: P.args, **kwargs: P.kwargs) -> R:
        call = functools.partial(fn, self.memory, *args, **kwargs)
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    functools.update_wrapper(method, fn)
    return method


class AsyncMemory:
    """:class:`~graphmem.Memory` with awaitable methods that never block the event loop.

    ``AsyncMemory()`` / ``AsyncMemory(config)`` / ``AsyncMemory.from_config({...})`` open a
    ``Memory`` as ``Memory`` does (parts may be injected by keyword); ``AsyncMemory(memory)``
    wraps an existing one. ``threads``: how many calls run at once (in worker threads).
    """

    def __init__(
        self, config: Config | Memory | None = None, *, threads: int = 8, **parts: Any
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.memory = config if isinstance(config, Memory) else Memory(config, **parts)
        self._limiter = anyio.CapacityLimiter(threads)

    @classmethod
    def from_config(cls, config: dict[str, Any], *, threads: int = 8) -> AsyncMemory:
        return cls(Memory.from_config(config), threads=threads)

    @property
    def config(self) -> Config:
        return self.memory.config

    add = _in_thread(Memory.add)
    add_many = _in_thread(Memory.add_many)
    search = _in_thread(Memory.search)
    ask = _in_thread(Memory.ask)
    usage = _in_thread(Memory.usage)
    get = _in_thread(Memory.get)
    get_all = _in_thread(Memory.get_all)
    update = _in_thread(Memory.update)
    delete = _in_thread(Memory.delete)
    delete_all = _in_thread(Memory.delete_all)
    erase = _in_thread(Memory.erase)
    history = _in_thread(Memory.history)
    entities = _in_thread(Memory.entities)
    graph = _in_thread(Memory.graph)
    paths = _in_thread(Memory.paths)
    export = _in_thread(Memory.export)
    import_ = _in_thread(Memory.import_)
    reset = _in_thread(Memory.reset)
    health = _in_thread(Memory.health)
    retry_quarantined = _in_thread(Memory.retry_quarantined)
    drop_quarantined = _in_thread(Memory.drop_quarantined)
    close = _in_thread(Memory.close)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


__all__ = ["AsyncMemory"]
