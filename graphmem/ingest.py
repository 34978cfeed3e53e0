"""``add_many``'s two phases: every item extracted, then written batch by batch.

- Extraction comes first, for all items: when it fails (the LLM is down, too slow, or keeps
  giving invalid replies) nothing of the call is written. An extractor that makes one LLM
  call per item (``Parts.workers``) runs up to ``llm_concurrency`` of them at once, in
  threads; its results keep the order of the items.
- Batches are then planned (reconciled) and written one after another, in the order given:
  each reconciles against what the batch before it wrote, so the outcome does not depend on
  which call finished first. Each batch is one journaled write; should a later batch fail
  (its reconciliation call, a store), the error says how many items were stored before it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import datetime
from types import TracebackType
from typing import Any

from .errors import ExtractionError
from .factory import Parts
from .inputs import Input, sources
from .models import Scope
from .prompts import Extraction
from .protocols import Extractor
from .write import Item, about

Messages = Sequence[dict[str, str]]
Write = Callable[[list[Input], list[Extraction]], dict[str, Any]]


class Bar:
    """A progress bar on stderr (rich), one line per task (an ``add_many``'s: items extracted
    and stored); ``total`` None: not known. Does nothing unless ``show``."""

    def __init__(
        self, total: int | None, show: bool, tasks: tuple[str, ...] = ("extracted", "stored")
    ) -> None:
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        if show:
            from rich import progress as rp
            from rich.console import Console

            self._progress = rp.Progress(
                rp.TextColumn("{task.description:<9}"),
                rp.BarColumn(),
                rp.MofNCompleteColumn(),
                rp.TimeElapsedColumn(),
                rp.TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            for name in tasks:
                self._tasks[name] = self._progress.add_task(name, total=total)

    def __enter__(self) -> Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, name: str, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._tasks[name], n)


def extract_all(
    parts: Parts, batches: list[list[dict[str, str]]], infer: bool, bar: Bar
) -> list[Extraction]:
    """One extraction per item, in order (``infer=False``: each message kept as it is)."""
    if not infer:
        out = parts.offline.extract_many(batches, as_is=True)
    elif parts.workers and len(batches) > 1:
        one = lambda: bar.advance("extracted", 1)
        return side_by_side(parts.extractor, batches, parts.workers, one)
    else:
        out = parts.extractor.extract_many(batches)
    bar.advance("extracted", len(batches))
    return out


def side_by_side(
    extractor: Extractor, batches: Sequence[Messages], workers: int, done: Callable[[], None]
) -> list[Extraction]:
    """``extractor.extract`` of each batch, ``workers`` at a time, each in a copy of this
    context (so its LLM usage is metered here). On the first failure the calls not yet
    started are cancelled, the running ones awaited, and the error of the earliest item
    raised."""
    pool = ThreadPoolExecutor(min(workers, len(batches)) or 1, "graphmem-llm")
    try:
        futures: list[Future[Extraction]] = []
        for b in batches:
            future = pool.submit(contextvars.copy_context().run, extractor.extract, b)
            future.add_done_callback(lambda f: _count(f, done))
            futures.append(future)
        wait(futures, return_when=FIRST_EXCEPTION)
        if any(_error(f) for f in futures):
            for f in futures:
                f.cancel()
            wait(futures)
            raise next(e for f in futures if (e := _error(f)))
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _error(f: Future[Any]) -> BaseException | None:
    return f.exception() if f.done() and not f.cancelled() else None


def _count(f: Future[Any], done: Callable[[], None]) -> None:
    if not f.cancelled() and f.exception() is None:
        done()


def items(
    scope: Scope, chunk: list[Input], extracted: list[Extraction], at: datetime
) -> list[Item]:
    """What a batch writes: each item's extraction (about its title, if any) and sources."""
    return [
        Item(
            about(e, it.title) if it.title else e,
            sources(it, scope, at),
            it.metadata,
            it.valid_from,
        )
        for it, e in zip(chunk, extracted)
    ]


def in_batches(
    items: list[Input], extractions: list[Extraction], size: int, write: Write, bar: Bar
) -> dict[str, Any]:
    """``write`` each batch of ``size`` items in order; their results and relations joined."""
    out: dict[str, Any] = {"results": [], "relations": {"added": [], "invalidated": []}}
    for start in range(0, len(items), size):
        try:
            res = write(items[start : start + size], extractions[start : start + size])
        except ExtractionError as e:
            if not start:
                raise
            raise ExtractionError(
                f"{e} (the first {start} items were stored, the {len(items) - start} after "
                "them were not)"
            ) from e
        out["results"] += res["results"]
        for key in ("added", "invalidated"):
            out["relations"][key] += res["relations"][key]
        bar.advance("stored", min(size, len(items) - start))
    return out
