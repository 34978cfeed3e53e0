"""Chroma collections by name, for stores that other clients change under them.

A Chroma collection handle names its collection by id. When another client drops the
collection (another process's ``reset`` or ``delete_all`` on the same ``chroma run`` server),
every call on the handle fails, and once that client writes again a new collection carries
the old name. The handles given out here resolve their name again when the collection they
knew is gone: a read of a collection that no longer exists reads nothing, a write creates it
afresh, and the caller never sees the difference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import BackendError, ConfigError

MISSING_TTL = 1.0  # seconds a "no such collection" answer is trusted (embedded only)
#: rows one ``get`` asks Chroma for: it binds each row's id as one SQLite variable (32,766 at
#: most), and fails a get of more ("too many SQL variables", at 100k rows of one collection)
GET_MAX = 5000
#: the keys of a ``get`` answer that hold one value per row
ROW_KEYS = ("ids", "documents", "metadatas", "embeddings", "uris", "data")
READ_TRIES = 4  # times a read that a concurrent delete broke is made (``raced``)


def absent(e: Exception) -> bool:
    """Whether Chroma's error says that the collection does not exist (``NotFoundError``, or
    a ``ValueError`` on older clients)."""
    text = str(e).lower()
    return "does not exist" in text or "not found" in text


def raced(e: Exception) -> bool:
    """Whether Chroma failed a read because rows went under it: a server looks an id's row and
    its vector up apart, and a delete between the two fails the read ("Error finding id"), as
    can a vector index that is not on disk yet. Measured on chromadb 1.5.9: 2 failures in
    2,700 reads by id with vectors while another client wrote and deleted those ids."""
    text = str(e).lower()
    return "error finding id" in text or "nothing found on disk" in text


def _empty(op: str, kwargs: dict[str, Any]) -> Any:
    """What ``op`` returns on a collection without rows."""
    if op == "query":
        n = len(kwargs["query_embeddings"])
        keys = ("ids", "distances", "documents", "metadatas", "embeddings")
        return {key: [[] for _ in range(n)] for key in keys}
    if op == "get":
        return {key: [] for key in ("ids", "documents", "metadatas", "embeddings")}
    return None


class Handle:
    """A collection by name: ``get``, ``query``, ``count``, ``upsert``, ``add`` and ``delete``
    as Chroma's, but a call that finds the collection gone resolves the name again (a write
    recreates it)."""

    def __init__(self, owner: Collections, name: str, col: Any) -> None:
        self._owner, self.name, self._col = owner, name, col

    @property
    def metadata(self) -> dict[str, Any] | None:
        md: dict[str, Any] | None = self._col.metadata
        return md

    def get(self, **kwargs: Any) -> Any:
        """Chroma's ``get``, in parts of at most ``GET_MAX`` rows: by ``ids``, or by ``limit``
        and ``offset`` (a read of more rows while another client writes may see some writes
        and not others, as a read of several collections does)."""
        ids, limit = kwargs.get("ids"), kwargs.get("limit")
        if ids is not None:
            if len(ids) <= GET_MAX:
                return self._run("get", kwargs)
            chunks = [list(ids[n : n + GET_MAX]) for n in range(0, len(ids), GET_MAX)]
            return _joined([self._run("get", {**kwargs, "ids": c}) for c in chunks])
        if limit is not None and limit <= GET_MAX:
            return self._run("get", kwargs)
        parts, start, left = [], int(kwargs.get("offset") or 0), limit
        while left is None or left > 0:
            ask = GET_MAX if left is None else min(GET_MAX, left)
            parts.append(self._run("get", {**kwargs, "limit": ask, "offset": start}))
            got = len(parts[-1]["ids"])
            start, left = start + got, None if left is None else left - got
            if got < ask:
                break
        return _joined(parts)

    def query(self, **kwargs: Any) -> Any:
        """Chroma's ``query``; one restricted to more than ``GET_MAX`` ids is asked in parts,
        and each query's nearest rows of all parts are kept."""
        ids = kwargs.get("ids")
        if ids is None or len(ids) <= GET_MAX:
            return self._run("query", kwargs)
        chunks = [list(ids[n : n + GET_MAX]) for n in range(0, len(ids), GET_MAX)]
        parts = [self._run("query", {**kwargs, "ids": c}) for c in chunks]
        return _nearest(parts, int(kwargs.get("n_results", 10)))

    def count(self) -> int:
        return int(self._run("count", {}) or 0)

    def upsert(self, **kwargs: Any) -> Any:
        return self._run("upsert", kwargs, create=True)

    def add(self, **kwargs: Any) -> Any:
        """Rows whose ids are new (one that exists is left as it is)."""
        return self._run("add", kwargs, create=True)

    def delete(self, **kwargs: Any) -> Any:
        return self._run("delete", kwargs)

    def _run(self, op: str, kwargs: dict[str, Any], create: bool = False) -> Any:
        try:
            return self._try(op, kwargs)
        except Exception as e:
            if not absent(e):
                raise
        col = self._owner.reopen(self.name, create)
        if col is None:
            return _empty(op, kwargs)
        self._col = col
        return self._try(op, kwargs)

    def _try(self, op: str, kwargs: dict[str, Any]) -> Any:
        """``op`` on the collection; a read that a concurrent delete broke, again."""
        tries = 0
        while True:
            try:
                return getattr(self._col, op)(**kwargs)
            except Exception as e:
                tries += 1
                if op not in ("get", "query") or not raced(e) or tries >= READ_TRIES:
                    raise
                time.sleep(0.01 * 2**tries)


def _joined(parts: list[Any]) -> Any:
    """``get`` answers of parts of one read, as one."""
    out = dict(parts[0])
    for key in ROW_KEYS:
        if out.get(key) is not None:
            out[key] = [value for part in parts for value in part[key]]
    return out


def _nearest(parts: list[Any], n: int) -> Any:
    """``query`` answers of parts of one query, as one: per query, the ``n`` nearest rows."""
    out = dict(parts[0])
    keys = [k for k in (*ROW_KEYS, "distances") if out.get(k) is not None]
    for key in keys:
        out[key] = []
    for q in range(len(parts[0]["ids"])):
        rows = [
            (d, p, i) for p, part in enumerate(parts) for i, d in enumerate(part["distances"][q])
        ]
        rows = sorted(rows, key=lambda r: r[0])[:n]
        for key in keys:
            out[key].append([parts[p][key][q][i] for _, p, i in rows])
    return out


def check_family(family: str | None, name: str, col: Any) -> None:
    """Refuse a collection written with another embedder's vectors than ``family``'s."""
    # collections from before the tag was written hold all-MiniLM-L6-v2 vectors
    found = (col.metadata or {}).get("graphmem_embedder", "all-minilm-l6-v2")
    if family and found and found != family:
        raise ConfigError(
            f"chroma collection {name} holds {found} embeddings, but this configuration "
            f"embeds with {family}: set embed_model back, or use another data_dir "
            "or collection (and re-add the memories)"
        )


class Collections:
    """The handles of one store's collections, cached by name. ``client`` gives the open
    Chroma client; ``options`` are the metadata of a collection this creates; ``check``
    refuses a collection found (e.g. written with another embedder); ``gone`` is told the name
    of a collection that was dropped under a handle. ``shared``: other clients write too (a
    server), so a collection found missing is looked up again on every call."""

    def __init__(
        self,
        client: Callable[[], Any],
        options: dict[str, Any],
        check: Callable[[str, Any], None],
        gone: Callable[[str], None],
        shared: bool,
    ) -> None:
        self._client, self._options, self._check, self._gone = client, options, check, gone
        self._ttl = 0.0 if shared else MISSING_TTL
        self._handles: dict[str, Handle] = {}
        self._missing: dict[str, float] = {}  # collections found absent, briefly trusted

    def get(self, name: str, create: bool = False) -> Handle | None:
        """The handle of ``name``; None if it does not exist and ``create`` is false."""
        handle = self._handles.get(name)
        if handle is not None:
            return handle
        if not create and time.monotonic() - self._missing.get(name, -self._ttl) < self._ttl:
            return None
        col = self._open(name, create)
        if col is None:
            return None
        handle = self._handles[name] = Handle(self, name, col)
        return handle

    def reopen(self, name: str, create: bool) -> Any:
        """``name`` resolved again after its collection was found gone (None: still gone)."""
        self._handles.pop(name, None)
        self._gone(name)
        handle = self.get(name, create)
        return None if handle is None else handle._col

    def drop(self, name: str) -> None:
        """Delete the collection ``name``; one that another client deleted first is fine."""
        self._handles.pop(name, None)
        try:
            self._client().delete_collection(name)
        except Exception as e:
            if not absent(e):
                raise BackendError(f"chroma delete of {name} failed: {e}") from e

    def clear(self) -> None:
        self._handles = {}
        self._missing = {}

    def _open(self, name: str, create: bool) -> Any:
        client = self._client()
        try:
            if create:
                col = client.get_or_create_collection(
                    name, metadata=self._options, embedding_function=None
                )
            else:
                col = client.get_collection(name, embedding_function=None)
        except (BackendError, ConfigError):
            raise
        except Exception as e:
            if create or not absent(e):
                raise BackendError(f"chroma open of {name} failed: {e}") from e
            self._missing[name] = time.monotonic()
            return None
        self._check(name, col)
        self._missing.pop(name, None)
        return col
