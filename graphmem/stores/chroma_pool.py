"""The embedded Chroma's shared pool: exact scoring of pooled records, an owner's move to
collections of its own, and the upgrade of a data dir written with a collection per owner.

Every step is safe to repeat: a move first copies the owner's records into its own
collections (dropping what an earlier, interrupted move left there), then records the move
in the catalog, then deletes the pooled copies; the upgrade moves one owner at a time and
marks the layout upgraded last.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models import FactRecord, Scope
from ..protocols import Vector
from .catalog import LAYOUT, Catalog
from .chroma_rows import rows, scope_where, space, to_metadata

if TYPE_CHECKING:
    from .chroma import ChromaVectorStore

POOL = "pool"  # the pool's partition name (partitions are hex digests: never this)
PAGE = 5000  # rows read at once while moving records
#: pooled records a query reads by id and scores here at most; a query that matches more (an
#: agent or a run across thousands of users) searches the pool's index (``nearest_pooled``)
SCORED_MAX = 2000
#: a query matching more pooled records than this asks the pool's index first when that needs
#: at most ``INDEX_ASK`` neighbours: cheaper than reading and scoring them all here
INDEXED_MIN = 500
INDEX_ASK = 2000
#: the most neighbours ``nearest_pooled`` asks the pool's index for before it falls back to
#: Chroma's filter
UNFILTERED_MAX = 5000
log = logging.getLogger("graphmem")


@dataclass
class Pooled:
    """Pooled records a read must score: the pool collection (None: none yet) and ids."""

    col: Any
    ids: list[str]


def pool_where(
    scope: Scope, where: dict[str, Any] | None, include_invalid: bool
) -> dict[str, Any] | None:
    """The filter of a query of the pool's index: the scope, ``where``, and validity (the
    pool holds current and superseded records alike)."""
    flt = scope_where(scope, where, owner=False)
    if include_invalid:
        return flt
    valid = {"valid": {"$eq": True}}
    return valid if flt is None else {"$and": [valid, flt]}


def best(
    q: Vector, found: Sequence[tuple[FactRecord, Vector]], k: int, cosine: bool
) -> list[list[tuple[FactRecord, float]]]:
    """The ``k`` best of ``found`` for each query row of ``q``, scored as Chroma's index
    scores (``1 - distance``: the cosine, or the inner product). Vectors are as compared."""
    if not found:
        return [[] for _ in range(len(q))]
    queries = np.asarray(q, dtype=np.float32)
    if cosine:
        norms = np.linalg.norm(queries, axis=1, keepdims=True)
        queries = (queries / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    scores = queries @ np.stack([v for _, v in found]).T
    out = []
    for row in scores:
        top = np.argsort(-row, kind="stable")[:k]
        out.append([(found[i][0], float(row[i])) for i in top])
    return out


def pooled_records(
    store: ChromaVectorStore, pooled: Pooled, where: dict[str, Any] | None, vectors: bool = True
) -> list[tuple[FactRecord, Vector | None]]:
    """The pooled records (with their vectors as compared, if ``vectors``) that ``where``
    matches: read by id (through the store's record cache when it has one)."""
    if pooled.col is None or not pooled.ids:
        return []
    ids = pooled.ids
    if where is not None:
        res = store._call("get", pooled.col.get, ids=ids, where=where, include=[])
        if not (ids := res["ids"]):
            return []
    if vectors:
        if store._cache is not None:
            return list(store._cached([(pooled.col, ids)]).values())
        return list(store._read(pooled.col, ids))
    # records only (a keyword index's scan): those cached, the others read without vectors
    cache, name = store._cache, pooled.col.name
    held = {i: e[0] for i in ids if cache is not None and (e := cache.get(name, i))}
    if missing := [i for i in ids if i not in held]:
        res = store._call("get", pooled.col.get, ids=missing, include=["documents", "metadatas"])
        held.update((rec.id, rec) for rec in rows(res))
    return [(held[i], None) for i in ids if i in held]


def score(
    store: ChromaVectorStore, pooled: Pooled, q: Vector, k: int, where: dict[str, Any] | None
) -> list[list[tuple[FactRecord, float]]]:
    """The ``k`` best pooled records per query, scored exactly as the index would."""
    found = [(rec, v) for rec, v in pooled_records(store, pooled, where) if v is not None]
    cosine = pooled.col is not None and space(pooled.col) == "cosine"
    return best(q, found, k, cosine)


def pooled_search(
    store: ChromaVectorStore,
    pooled: Pooled,
    q: Vector,
    k: int,
    where: dict[str, Any] | None,
    records: bool,
) -> list[list[tuple[Any, float]]] | None:
    """The ``k`` best of the pooled records ``pooled.ids`` per query row (records, or ids if
    not ``records``), the cheaper way: scored here from their vectors, or the pool's index
    asked unfiltered (``nearest_pooled``); None when only Chroma's filter can answer (more
    than ``SCORED_MAX`` records, and the query has filters or its scope is rare in the
    pool)."""
    matched = len(pooled.ids)
    listed = store.catalog.count() if store.catalog is not None else matched
    indexed = matched > SCORED_MAX or (
        matched > INDEXED_MIN and _ask(k, matched, listed) <= INDEX_ASK
    )
    if indexed and where is None:
        near = nearest_pooled(pooled, q, k, listed, store._call)
        if all(h is not None for h in near):
            return found_records(store, pooled.col, near, records)
    if matched > SCORED_MAX:
        return None
    scored = score(store, pooled, q, k, where)
    return scored if records else [[(rec.id, s) for rec, s in h] for h in scored]


def _ask(k: int, matched: int, listed: int) -> int:
    """Neighbours to ask the pool's index for, to find ``k`` of ``matched`` among ``listed``."""
    return int(1.5 * k * max(listed, matched) / max(matched, 1)) + 1


def nearest_pooled(
    pooled: Pooled, q: Vector, k: int, listed: int, call: Any
) -> list[list[tuple[str, float]] | None]:
    """The ``k`` best of ``pooled.ids`` per query row, from the pool's index asked without a
    filter (``call``: the store's ``_call``), or None for a row it cannot answer so.

    Chroma evaluates a metadata filter over every row that each clause matches (measured on
    chromadb 1.5.9, a pool of 20k rows: 2 ms unfiltered, 25-60 ms with ``agent_id``, 150-280
    ms with ``valid`` too), so an agent's query across a large pool asks for more neighbours
    unfiltered and keeps those in its scope: the best ``k`` of them are the best ``k`` of the
    scope, as any in-scope row further away is further than all of them. How many to ask for
    is sized by the scope's share of the ``listed`` records, then by its share of the first
    answer."""
    wanted = set(pooled.ids)
    out: list[list[tuple[str, float]] | None] = [None] * len(q)
    todo, n = list(range(len(q))), min(UNFILTERED_MAX, _ask(k, len(wanted), listed))
    for _ in range(2):
        found = n
        res = call(
            "query", pooled.col.query, query_embeddings=q[todo], n_results=n, include=["distances"]
        )
        for row, ids, dists in zip(todo, res["ids"], res["distances"]):
            hits = [(i, 1.0 - float(d)) for i, d in zip(ids, dists) if i in wanted]
            if len(hits) >= k or len(ids) < n:  # enough, or the whole pool was read
                out[row] = hits[:k]
            else:
                found = min(found, len(hits))
        todo = [row for row in todo if out[row] is None]
        if not todo or n >= UNFILTERED_MAX:
            break
        n = min(UNFILTERED_MAX, _ask(k, found, n))
    return out


def found_records(
    store: ChromaVectorStore, col: Any, near: Sequence[Any], records: bool
) -> list[list[tuple[Any, float]]]:
    """``nearest_pooled``'s (id, score) rows as the store's ``_query`` gives them: with their
    records (read by id, through the record cache when the store has one) if ``records``."""
    if not records:
        return [list(h) for h in near]
    ids = list(dict.fromkeys(i for h in near for i, _ in h))
    if store._cache is not None:
        got = {i: rec for i, (rec, _) in store._cached([(col, ids)]).items()}
    else:
        res = store._call("get", col.get, ids=ids, include=["documents", "metadatas"])
        got = {rec.id: rec for rec in rows(res)}
    return [[(got[i], s) for i, s in h if i in got] for h in near]


def promote(store: ChromaVectorStore, catalog: Catalog, part: str) -> None:
    """Move an owner's pooled records to collections of its own."""
    pool = store._col(POOL)
    ids = catalog.ids_of(part)
    if pool is None or not ids:
        return
    for archive in (False, True):  # what an interrupted move left
        if store._col(part, archive) is not None:
            store._cols.drop(store._name(part, archive))
    for start in range(0, len(ids), PAGE):
        read = store._read(pool, ids[start : start + PAGE])
        for archive in (False, True):
            group = [(r, v) for r, v in read if (r.invalid_at is not None) == archive]
            if group:
                _write(store, store._col(part, archive, create=True), group)
    catalog.own(part)
    store._call("delete", pool.delete, ids=ids)
    store._forget(ids)
    log.info("graphmem: %d records of %s moved to their own collections", len(ids), part)


def _write(store: ChromaVectorStore, col: Any, group: Sequence[tuple[FactRecord, Any]]) -> None:
    store._call(
        "upsert",
        col.upsert,
        ids=[r.id for r, _ in group],
        documents=[r.text for r, _ in group],
        metadatas=[to_metadata(r) for r, _ in group],
        embeddings=np.stack([np.asarray(v, dtype=np.float32) for _, v in group]),
    )


def migrate(store: ChromaVectorStore, catalog: Catalog) -> None:
    """Bring a data dir written with a collection per owner to the pooled layout: owners with
    at most ``pool_limit`` records move to the pool, larger ones keep their collections. A
    catalog that was lost (a pool exists, its catalog does not) is read back from the pool
    and the owners' collections."""
    if catalog.version() >= LAYOUT:
        return
    if (pool := store._col(POOL)) is not None:
        catalog.put([rec for rec, _ in _all(store, pool, vectors=False)])
    parts = [p for p in store._partitions() if p != POOL]
    for part in parts:
        cols = [(c, a) for a in (False, True) if (c := store._col(part, a)) is not None]
        found = [(rec, v, c) for c, _ in cols for rec, v in _all(store, c)]
        catalog.put([rec for rec, _, _ in found])
        if len(found) > store.pool_limit or catalog.owns(part):
            catalog.own(part)
            continue
        if found:
            pool = store._col(POOL, create=True)
            for start in range(0, len(found), PAGE):
                chunk = found[start : start + PAGE]
                _write(store, pool, [(rec, v) for rec, v, _ in chunk])
        for _, archive in cols:
            store._cols.drop(store._name(part, archive))
    catalog.upgraded()
    if parts:
        log.info("graphmem: vector store %s upgraded (%d owners)", store.base, len(parts))


def _all(store: ChromaVectorStore, col: Any, vectors: bool = True) -> list[tuple[FactRecord, Any]]:
    """Every row of a collection, with its vector as stored (None unless ``vectors``)."""
    out: list[tuple[FactRecord, Any]] = []
    include = ["documents", "metadatas", "embeddings"] if vectors else ["documents", "metadatas"]
    while True:
        res = store._call("get", col.get, limit=PAGE, offset=len(out), include=include)
        out += zip(rows(res), res["embeddings"] if vectors else [None] * len(res["ids"]))
        if len(res["ids"]) < PAGE:
            return out
