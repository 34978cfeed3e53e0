"""Records read from Chroma, with their vectors, kept in memory for the next reads.

A search reads the same records again and again (the best facts of a user, the passages of a
topic), and Chroma spends most of a query reading them back from SQLite: with the records
held here, a query asks Chroma for ids and distances only. The store fills it with what it
writes (as a read would return it: through the same metadata round trip) and with what it
reads; a write first drops every record it touches, so a read after a write sees the write.
Like the embedded graph, this relies on one process writing the data dir (``owner.py``); a
read-only process drops it all whenever that one wrote (``ChromaVectorStore.refresh``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from ..models import FactRecord
from ..protocols import Vector

Entry = tuple[FactRecord, Vector]


class RecordCache:
    """At most ``size`` records (least recently used out first), each with the collection it
    was read from: a record lives in one collection at a time (current or archive)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[str, FactRecord, Vector]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, collection: str, record_id: str) -> Entry | None:
        with self._lock:
            found = self._entries.get(record_id)
            if found is None or found[0] != collection:
                return None
            self._entries.move_to_end(record_id)
            return found[1], found[2]

    def put(self, collection: str, entries: Iterable[Entry]) -> None:
        with self._lock:
            for rec, vec in entries:
                self._entries[rec.id] = (collection, rec, vec)
                self._entries.move_to_end(rec.id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def drop(self, ids: Iterable[str]) -> None:
        with self._lock:
            for i in ids:
                self._entries.pop(i, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
