"""Entity-name vectors kept in the embedded graph store's file, beside the entities.

Entity resolution, query linking and hop queries compare a name's embedding with the names
of one scope's entities (``resolve.py``, ``retrieve/link.py``, ``retrieve/hops.py``): they
read ids, names and cosines, always inside a scope. On the embedded graph the vectors are a
table of the graph's SQLite file (``name_vectors``: entity id → float16 vector, 768 bytes
for 384 dimensions; the name, type and scope are the entity row's) instead of records of a
Chroma collection of their own, which kept an HNSW index entry, a document, a full-text
entry and seven metadata rows for each name (2.9 KB against 0.9 KB here, measured).

A scope holds few entities (even a scope of 100k facts has some 50k), so a query scores every
name of the scopes it matches exactly: one matrix product over a float32 matrix of the
scope's vectors (unit length), kept in memory once read; ``cache_bytes`` bounds them all (the
least recently used let go, read again from the file when needed). A write updates a loaded
matrix in place. float16 moves a cosine by at most 4e-5 (19M pairs of 4,365 names; see
``docs/entity-names.md``): no decision at the entity-merge threshold changed.

Implements :class:`~graphmem.protocols.VectorStore` for the name records the write path makes
(``FactRecord(entity id, name, scope, {"type": type})``); metadata filters are not taken.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BackendError, ConfigError, InvalidInputError
from ..models import FactRecord, Scope
from ..protocols import Vector
from .networkx_store import NetworkXGraphStore
from .scope_index import CHUNK
from .sqlite_rows import scope_of_key, ts

if TYPE_CHECKING:
    from .chroma import ChromaVectorStore

STORED = np.float16  # how a vector is kept in the file
FAMILY = "name_vector_family"  # the ``meta`` key naming the embedder of the vectors
_COLUMNS = "e.id, e.scope, e.name, e.type, e.created_at"
_BY_ID = (
    f"SELECT {_COLUMNS}, v.vector FROM name_vectors v JOIN entities e ON e.id = v.id"
    " WHERE v.id IN ({marks})"
)
_OF_SCOPES = (
    "SELECT e.scope, v.id, v.vector FROM entities e JOIN name_vectors v ON v.id = e.id"
    " WHERE e.scope IN ({marks})"
)
_LISTED = (
    f"SELECT {_COLUMNS}, v.vector FROM entities e JOIN name_vectors v ON v.id = e.id"
    " WHERE e.scope = ? ORDER BY e.created_at, e.id LIMIT ?"
)
_HOMES = "SELECT id, scope FROM entities WHERE id IN ({marks})"
_PUT = "INSERT OR REPLACE INTO name_vectors VALUES (?, ?)"
_KEEP = "INSERT OR IGNORE INTO name_vectors VALUES (?, ?)"  # an upgrade: what is there wins
_GONE = "DELETE FROM name_vectors WHERE id=?"
_OF_SCOPE = "DELETE FROM name_vectors WHERE id IN (SELECT id FROM entities WHERE scope=?)"
_FAMILY = "INSERT OR IGNORE INTO meta VALUES (?, ?)"


def encode(vec: Vector) -> bytes:
    return np.asarray(vec, dtype=np.float32).astype(STORED).tobytes()


def decode(blobs: Sequence[bytes]) -> Vector:
    """Stored vectors as the rows of a float32 matrix, each of unit length."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    m = np.frombuffer(b"".join(blobs), dtype=STORED).reshape(len(blobs), -1).astype(np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    m /= np.where(norms > 0, norms, 1.0)
    return m


class Matrix:
    """One scope's vectors as rows of a float32 matrix with room to grow, and their ids."""

    def __init__(self, ids: list[str], rows: Vector) -> None:
        self.ids = ids
        self.row = {i: n for n, i in enumerate(ids)}
        self._m = rows

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def rows(self) -> Vector:
        return self._m[: self.n]

    @property
    def nbytes(self) -> int:
        return int(self._m.nbytes) + 120 * self.n  # the ids and their index, roughly

    def put(self, id_: str, vec: Vector) -> None:
        n = self.row.get(id_)
        if n is None:
            if self.n == len(self._m) or self._m.shape[1] != len(vec):
                # a quarter more: a big scope's matrix (77 MB at 50k names) is not doubled
                grown = np.zeros((self.n + max(8, self.n // 4), len(vec)), dtype=np.float32)
                if self.n:  # an empty scope's matrix may have no columns yet
                    grown[: self.n] = self.rows
                self._m = grown
            n = self.row[id_] = self.n
            self.ids.append(id_)
        self._m[n] = vec

    def drop(self, id_: str) -> None:
        """Remove a row: the last one takes its place."""
        n = self.row.pop(id_, None)
        if n is None:
            return
        last = self.ids.pop()
        if last != id_:
            self.ids[n], self.row[last] = last, n
            self._m[n] = self._m[self.n]


class Matrices:
    """Loaded scope matrices by scope key, least recently used first, at most ``budget``
    bytes in all (a scope bigger than that is scored and not kept)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._m: OrderedDict[str, Matrix] = OrderedDict()
        self._bytes: dict[str, int] = {}
        self.total = 0

    def get(self, key: str) -> Matrix | None:
        m = self._m.get(key)
        if m is not None:
            self._m.move_to_end(key)
        return m

    def keep(self, key: str, m: Matrix) -> None:
        self.drop([key])
        if m.nbytes > self.budget:
            return
        self._m[key], self._bytes[key] = m, m.nbytes
        self.total += m.nbytes
        while self.total > self.budget:
            self.drop([next(iter(self._m))])

    def changed(self, key: str) -> None:
        """The matrix of ``key`` grew or shrank in place."""
        m = self._m.get(key)
        if m is not None:
            self.keep(key, m)

    def loaded(self) -> list[tuple[str, Matrix]]:
        return list(self._m.items())

    def drop(self, keys: Sequence[str]) -> None:
        for key in keys:
            if self._m.pop(key, None) is not None:
                self.total -= self._bytes.pop(key)

    def clear(self) -> None:
        self._m.clear()
        self._bytes.clear()
        self.total = 0


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _record(row: Sequence[Any]) -> FactRecord:
    """A name record as the write path makes it, from an entity row."""
    id_, key, name, type_, created = row[:5]
    when = ts(created) or datetime.now(UTC)
    return FactRecord(id_, name, scope_of_key(key), {"type": type_}, when)


class GraphNameVectors:
    """The entity-name :class:`~graphmem.protocols.VectorStore` of the embedded graph store.

    ``legacy``: builds the Chroma store that held the names before (``<collection>_entities``)
    and the path of its catalog file; on ``setup`` whatever it holds moves here
    (``name_move.py``). None: nothing to look for (a read-only process)."""

    def __init__(
        self,
        graph: NetworkXGraphStore,
        family: str,
        cache_bytes: int = 128 * 2**20,
        legacy: Callable[[], tuple[ChromaVectorStore, Path | None]] | None = None,
    ) -> None:
        self.graph, self.family, self._legacy = graph, family, legacy
        self._cache = Matrices(cache_bytes)
        self._lock = threading.RLock()
        self._seen = -1  # the graph file's ``changes()`` when the cache was filled
        self._ready = False

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        with self._lock:
            if self._ready:
                return
            self.graph.setup()
            self._check_family()
            if self._legacy is not None:
                from .name_move import move_names

                old, catalog = self._legacy()
                move_names(self, old, catalog)
            self._seen = self.graph.changes()
            self._ready = True

    def _check_family(self) -> None:
        rows = self.graph.select("SELECT value FROM meta WHERE key=?", [FAMILY])
        if rows and rows[0][0] != self.family:
            raise ConfigError(
                f"graph store {self.graph.path} holds {rows[0][0]} embeddings of entity names, "
                f"but this configuration embeds with {self.family}: set embed_model back, or "
                "use another data_dir (and re-add the memories)"
            )

    def loaded_scopes(self) -> list[str]:
        """Keys of the scopes whose matrices are held in memory, least recently used first."""
        with self._lock:
            return [key for key, _ in self._cache.loaded()]

    def cached_bytes(self) -> int:
        with self._lock:
            return self._cache.total

    def refresh(self) -> None:
        with self._lock:
            seen = self.graph.changes()
            if seen != self._seen:
                self._cache.clear()
                self._seen = seen

    def close(self) -> None:
        with self._lock:
            self._cache.clear()
            self._ready = False

    def reset(self) -> None:
        with self._lock:
            self.graph.run(
                [("DELETE FROM name_vectors", [()]), ("DELETE FROM meta WHERE key=?", [(FAMILY,)])]
            )
            self._cache.clear()

    # -- writes ----------------------------------------------------------------------------
    def upsert(self, records: Sequence[FactRecord], embeddings: Vector | None) -> None:
        """Store the name vectors of entities in the graph (the name, type and scope are the
        entity's). ``embeddings=None`` changes nothing: a name record has no metadata of its
        own. A record of an entity the graph does not hold is refused (``BackendError``)."""
        self.setup()
        if embeddings is None or not records:
            return
        vecs = np.asarray(embeddings, dtype=np.float32)
        self.put([r.id for r in records], vecs, keep=False)

    def put(self, ids: Sequence[str], vecs: Vector, keep: bool) -> int:
        """Write the vectors of the entities ``ids`` (``keep``: a vector already stored
        stays, and an id the graph does not hold is skipped, not refused); how many it took."""
        with self._lock:
            homes = self._homes(ids)
            missing = [i for i in ids if i not in homes]
            if missing and not keep:
                raise BackendError(f"name vector of unknown entity {missing[0]}")
            rows = [(i, encode(v)) for i, v in zip(ids, vecs) if i in homes]
            self.graph.run([(_FAMILY, [(FAMILY, self.family)]), (_KEEP if keep else _PUT, rows)])
            if not keep:
                self._loaded_put(homes, ids, vecs)
            else:  # an upgrade: the scopes are read again when needed
                self._cache.drop(list(set(homes.values())))
            return len(rows)

    def _loaded_put(self, homes: dict[str, str], ids: Sequence[str], vecs: Vector) -> None:
        unit = decode([encode(v) for v in vecs]) if len(ids) else vecs  # as read back
        for i, v in zip(ids, unit):
            key = homes.get(i)
            m = self._cache.get(key) if key is not None else None
            if key is not None and m is not None:
                m.put(i, v)
                self._cache.changed(key)

    def delete(self, ids: Sequence[str]) -> None:
        self.setup()
        if not ids:
            return
        with self._lock:
            homes = self._homes(ids)
            self.graph.run([(_GONE, [(i,) for i in ids])])
            for i, key in homes.items():
                if (m := self._cache.get(key)) is not None:
                    m.drop(i)
                    self._cache.changed(key)

    def delete_scope(self, scope: Scope) -> list[str]:
        """The vectors of the scope's entities (the graph store's ``delete_scope`` removes
        them with the entities; this is for a scope whose entities stay)."""
        self.setup()
        with self._lock:
            keys = self.graph.matching(scope)
            ids = [r.id for key in keys for r in self._listed(key, 10**9)]
            self.graph.run([(_OF_SCOPE, [(k,) for k in keys])])
            self._cache.drop(keys)
            return ids

    # -- reads -----------------------------------------------------------------------------
    def query(
        self,
        scope: Scope,
        embedding: Vector,
        k: int,
        where: dict[str, Any] | None = None,
        include_invalid: bool = False,
    ) -> list[tuple[FactRecord, float]]:
        _no_filter(where)
        return self.query_batch(scope, np.asarray(embedding, dtype=np.float32).reshape(1, -1), k)[0]

    def query_batch(
        self, scope: Scope, embeddings: Vector, k: int
    ) -> list[list[tuple[FactRecord, float]]]:
        hits = self.nearest(scope, embeddings, k)
        found = {r.id: r for r in self.get([i for h in hits for i, _ in h])}
        return [[(found[i], s) for i, s in h if i in found] for h in hits]

    def nearest(self, scope: Scope, embeddings: Vector, k: int) -> list[list[tuple[str, float]]]:
        self.setup()
        q = np.asarray(embeddings, dtype=np.float32)
        if len(q) == 0:
            return []
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        with self._lock:
            ids, rows = self._scored(scope)
            if not ids or k < 1:
                return [[] for _ in q]
            sims = q @ rows.T
            k = min(k, len(ids))
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            return [_ranked(ids, sims[n], idx) for n, idx in enumerate(top)]

    def _scored(self, scope: Scope) -> tuple[list[str], Vector]:
        """The ids and vectors of every name in the scopes ``scope`` matches."""
        keys = self.graph.matching(scope)
        mats = {key: m for key in keys if (m := self._cache.get(key)) is not None}
        todo = [key for key in keys if key not in mats]
        if todo:
            mats.update(self._load(todo))
        full = [mats[key] for key in keys if key in mats and mats[key].n]
        if not full:
            return [], np.zeros((0, 0), dtype=np.float32)
        if len(full) == 1:
            return full[0].ids, full[0].rows
        return [i for m in full for i in m.ids], np.concatenate([m.rows for m in full])

    def _load(self, keys: Sequence[str]) -> dict[str, Matrix]:
        """The matrices of scopes, read from the file (and kept, within the budget)."""
        grouped: dict[str, tuple[list[str], list[bytes]]] = {key: ([], []) for key in keys}
        for start in range(0, len(keys), CHUNK):
            chunk = list(keys[start : start + CHUNK])
            for key, id_, blob in self.graph.select(
                _OF_SCOPES.format(marks=_marks(len(chunk))), chunk
            ):
                grouped[key][0].append(id_)
                grouped[key][1].append(blob)
        out = {}
        for key, (ids, blobs) in grouped.items():
            out[key] = m = Matrix(ids, decode(blobs))
            self._cache.keep(key, m)
        return out

    def _homes(self, ids: Sequence[str]) -> dict[str, str]:
        """Entity id → its scope key, for the ids the graph holds."""
        return dict(self._by_id(_HOMES, ids))

    def _by_id(self, select: str, ids: Sequence[str]) -> list[Any]:
        out: list[Any] = []
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start : start + CHUNK]
            out += self.graph.select(select.format(marks=_marks(len(chunk))), chunk)
        return out

    def get(
        self,
        ids: Sequence[str],
        scope: Scope | None = None,
        where: dict[str, Any] | None = None,
        include_invalid: bool = True,
    ) -> list[FactRecord]:
        _no_filter(where)
        return [rec for rec, _ in self._read(ids, scope)]

    def fetch(
        self,
        ids: Sequence[str],
        scope: Scope,
        where: dict[str, Any] | None = None,
        include_invalid: bool = False,
    ) -> list[tuple[FactRecord, Vector]]:
        _no_filter(where)
        return self._read(ids, scope)

    def superseded(self, ids: Sequence[str]) -> set[str]:
        """None of them: a name record is never superseded."""
        return set()

    def _read(self, ids: Sequence[str], scope: Scope | None) -> list[tuple[FactRecord, Vector]]:
        self.setup()
        rows = {row[0]: row for row in self._by_id(_BY_ID, ids)}
        found = [rows[i] for i in dict.fromkeys(ids) if i in rows]
        vecs = decode([row[5] for row in found])
        pairs = [(_record(row), v) for row, v in zip(found, vecs)]
        return [(rec, v) for rec, v in pairs if scope is None or scope.contains(rec.scope)]

    def scan(
        self,
        scope: Scope,
        where: dict[str, Any] | None = None,
        limit: int = 100,
        include_invalid: bool = False,
    ) -> list[FactRecord]:
        _no_filter(where)
        self.setup()
        recs = [r for key in self.graph.matching(scope) for r in self._listed(key, limit)]
        return sorted(recs, key=lambda r: r.created_at)[:limit]

    def _listed(self, key: str, limit: int) -> list[FactRecord]:
        return [_record(row) for row in self.graph.select(_LISTED, [key, limit])]


def _ranked(ids: list[str], sims: Vector, idx: Vector) -> list[tuple[str, float]]:
    """The ids at ``idx`` with their similarities, best first (ties by id)."""
    best = sorted((-float(sims[j]), ids[j]) for j in idx)
    return [(i, -s) for s, i in best]


def _no_filter(where: dict[str, Any] | None) -> None:
    if where:
        raise InvalidInputError("entity names are not filtered by metadata")
