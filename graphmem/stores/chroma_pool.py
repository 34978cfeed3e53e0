"""Reads of a pooled Chroma store: which collections and pooled records a read takes (by the
catalog), and exact scoring of pooled records. Moves between collections: ``chroma_move``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models import FactRecord, Scope, partition
from ..protocols import Vector
from .catalog import VectorCatalog
from .chroma_rows import by_part, rows, scope_where, space, to_metadata

if TYPE_CHECKING:
    from .chroma import ChromaVectorStore

POOL = "pool"  # the pool's partition name (partitions are hex digests: never this)
CATALOG = "catalog"  # a server catalog's marker collection (``chroma_catalog``)
#: pooled records a query reads by id and scores here at most; a query that matches more (an
#: agent or a run across thousands of users) searches the pool's index with Chroma's filter,
#: whose cost grows with the pool but not with the records matched
SCORED_MAX = 2000


@dataclass
class Pooled:
    """Pooled records a read must score: the pool collection (None: none yet) and ids."""

    col: Any
    ids: list[str]


def row(rec: FactRecord, pooled: bool) -> dict[str, Any]:
    """A record's metadata as written; a pooled row also names its owner partition, by which
    a server's catalog finds an owner's rows (``chroma_catalog``)."""
    md = to_metadata(rec)
    if pooled:
        md["part"] = partition(rec.scope)
    return md


def present(store: ChromaVectorStore, part: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` the partition's own collections hold."""
    found: set[str] = set()
    for archive in (False, True):
        if ids and (col := store._col(part, archive)) is not None:
            found.update(store._call("get", col.get, ids=list(ids), include=[])["ids"])
    return found


def locate(
    store: ChromaVectorStore, catalog: VectorCatalog, scope: Scope, include_invalid: bool
) -> tuple[list[str], Pooled]:
    """The owned partitions whose collections a read of ``scope`` takes, and the pooled
    records in it. The pooled records of a partition that is moving are taken too, unless
    its own collections hold them already (theirs are newer)."""
    pooled = Pooled(store._col(POOL), [])
    if scope.user_id is not None:
        states = catalog.states([partition(scope)])
        if all(states.values()) and states:  # moved: its own collections only
            return list(states), pooled
    else:
        states = catalog.states()
    found = catalog.ids(scope, include_invalid) if pooled.col is not None else {}
    parts = [p for p in found if p in states] if catalog.keeps_records else list(states)
    for part, ids in found.items():
        if part not in states:
            pooled.ids += ids
        elif not states[part]:
            there = present(store, part, ids)
            pooled.ids += [i for i in ids if i not in there]
    return parts, pooled


def id_targets(
    store: ChromaVectorStore,
    catalog: VectorCatalog,
    ids: Sequence[str],
    archive_too: bool,
    scope: Scope | None,
) -> list[tuple[Any, list[str]]]:
    """Collections that may hold ``ids``, by the partition an id names, else by the scope's
    own partition, else by the catalog. Pooled ids are the catalog's (its current ones unless
    ``archive_too``), but for those that a moving owner's collections hold already (theirs are
    newer): no id is sought in two places."""
    own = partition(scope) if scope is not None and scope.user_id is not None else None
    groups: dict[str | None, list[str]] = {}
    for part, group in by_part(ids).items():
        groups.setdefault(part or own, []).extend(group)
    states = catalog.states(None if None in groups else [p for p in groups if p is not None])
    maybe = [i for p, group in groups.items() if p is None or not states.get(p) for i in group]
    known = catalog.where(maybe, valid_only=not archive_too) if maybe else {}
    spread = [] if catalog.keeps_records else list(states)  # where unknown ids may be
    by: dict[str, list[str]] = {}
    for part, group in groups.items():
        for i in group:
            for p in [part] if part is not None else [known[i]] if i in known else spread:
                if p in states:
                    by.setdefault(p, []).append(i)
    out, newer = [], set()
    for p, found in by.items():
        if not states[p]:
            newer |= present(store, p, [i for i in found if i in known])
        for archive in (False, True) if archive_too else (False,):
            if (col := store._col(p, archive)) is not None:
                out.append((col, found))
    pooled = [i for i in maybe if i in known and i not in newer]
    if pooled and (pool := store._col(POOL)) is not None:
        out.append((pool, pooled))
    return out


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
    if store._cache is not None:
        return list(store._cached([(pooled.col, ids)]).values())
    if not vectors:
        res = store._call("get", pooled.col.get, ids=ids, include=["documents", "metadatas"])
        return [(rec, None) for rec in rows(res)]
    return list(store._read(pooled.col, ids))


def score(
    store: ChromaVectorStore, pooled: Pooled, q: Vector, k: int, where: dict[str, Any] | None
) -> list[list[tuple[FactRecord, float]]]:
    """The ``k`` best pooled records per query, scored exactly as the index would."""
    found = [(rec, v) for rec, v in pooled_records(store, pooled, where) if v is not None]
    cosine = pooled.col is not None and space(pooled.col) == "cosine"
    return best(q, found, k, cosine)
