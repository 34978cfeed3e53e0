"""Reads of a pooled Chroma store: which collections and pooled records a read takes (by the
catalog), and exact scoring of pooled records. Moves between collections: ``chroma_move``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models import FactRecord, Scope, partition, searchable
from ..protocols import Vector
from .catalog import Catalog, VectorCatalog
from .chroma_rows import by_part, rows, scope_where, space, to_metadata
from .pool_rows import PoolRows

if TYPE_CHECKING:
    from .chroma import ChromaVectorStore

POOL = "pool"  # the pool's partition name (partitions are hex digests: never this)
CATALOG = "catalog"  # a server catalog's marker collection (``chroma_catalog``)
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


#: a read without ``user_id`` on a server finds its pooled rows by their keys rather than by
#: listing their ids once the pool holds more rows than this (``scope_search``)
UNLISTED_MIN = 20_000
#: neighbours such a read first asks the pool's index for
SCOPE_ASK = 500


@dataclass
class Pooled:
    """Pooled records a read must score: the pool collection (None: none yet) and ids; or,
    unlisted, the pool's rows in ``scope``, found by their keys as a query reads them, with
    the ``owned`` partitions (moved or not) whose rows are not taken from the pool."""

    col: Any
    ids: list[str]
    scope: Scope | None = None
    owned: dict[str, bool] = field(default_factory=dict)
    superseded: bool = False  # unlisted: superseded rows are in the read too


def row(store: ChromaVectorStore, rec: FactRecord, pooled: bool) -> dict[str, Any]:
    """A record's metadata as written; a pooled row on a server also names its owner
    partition, by which the server's catalog finds an owner's rows (``chroma_catalog``; an
    embedded catalog lists them itself)."""
    md = to_metadata(rec)
    if pooled and store.catalog is not None and not store.catalog.keeps_records:
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
    store: ChromaVectorStore,
    catalog: VectorCatalog,
    scope: Scope,
    include_invalid: bool,
    listed: bool = True,
) -> tuple[list[str], Pooled]:
    """The owned partitions whose collections a read of ``scope`` takes, and the pooled
    records in it. The pooled records of a partition that is moving are taken too, unless
    its own collections hold them already (theirs are newer). Not ``listed`` (a query that
    ``unlisted`` allows): the scope's rows are found by their keys (``scope_search``)."""
    pooled = Pooled(store._col(POOL), [])
    if not listed and pooled.col is not None:
        states = catalog.states()
        return list(states), Pooled(pooled.col, [], scope, states, include_invalid)
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


def unlisted(catalog: VectorCatalog, scope: Scope) -> bool:
    """Whether a query of ``scope`` may find its pooled rows by their keys instead of listing
    their ids first: a read without ``user_id`` on a server whose pool holds more than
    ``UNLISTED_MIN`` rows (listing an agent's 20,000 rows among 200,000 takes hundreds of
    milliseconds; among 20,000 rows, both ways cost the same)."""
    return scope.user_id is None and not catalog.keeps_records and catalog.count() > UNLISTED_MIN


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


def pool_query(
    pooled: Pooled, scope: Scope, where: dict[str, Any] | None, include_invalid: bool
) -> dict[str, Any]:
    """The arguments of a query of the pool's index restricted to ``pooled``: Chroma's filter
    on the scope and validity, or for slim rows (``PoolRows``: the catalog holds their scope
    keys) the ids of the scope's records, which the catalog chose by validity already."""
    if isinstance(pooled.col, PoolRows):
        return {"ids": pooled.ids, "where": where}
    return {"where": pool_where(scope, where, include_invalid)}


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
    cache, name = store._records(), pooled.col.name
    # a call that keeps its reads (on a server) scores these from their vectors next: read
    # them with the records, one request instead of two
    vectors = vectors or (cache is not None and store._cache is None and len(ids) <= INDEXED_MIN)
    if vectors:
        if cache is not None:
            return list(store._cached([(pooled.col, ids)]).values())
        return list(store._read(pooled.col, ids))
    # records only (a keyword index's scan): those cached, the others read without vectors
    held = {i: e[0] for i in ids if cache is not None and (e := cache.get(name, i))}
    if missing := [i for i in ids if i not in held]:
        res = store._call("get", pooled.col.get, ids=missing, include=["documents", "metadatas"])
        held.update((rec.id, rec) for rec in rows(res))
    return [(held[i], None) for i in ids if i in held]


def scope_texts(
    store: ChromaVectorStore, scope: Scope, include_invalid: bool
) -> list[tuple[str, str]] | None:
    """(id, searchable text) of every record in ``scope``, in ``scan``'s order (by creation
    time, ties as listed), from the embedded catalog alone: None unless every record of the
    scope is pooled with its text and creation time kept there (a server catalog, owners with
    collections of their own, rows written before the catalog kept them)."""
    catalog = store.catalog
    if not isinstance(catalog, Catalog):
        return None
    targets, pooled = store._targets(scope, include_invalid)
    if targets:
        return None
    kept = catalog.dated_texts(pooled.ids)
    if len(kept) < len(set(pooled.ids)):
        return None
    found = [(kept[i][0], i, _searchable(*kept[i][1:])) for i in pooled.ids]
    found.sort(key=lambda x: x[0])
    return [(i, text) for _, i, text in found]


def _searchable(text: str, metadata: str | None) -> str:
    """``models.searchable`` of a row as kept (its metadata as JSON, parsed only if given)."""
    return searchable(text, json.loads(metadata)) if metadata and metadata != "{}" else text


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
    if pooled.scope is not None:
        return scope_search(store, pooled, q, k, records)
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
    n = min(UNFILTERED_MAX, _ask(k, len(wanted), listed))
    return _nearest(pooled.col, q, k, n, call, lambda i, _: i in wanted, metadata=False)


def _nearest(
    col: Any,
    q: Vector,
    k: int,
    n: int,
    call: Any,
    keep: Callable[[str, Any], bool],
    metadata: bool,
) -> list[list[tuple[str, float]] | None]:
    """``nearest_pooled`` and ``scope_search``: the pool's index asked unfiltered for ``n``
    neighbours, then for as many as the share kept of the first answer calls for; ``keep``
    decides by id and (with ``metadata``) the row's keys which are in the read's scope."""
    out: list[list[tuple[str, float]] | None] = [None] * len(q)
    todo = list(range(len(q)))
    include = ["metadatas", "distances"] if metadata else ["distances"]
    for _ in range(2):
        found = n
        res = call("query", col.query, query_embeddings=q[todo], n_results=n, include=include)
        mds = res.get("metadatas") or [[None] * len(ids) for ids in res["ids"]]
        for row, ids, dists, md in zip(todo, res["ids"], res["distances"], mds):
            hits = [(i, 1.0 - float(d)) for i, d, m in zip(ids, dists, md) if keep(i, m)]
            if len(hits) >= k or len(ids) < n:  # enough, or the whole pool was read
                out[row] = hits[:k]
            else:
                found = min(found, len(hits))
        todo = [row for row in todo if out[row] is None]
        if not todo or n >= UNFILTERED_MAX:
            break
        n = min(UNFILTERED_MAX, _ask(k, found, n))
    return out


def scope_search(
    store: ChromaVectorStore, pooled: Pooled, q: Vector, k: int, records: bool
) -> list[list[tuple[Any, float]]] | None:
    """The ``k`` best pool rows of ``pooled.scope`` per query row (a read without ``user_id``
    on a server, across many owners), without listing them: the pool's index asked unfiltered
    for ``SCOPE_ASK`` neighbours with their keys, then for more as the share of the first
    answer in the scope calls for; None when that does not find ``k`` (a scope rare in the
    pool: Chroma's filter answers it). The rows of an owner with collections of its own are
    read there, but for those of a moving owner that its collections do not hold yet."""
    assert pooled.scope is not None
    want, owned = pooled.scope.items(), pooled.owned
    moving: dict[str, set[str]] = {}

    def keep(i: str, md: Any) -> bool:
        if md is None or not (pooled.superseded or md.get("valid")):
            return False
        if any(md.get(key) != value for key, value in want.items()):
            return False
        part = md.get("part")
        if part in owned and not owned[part]:
            moving.setdefault(part, set()).add(i)
        return part not in owned or not owned[part]

    n = min(UNFILTERED_MAX, max(SCOPE_ASK, 2 * k))
    near = _nearest(pooled.col, q, k, n, store._call, keep, metadata=True)
    if any(h is None for h in near):
        return None
    hits = [h for h in near if h is not None]
    found = {i for h in hits for i, _ in h}
    there = {i for p, ids in moving.items() for i in present(store, p, list(ids & found))}
    kept = [[(i, s) for i, s in h if i not in there] for h in hits]
    return found_records(store, pooled.col, kept, records)


def found_records(
    store: ChromaVectorStore, col: Any, near: Sequence[Any], records: bool
) -> list[list[tuple[Any, float]]]:
    """``nearest_pooled``'s (id, score) rows as the store's ``_query`` gives them: with their
    records (read by id, through the store's record cache or the call's) if ``records``."""
    if not records:
        return [list(h) for h in near]
    ids = list(dict.fromkeys(i for h in near for i, _ in h))
    if store._records() is not None:
        got = {i: rec for i, (rec, _) in store._cached([(col, ids)]).items()}
    else:
        res = store._call("get", col.get, ids=ids, include=["documents", "metadatas"])
        got = {rec.id: rec for rec in rows(res)}
    return [[(got[i], s) for i, s in h if i in got] for h in near]
