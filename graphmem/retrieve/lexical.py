"""BM25 (bm25s) in this process over a scope's current records (or all, superseded ones too),
built lazily, refreshed after writes: the embedded :class:`~graphmem.protocols.KeywordIndex`.

It sees the writes made through its own ``Memory`` only (``changed``), which is all there is
when one process owns the data dir; processes that share servers search a shared index
instead (the Neo4j store's full-text index, see ``factory``)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..models import Scope, searchable
from ..protocols import Corpus, VectorStore
from ..terms import tokenize, words

SMALL = 2000  # indexes up to this size are rebuilt on the first query after any write
MIN_AGE = 2.0  # larger ones at most every MIN_AGE seconds (dense + graph see writes at once)
KEPT = 512  # indexes kept (least recently used out first): thousands of small scopes share it


@dataclass
class _Entry:
    generation: int
    built: float
    ids: list[str]
    bm25: Any


class LexicalIndex:
    """One BM25 index per (corpus, scope, archive), at most ``kept`` of them; ``changed``
    makes them stale."""

    def __init__(self, facts: VectorStore, sources: VectorStore, kept: int = KEPT) -> None:
        self._stores: dict[Corpus, VectorStore] = {"facts": facts, "sources": sources}
        self._entries: OrderedDict[tuple[Corpus, str, bool], _Entry] = OrderedDict()
        self._kept = kept
        self._generation = 0
        self._lock = threading.Lock()  # held while an index is built
        self._counter = threading.Lock()  # a write never waits for a build

    def changed(self) -> None:
        with self._counter:
            self._generation += 1

    def search(
        self,
        corpus: Corpus,
        scope: Scope,
        query: str,
        k: int,
        include_invalid: bool = False,
    ) -> list[tuple[str, float]]:
        query_words = words(query)
        if not query_words:
            return []
        entry = self._entry(corpus, scope, include_invalid)
        if entry is None:
            return []
        scores = np.asarray(entry.bm25.get_scores(query_words))
        top = np.argsort(-scores)[:k]
        return [(entry.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def _entry(self, corpus: Corpus, scope: Scope, include_invalid: bool) -> _Entry | None:
        key = (corpus, scope.key, include_invalid)
        with self._lock:
            entry = self._entries.get(key)
            generation = self._generation
            fresh = entry is not None and (
                entry.generation == generation
                or (len(entry.ids) > SMALL and time.monotonic() - entry.built < MIN_AGE)
            )
            if fresh:
                self._entries.move_to_end(key)
                return entry
            found = _texts(self._stores[corpus], scope, include_invalid)
            if not found:
                self._entries.pop(key, None)
                return None
            import bm25s

            bm25 = bm25s.BM25()
            try:
                bm25.index(tokenize([text for _, text in found], ids=True), show_progress=False)
            except ValueError:  # no indexable word in the whole scope
                self._entries.pop(key, None)
                return None
            entry = _Entry(generation, time.monotonic(), [i for i, _ in found], bm25)
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._kept:
                self._entries.popitem(last=False)
            return entry


@runtime_checkable
class _Texts(Protocol):
    """A store that may list a scope's searchable texts without reading its records back
    (the embedded Chroma store, from its catalog): None when it cannot."""

    def keyword_texts(
        self, scope: Scope, include_invalid: bool
    ) -> list[tuple[str, str]] | None: ...


def _texts(store: VectorStore, scope: Scope, include_invalid: bool) -> list[tuple[str, str]]:
    """(id, searchable text) of the scope's records, oldest first (ties as ``scan`` lists)."""
    if isinstance(store, _Texts) and (found := store.keyword_texts(scope, include_invalid)):
        return found
    recs = store.scan(scope, limit=10**9, include_invalid=include_invalid)
    return [(r.id, searchable(r.text, r.metadata)) for r in recs]
