"""Reads kept until one call returns, for stores that keep nothing between calls.

A Chroma server keeps no record cache in this process (another process may write to the
server at any time, and nothing tells this one), so a search that needs a user's records in
two of its steps (the dense ranking, then the hop queries or the records that BM25 and the
graph found) asked the server twice, and looked the user's pooled ids up twice. Inside
``kept_reads()`` (``Memory.search`` enters it) a store keeps what it read, and what it looked
up, until the call returns: the call sees one state of each record, as if its reads were one.
Nothing outlives the call, so nothing goes stale across calls.

The reads are kept in a context variable: each thread (and each task) has its own, and a
thread that the call did not start reads without them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from .record_cache import RecordCache

T = TypeVar("T")

#: records one call keeps per store: a few searches' worth of candidates
CALL_RECORDS = 2048

_KEPT: ContextVar[dict[Hashable, Any] | None] = ContextVar("graphmem_call_reads", default=None)


@contextmanager
def kept_reads() -> Iterator[None]:
    """Keep what the stores read until the block ends (a block inside another is the same)."""
    if _KEPT.get() is not None:
        yield
        return
    token = _KEPT.set({})
    try:
        yield
    finally:
        _KEPT.reset(token)


def call_records(owner: object) -> RecordCache | None:
    """The current call's record cache of ``owner``; None outside ``kept_reads``."""
    kept = _KEPT.get()
    if kept is None:
        return None
    key = ("records", id(owner))
    cache = kept.get(key)
    if cache is None:
        cache = kept[key] = RecordCache(CALL_RECORDS)
    return cache


def once(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``; inside ``kept_reads``, what it gave for ``key`` earlier in the call."""
    kept = _KEPT.get()
    if kept is None:
        return compute()
    if key not in kept:
        kept[key] = compute()
    value: T = kept[key]
    return value
