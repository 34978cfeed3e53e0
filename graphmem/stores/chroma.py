"""Chroma vector store: embedded ``PersistentClient`` or a ``chroma run`` server.

Records are partitioned by their scope's owner (user, else agent, else run). An owner with
collections of its own has one live collection for the current records and one archive
collection (suffix ``-x``) for the invalidated ones, so a query scoped by ``user_id`` reads
its index with no metadata filter (Chroma's filters cost time in proportion to the whole
collection); other scope keys become ``where`` clauses inside it. Memory ids are
``<partition>.<uuid>`` (:func:`graphmem.models.fact_id`), so reads by id are routed.

Small owners share one pool collection instead (a collection costs megabytes of memory and
disk before its first row): a catalog knows each owner's records (embedded, a SQLite file
beside the Chroma files: ``catalog.py``; on a server, in the server, shared by every process
that uses it: ``chroma_catalog.py``), their vectors are read by id and scored here exactly
(``chroma_pool.py``), and an owner that grows past ``pool_limit`` records moves to
collections of its own (``chroma_move.py``, safe while other processes write).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from ..errors import BackendError
from ..models import FactRecord, Scope, partition
from ..protocols import Vector
from .call_reads import call_records, once
from .catalog import Catalog, VectorCatalog
from .chroma_catalog import ChromaCatalog
from .chroma_handles import Collections, check_family
from .chroma_move import migrate, remove, settle
from .chroma_pool import (
    POOL,
    Pooled,
    id_targets,
    locate,
    pool_query,
    pooled_records,
    pooled_search,
    row,
    scope_texts,
    unlisted,
)
from .chroma_rows import by_part, compared, from_row, query_hits, rows, scope_where, to_metadata
from .owner import process_lock
from .pool_rows import PoolRows
from .record_cache import RecordCache

R = TypeVar("R")
log = logging.getLogger("graphmem")


class ChromaVectorStore:
    """Scoped records with embeddings computed by graphmem (cosine or inner-product space)."""

    def __init__(
        self,
        path: Path | None = None,
        host: str | None = None,
        port: int = 8000,
        collection: str = "graphmem",
        family: str | None = None,
        space: Literal["cosine", "ip"] = "cosine",
        cache_size: int = 0,
        pool_limit: int = 256,
        upgrade: bool = True,
    ) -> None:
        """``family``: the embedder's (see ``Embedder.family``); a collection written with
        another family's vectors is refused instead of searched with incomparable vectors.
        ``space`` of new collections: ``ip`` ranks by inner product, for vectors that are not
        of unit length (a message embedded with its context; see ``Writer._sources``).
        ``cache_size``: records kept in memory for reads (``RecordCache``; embedded only:
        other clients may write to a server). ``pool_limit``: the records an owner keeps in
        the shared pool before it moves to collections of its own (0: every owner has its
        own, the layout before the pool).
        ``upgrade``: bring a data dir of an older layout to this one on open (not done by a
        read-only process).

        One process at a time is inside a call to an embedded Chroma (``graphmem.lock`` in
        its directory): a client that loads an index writes its files, a reader's too."""
        self.path, self.host, self.port, self.base = path, host, port, collection
        self.family, self.space = family, space
        self._client: Any = None
        self._cache = RecordCache(cache_size) if cache_size > 0 and not host else None
        self.embedded = path is not None and not host
        self._using: Callable[[], AbstractContextManager[None]] = (
            process_lock(path / "graphmem.lock").held if path and self.embedded else nullcontext
        )
        options = {"hnsw:space": space, "graphmem": collection, "graphmem_embedder": family or ""}
        self._cols = Collections(self._open, options, self._check_family, self._dropped, bool(host))
        self.pool_limit, self._upgrade = pool_limit, upgrade
        self.catalog: VectorCatalog | None = None
        self._pool: PoolRows | None = None  # the embedded pool's handle, slimmed
        if pool_limit > 0 and host:
            self.catalog = ChromaCatalog(self)
        elif pool_limit > 0 and path is not None:
            self.catalog = Catalog(path / f"{collection}.catalog.sqlite", upgrade)

    # -- plumbing --------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        if self._client is None:
            self.setup()
        try:
            with self._using():
                return fn(*args, **kwargs)
        except BackendError:
            raise
        except Exception as e:  # chromadb raises many unrelated types
            where = f"{self.host}:{self.port}" if self.host else str(self.path)
            raise BackendError(f"chroma {what} failed ({where}): {e}") from e

    def setup(self) -> None:
        if self._client is not None:
            return
        try:
            import chromadb
            from chromadb.config import Settings

            settings = Settings(anonymized_telemetry=False, allow_reset=True)
            if self.host:
                client = chromadb.HttpClient(host=self.host, port=self.port, settings=settings)
                client.heartbeat()
            else:
                assert self.path is not None
                self.path.mkdir(parents=True, exist_ok=True)
                with self._using():  # chromadb keeps one client per path string: absolute,
                    # so that the same relative data dir from another directory is another store
                    client = chromadb.PersistentClient(
                        path=str(self.path.resolve()), settings=settings
                    )
        except Exception as e:
            where = f"{self.host}:{self.port}" if self.host else str(self.path)
            raise BackendError(f"cannot open chroma at {where}: {e}") from e
        self._client = client
        if self.catalog is not None:
            self.catalog.setup()
            if self._upgrade:
                migrate(self, self.catalog)

    def _name(self, part: str, archive: bool) -> str:
        return f"{self.base}-{part}" + ("-x" if archive else "")

    def _col(self, part: str, archive: bool = False, create: bool = False) -> Any:
        """The collection's handle (see ``chroma_handles``); None if it does not exist."""
        with self._using():  # opening a collection may load (and write) its index
            col = self._cols.get(self._name(part, archive), create)
        if col is None or part != POOL or not isinstance(self.catalog, Catalog):
            return col
        if self._pool is None or self._pool.handle is not col:  # text and JSON in the catalog
            self._pool = PoolRows(col, self.catalog)
        return self._pool

    def _open(self) -> Any:
        """The client, opened on first use."""
        if self._client is None:
            self.setup()
        return self._client

    def _dropped(self, name: str) -> None:
        """Another client dropped a collection: what this store cached of it is stale."""
        if self._cache is not None:
            self._cache.clear()

    def _check_family(self, name: str, col: Any) -> None:
        check_family(self.family, name, col)

    def _partitions(self) -> list[str]:
        """Every owner partition of this store (for queries without ``user_id``)."""
        prefix = self.base + "-"
        names = self._call("list", lambda: [c.name for c in self._client.list_collections()])
        return sorted({n[len(prefix) :].removesuffix("-x") for n in names if n.startswith(prefix)})

    def _targets(
        self, scope: Scope, include_invalid: bool, listed: bool = True
    ) -> tuple[list[tuple[Any, bool]], Pooled]:
        """(collection, owner-implied) pairs a scoped read must query, and the pooled records
        in the scope, which are read by id and scored here (not ``listed``: see ``locate``)."""
        owner = scope.user_id is not None or (scope.agent_id is not None and scope.run_id is None)
        if (catalog := self.catalog) is not None:  # a search looks a scope up once
            listed = listed or not unlisted(catalog, scope)
            key = ("targets", id(self), scope, include_invalid, listed)
            parts, pooled = once(key, lambda: locate(self, catalog, scope, include_invalid, listed))
        else:
            parts = [partition(scope)] if scope.user_id is not None else self._partitions()
            pooled = Pooled(None, [])
        kinds = (False, True) if include_invalid else (False,)
        out = []
        for part in parts:
            for archive in kinds:
                col = self._col(part, archive)
                if col is not None:
                    implied = owner and part == partition(scope)
                    out.append((col, implied))
        return out, pooled

    def _id_targets(
        self, ids: Sequence[str], archive_too: bool, scope: Scope | None = None
    ) -> list[tuple[Any, list[str]]]:
        """Collections that may hold ``ids``: by the partition an id names, else by the
        scope's own partition (a user's records are all in theirs), else every partition
        (pooled: ``chroma_pool.id_targets``)."""
        if self.catalog is not None:
            return id_targets(self, self.catalog, ids, archive_too, scope)
        out = []
        own = partition(scope) if scope is not None and scope.user_id is not None else None
        for part, group in by_part(ids).items():
            key = part or own
            for p in [key] if key is not None else self._partitions():
                for archive in (False, True) if archive_too else (False,):
                    col = self._col(p, archive)
                    if col is not None:
                        out.append((col, group))
        return out

    # -- writes ----------------------------------------------------------------------------
    def upsert(self, records: Sequence[FactRecord], embeddings: Vector | None) -> None:
        ids = [r.id for r in records]
        self._forget(ids)
        try:
            self._upsert(records, embeddings)  # each group is cached once written
        except BaseException:  # a failed write may have changed some of them
            self._forget(ids)
            raise

    def _upsert(
        self, records: Sequence[FactRecord], embeddings: Vector | None, unpool: bool = False
    ) -> None:
        """``unpool``: the records were just written to the pool, whose copies go."""
        if not records:
            return
        if embeddings is None:
            self._move(records)
            return
        embs = np.asarray(embeddings, dtype=np.float32)
        cat = self.catalog
        states = cat.routes(list({partition(r.scope) for r in records})) if cat else {}
        groups: dict[tuple[str, bool], list[int]] = {}
        for i, r in enumerate(records):
            part = partition(r.scope)
            pool = cat is not None and part not in states
            key = (POOL, False) if pool else (part, r.invalid_at is not None)
            groups.setdefault(key, []).append(i)
        for (part, archive), idx in groups.items():
            col = self._col(part, archive, create=True)
            recs = [records[i] for i in idx]
            self._call(
                "upsert",
                col.upsert,
                ids=[r.id for r in recs],
                documents=[r.text for r in recs],
                metadatas=[row(self, r, part == POOL) for r in recs],
                embeddings=embs[idx],
            )
            # a record lives in one of its owner's two collections (or the pool) only
            others = [] if part == POOL else [self._col(part, not archive)]
            for other in [*others, self._col(POOL)] if unpool else others:
                if other is not None:
                    self._call("delete", other.delete, ids=[r.id for r in recs])
            if cat is not None:
                cat.put(recs)
            self._remember(col, recs, embs[idx])
        if cat is not None:
            settle(self, cat, records, embs, groups.get((POOL, False), []), states)

    def _move(self, records: Sequence[FactRecord]) -> None:
        """Metadata-only update; a record whose validity changed moves to the other collection."""
        found = {}
        for col, group in self._id_targets([r.id for r in records], archive_too=True):
            res = self._call("get", col.get, ids=group, include=["embeddings"])
            found.update(
                {i: np.asarray(e, dtype=np.float32) for i, e in zip(res["ids"], res["embeddings"])}
            )
        present = [r for r in records if r.id in found]
        if present:
            self._upsert(present, np.stack([found[r.id] for r in present]))

    def delete(self, ids: Sequence[str]) -> None:
        try:
            if self.catalog is not None:
                remove(self, self.catalog, ids)
                return
            for col, group in self._id_targets(ids, archive_too=True):
                self._call("delete", col.delete, ids=group)
        finally:
            self._forget(ids)

    def _remember(self, col: Any, records: Sequence[FactRecord], embeddings: Vector) -> None:
        """Cache what was just written as a read would return it (metadata round-trip)."""
        if self._cache is not None:
            read = [from_row(r.id, r.text, to_metadata(r)) for r in records]
            self._cache.put(col.name, [(r, compared(col, e)) for r, e in zip(read, embeddings)])

    def _forget(self, ids: Sequence[str]) -> None:
        if self._cache is not None:
            self._cache.drop(ids)

    def delete_scope(self, scope: Scope) -> list[str]:
        ids = [r.id for r in self.scan(scope, limit=10**9, include_invalid=True)]
        self.delete(ids)
        return ids

    def reset(self) -> None:
        """Drop this store's own collections only (other collections are left alone)."""
        with self._using():
            for part in self._partitions():
                for archive in (False, True):
                    if self._col(part, archive) is not None:
                        self._cols.drop(self._name(part, archive))
        self._cols.clear()
        if self._cache is not None:
            self._cache.clear()
        if self.catalog is not None:
            self.catalog.clear()

    def close(self) -> None:
        """Release the client: Chroma shares one system per path in a process and stops it
        when its last client closes, so a store opened again reads the files afresh."""
        client, self._client = self._client, None
        self._cols.clear()
        if self.catalog is not None:
            self.catalog.close()
        if self._cache is not None:
            self._cache.clear()
        if client is not None and hasattr(client, "close"):  # frees the index (chromadb 1.x)
            try:
                with self._using():
                    client.close()
            except Exception as e:  # closing must not fail a caller's cleanup
                log.warning("closing chroma failed: %s", e)

    def refresh(self) -> None:
        """Forget what was read: another process wrote. Chroma keeps a collection's index in
        memory from when it loads it, so an embedded client is closed, to be opened again on
        the next call (it reads the new index once every client of this process on the
        directory is closed: they share it). A call that another thread is making with the
        closed client fails (``BackendError``); the next one reads the new index."""
        if self.embedded:
            self.close()
        self._cols.clear()

    # -- reads -----------------------------------------------------------------------------
    def query(
        self,
        scope: Scope,
        embedding: Vector,
        k: int,
        where: dict[str, Any] | None = None,
        include_invalid: bool = False,
    ) -> list[tuple[FactRecord, float]]:
        q = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        return self._query(scope, q, k, where, include_invalid)[0]

    def query_batch(
        self, scope: Scope, embeddings: Vector, k: int
    ) -> list[list[tuple[FactRecord, float]]]:
        if len(embeddings) == 0:
            return []
        return self._query(scope, np.asarray(embeddings, dtype=np.float32), k, None, False)

    def nearest(self, scope: Scope, embeddings: Vector, k: int) -> list[list[tuple[str, float]]]:
        if len(embeddings) == 0:
            return []
        q = np.asarray(embeddings, dtype=np.float32)
        return self._query(scope, q, k, None, False, records=False)

    def _query(
        self,
        scope: Scope,
        q: Vector,
        k: int,
        where: dict[str, Any] | None,
        include_invalid: bool,
        records: bool = True,
    ) -> list[list[tuple[Any, float]]]:
        """The ``k`` best per query over the scope's collections: records, or with
        ``records=False`` ids only (no document or metadata is read: a third of the time).
        With the cache, Chroma is asked for ids only and the records come from the cache (the
        ones it lacks are read by id and kept)."""
        hits: list[list[tuple[Any, float]]] = [[] for _ in range(len(q))]
        cached = records and self._cache is not None
        targets, pooled = self._targets(scope, include_invalid, listed=where is not None)
        searched = [
            (col, {"where": scope_where(scope, where, owner=implied)}) for col, implied in targets
        ]
        if pooled.ids or pooled.scope is not None:
            scored = pooled_search(self, pooled, q, k, where, records)
            if scored is None:  # e.g. an agent of thousands of users, with filters: Chroma's
                searched.append((pooled.col, pool_query(pooled, scope, where, include_invalid)))
            else:
                hits = scored
        for col, args in searched:
            read = records and not cached
            res = self._call(
                "query",
                col.query,
                query_embeddings=q,
                n_results=k,
                include=["documents", "metadatas", "distances"] if read else ["distances"],
                **args,
            )
            found = self._cached([(col, [i for ids in res["ids"] for i in ids])]) if cached else {}
            for n, got in enumerate(query_hits(res, found if cached else None, records)):
                hits[n] += got
        for h in hits:
            h.sort(key=lambda x: x[1], reverse=True)
            del h[k:]
        return hits

    def get(
        self,
        ids: Sequence[str],
        scope: Scope | None = None,
        where: dict[str, Any] | None = None,
        include_invalid: bool = True,
    ) -> list[FactRecord]:
        if not ids:
            return []
        found: dict[str, FactRecord] = {}
        for col, group in self._id_targets(ids, archive_too=include_invalid, scope=scope):
            res = self._call(
                "get", col.get, ids=group, where=where, include=["documents", "metadatas"]
            )
            found.update({r.id: r for r in rows(res)})
        recs = [found[i] for i in ids if i in found]
        # routed by id: the record's own scope is checked here, inside the store
        return [r for r in recs if scope is None or scope.contains(r.scope)]

    def fetch(
        self,
        ids: Sequence[str],
        scope: Scope,
        where: dict[str, Any] | None = None,
        include_invalid: bool = False,
    ) -> list[tuple[FactRecord, Vector]]:
        """Records with their vectors as the collection compares them: unit length in a cosine
        collection (one created before ``space`` existed may hold a message's context mean),
        as written in an inner-product one, so ``vector · query`` is what ``query`` scores."""
        targets = self._id_targets(ids, archive_too=include_invalid, scope=scope)
        if self._records() is None or where is not None:
            got = [hit for col, group in targets for hit in self._read(col, group, where)]
        else:
            got = list(self._cached(targets).values())
        # routed by id: the scope is checked here
        return [(rec, v) for rec, v in got if scope.contains(rec.scope)]

    def _read(
        self, col: Any, ids: list[str], where: dict[str, Any] | None = None
    ) -> list[tuple[FactRecord, Vector]]:
        res = self._call(
            "get", col.get, ids=ids, where=where, include=["documents", "metadatas", "embeddings"]
        )
        return [(rec, compared(col, e)) for rec, e in zip(rows(res), res["embeddings"])]

    def _records(self) -> RecordCache | None:
        """The records kept: this store's cache, else (a server's) the current call's."""
        return self._cache if self._cache is not None else call_records(self)

    def _cached(
        self, targets: Sequence[tuple[Any, list[str]]]
    ) -> dict[str, tuple[FactRecord, Vector]]:
        """Records (with vectors) by id, for (collection, ids) pairs: from the cache when held
        for any of their collections, else read from each collection in turn and kept."""
        cache = self._records()
        assert cache is not None
        found = {i: e for col, ids in targets for i in ids if (e := cache.get(col.name, i))}
        for col, ids in targets:
            if missing := [i for i in dict.fromkeys(ids) if i not in found]:
                read = self._read(col, missing)
                cache.put(col.name, read)
                found.update((rec.id, (rec, v)) for rec, v in read)
        return found

    def superseded(self, ids: Sequence[str]) -> set[str] | None:
        """From the embedded catalog, which lists every record with its validity."""
        return self.catalog.superseded(ids) if isinstance(self.catalog, Catalog) else None

    def keyword_texts(self, scope: Scope, include_invalid: bool) -> list[tuple[str, str]] | None:
        """What ``scan`` reads a keyword index from, without reading Chroma (``scope_texts``)."""
        return scope_texts(self, scope, include_invalid)

    def scan(
        self,
        scope: Scope,
        where: dict[str, Any] | None = None,
        limit: int = 100,
        include_invalid: bool = False,
    ) -> list[FactRecord]:
        targets, pooled = self._targets(scope, include_invalid)
        recs = [rec for rec, _ in pooled_records(self, pooled, where, vectors=False)]
        for col, implied in targets:
            flt = scope_where(scope, where, owner=implied)
            res = self._call(
                "get", col.get, where=flt, limit=limit, include=["documents", "metadatas"]
            )
            recs += rows(res)
        return sorted(recs, key=lambda r: r.created_at)[:limit]
