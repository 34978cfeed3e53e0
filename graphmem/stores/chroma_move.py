"""Records moving between a pooled Chroma store's collections: an owner's move out of the
pool, what a write or a delete does while a move may be under way, and the upgrade of a store
written in an older layout.

Several processes may write one store (a Chroma server, or the threads of one process), and
writes of one owner in two scopes (user X with agent A, user X with agent B) do not wait for
each other. So a move never counts on being alone:

1. it is recorded first (``own``: the partition is *moving*). From then on, writes of the
   owner go to its own collections, and reads take its own collections plus its pooled
   records that those do not hold yet (``chroma_pool.locate``);
2. its pooled records are copied with Chroma's ``add``, which never replaces a row (a row
   there was written after step 1, so it is newer), then deleted from the pool. A record
   deleted meanwhile was reported to the catalog first (``drop``), so the move deletes the
   copy it made (``dropped``); a delete that did not see the move start deletes again from
   the owner's collections once it does;
3. it is recorded *moved*: reads skip the pool.

A writer that put records in the pool looks again afterwards whether their owner started to
move meanwhile; if so it writes them again, to the owner's collections. Every step is safe to
repeat: a move interrupted anywhere is completed by the next write of its owner (which finds
it moving), and two moves of one owner at once complete it together.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models import FactRecord, partition
from .catalog import LAYOUT, VectorCatalog
from .chroma_pool import CATALOG, POOL, id_targets, present, row
from .chroma_rows import rows

if TYPE_CHECKING:
    from .chroma import ChromaVectorStore

PAGE = 5000  # rows read at once while moving records
log = logging.getLogger("graphmem")


def promote(store: ChromaVectorStore, catalog: VectorCatalog, part: str) -> None:
    """Move an owner's pooled records to collections of its own."""
    catalog.own(part)
    sweep(store, catalog, part)


def sweep(store: ChromaVectorStore, catalog: VectorCatalog, part: str) -> None:
    """Move what the pool still holds of the moving partition ``part``; then it has moved."""
    pool = store._col(POOL)
    ids = catalog.ids_of(part) if pool is not None else []
    moved = 0
    for start in range(0, len(ids), PAGE):
        read = store._read(pool, ids[start : start + PAGE])
        if read:
            _copy(store, catalog, part, read)
            done = [rec.id for rec, _ in read]
            store._call("delete", pool.delete, ids=done)
            store._forget(done)
            moved += len(done)
    catalog.moved(part)
    if moved:
        log.info("graphmem: %d records of %s moved to their own collections", moved, part)


def _copy(
    store: ChromaVectorStore,
    catalog: VectorCatalog,
    part: str,
    read: Sequence[tuple[FactRecord, Any]],
) -> None:
    """Copy pooled records into the partition's collections where it holds none of them,
    then delete the copies of those dropped meanwhile."""
    ids = [rec.id for rec, _ in read]
    there = present(store, part, ids)
    for archive in (False, True):
        group = [(r, v) for r, v in read if (r.invalid_at is not None) == archive]
        if group := [(r, v) for r, v in group if r.id not in there]:
            _write(store, store._col(part, archive, create=True), group, pooled=False)
    if gone := catalog.dropped(ids):
        _delete(store, [part], sorted(gone))


def _write(
    store: ChromaVectorStore, col: Any, group: Sequence[tuple[FactRecord, Any]], pooled: bool
) -> None:
    """Write copies of records: ``add``, which leaves a row that exists alone."""
    for start in range(0, len(group), PAGE):
        chunk = group[start : start + PAGE]
        store._call(
            "add",
            col.add,
            ids=[r.id for r, _ in chunk],
            documents=[r.text for r, _ in chunk],
            # a new row: keys without a value are left out (``add`` takes no None)
            metadatas=[
                {k: v for k, v in row(store, r, pooled).items() if v is not None} for r, _ in chunk
            ],
            embeddings=np.stack([np.asarray(v, dtype=np.float32) for _, v in chunk]),
        )


def _delete(store: ChromaVectorStore, parts: Sequence[str], ids: list[str]) -> None:
    for part in parts:
        for archive in (False, True):
            if (col := store._col(part, archive)) is not None:
                store._call("delete", col.delete, ids=ids)


def settle(
    store: ChromaVectorStore,
    catalog: VectorCatalog,
    records: Sequence[FactRecord],
    embeddings: Any,
    pooled: list[int],
    states: dict[str, bool],
) -> None:
    """After a write (``states``: the owned partitions it saw, ``pooled``: the records it
    put in the pool): write again, to their owner's collections, the records whose owner
    started to move meanwhile; move the owners that grew past the pool's limit; complete
    the moves that were under way."""
    added = Counter(partition(records[i].scope) for i in pooled)
    now = catalog.states(sorted(added))
    if late := [i for i in pooled if partition(records[i].scope) in now]:
        store._upsert([records[i] for i in late], embeddings[late], unpool=True)
    for part in sorted(added.keys() - now.keys()):
        known = catalog.counted(part)  # by the read that planned this write
        if known is not None and known + added[part] <= store.pool_limit:
            continue
        if catalog.size(part) > store.pool_limit:
            promote(store, catalog, part)
    for part in sorted(p for p, done in states.items() if not done):
        sweep(store, catalog, part)


def remove(store: ChromaVectorStore, catalog: VectorCatalog, ids: Sequence[str]) -> None:
    """Delete records wherever they are; the catalog hears it first (see the module's
    docstring), and again if an owner started to move meanwhile."""
    if not ids:
        return
    targets = id_targets(store, catalog, ids, archive_too=True, scope=None)
    before = catalog.states()
    catalog.drop(ids)
    for col, group in targets:
        store._call("delete", col.delete, ids=group)
    if (pool := store._col(POOL)) is not None:  # copies that a move has not deleted yet
        store._call("delete", pool.delete, ids=list(ids))
    if late := [p for p in catalog.states() if p not in before]:
        catalog.drop(ids)
        _delete(store, late, list(ids))


# -- upgrades --------------------------------------------------------------------------------
def migrate(store: ChromaVectorStore, catalog: VectorCatalog) -> None:
    """Bring a store of an older layout to this one. Written with a collection per owner (or
    a catalog lost: a pool exists, its catalog does not): owners with at most ``pool_limit``
    records move to the pool, larger ones keep their collections. Written by the move of
    layout 2, which copied before it recorded: the collections of an owner that is not
    recorded are what an interrupted move left, and go."""
    version = catalog.version()
    if version >= LAYOUT:
        return
    parts = [p for p in store._partitions() if p not in (POOL, CATALOG)]
    owned = catalog.states()
    if version == 2:
        _drop(store, [p for p in parts if p not in owned])
    else:
        _pool_small(store, catalog, [p for p in parts if p not in owned])
    catalog.upgraded()
    if parts:
        log.info("graphmem: vector store %s upgraded (%d owners)", store.base, len(parts))


def _pool_small(store: ChromaVectorStore, catalog: VectorCatalog, parts: list[str]) -> None:
    if catalog.keeps_records and (pool := store._col(POOL)) is not None:
        catalog.put([rec for rec, _ in _all(store, pool, vectors=False)])
    for part in parts:
        cols = [(c, a) for a in (False, True) if (c := store._col(part, a)) is not None]
        found = [(rec, v) for c, _ in cols for rec, v in _all(store, c)]
        catalog.put([rec for rec, _ in found])
        if len(found) > store.pool_limit:
            catalog.own(part)
            catalog.moved(part)
            continue
        if found:  # ``add``: a record written to the pool since is newer
            _write(store, store._col(POOL, create=True), found, pooled=True)
        _drop(store, [part])


def _drop(store: ChromaVectorStore, parts: list[str]) -> None:
    for part in parts:
        for archive in (False, True):
            if store._col(part, archive) is not None:
                store._cols.drop(store._name(part, archive))


def _all(store: ChromaVectorStore, col: Any, vectors: bool = True) -> list[tuple[FactRecord, Any]]:
    """Every row of a collection, with its vector as stored (None unless ``vectors``)."""
    return [hit for page in _pages(store, col, vectors) for hit in page]


def _pages(
    store: ChromaVectorStore, col: Any, vectors: bool = True
) -> Iterator[list[tuple[FactRecord, Any]]]:
    """``_all``, ``PAGE`` rows at a time."""
    include = ["documents", "metadatas", "embeddings"] if vectors else ["documents", "metadatas"]
    offset = 0
    while True:
        res = store._call("get", col.get, limit=PAGE, offset=offset, include=include)
        yield list(zip(rows(res), res["embeddings"] if vectors else [None] * len(res["ids"])))
        offset += len(res["ids"])
        if len(res["ids"]) < PAGE:
            return


def pages(store: ChromaVectorStore) -> Iterator[list[tuple[FactRecord, Any]]]:
    """Every row of every collection of the store (pooled, its owners', archived), with its
    vector as stored, ``PAGE`` rows at a time: what moving the store elsewhere reads."""
    for part in store._partitions():
        for archive in (False, True):
            if part != CATALOG and (col := store._col(part, archive)) is not None:
                yield from _pages(store, col)
