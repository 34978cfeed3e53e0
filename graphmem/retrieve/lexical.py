"""BM25 (bm25s) over a scope's current records (or all, superseded ones too), built lazily,
refreshed after writes."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..models import Scope, searchable
from ..protocols import VectorStore

SMALL = 2000  # indexes up to this size are rebuilt on the first query after any write
MIN_AGE = 2.0  # larger ones at most every MIN_AGE seconds (dense + graph see writes at once)


def tokenize(texts: list[str], ids: bool = False) -> Any:
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", show_progress=False, return_ids=ids)


@dataclass
class _Entry:
    generation: int
    built: float
    ids: list[str]
    bm25: Any


class LexicalIndex:
    """One BM25 index per (store, scope); ``generation`` is bumped by every write."""

    def __init__(self) -> None:
        self._entries: dict[tuple[int, str, bool], _Entry] = {}
        self._lock = threading.Lock()

    def search(
        self,
        store: VectorStore,
        scope: Scope,
        query: str,
        k: int,
        generation: int,
        include_invalid: bool = False,
    ) -> list[tuple[str, float]]:
        entry = self._entry(store, scope, generation, include_invalid)
        if entry is None:
            return []
        words = tokenize([query])[0]
        if not words:
            return []
        scores = np.asarray(entry.bm25.get_scores(words))
        top = np.argsort(-scores)[:k]
        return [(entry.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def _entry(
        self, store: VectorStore, scope: Scope, generation: int, include_invalid: bool
    ) -> _Entry | None:
        key = (id(store), scope.key, include_invalid)
        with self._lock:
            entry = self._entries.get(key)
            fresh = entry is not None and (
                entry.generation == generation
                or (len(entry.ids) > SMALL and time.monotonic() - entry.built < MIN_AGE)
            )
            if fresh:
                return entry
            recs = store.scan(scope, limit=10**9, include_invalid=include_invalid)
            if not recs:
                self._entries.pop(key, None)
                return None
            import bm25s

            bm25 = bm25s.BM25()
            try:
                texts = [searchable(r.text, r.metadata) for r in recs]
                bm25.index(tokenize(texts, ids=True), show_progress=False)
            except ValueError:  # no indexable word in the whole scope
                self._entries.pop(key, None)
                return None
            entry = _Entry(generation, time.monotonic(), [r.id for r in recs], bm25)
            self._entries[key] = entry
            return entry
