"""The catalog of a pooled store on a ``chroma run`` server, kept in the server itself.

Processes on several machines share a server, so the catalog cannot be a file beside one of
them (``catalog.py``, the embedded store's). Here it lives in two places of the server:

* **the pool's own rows** are the list of pooled records: each carries its owner partition
  (``part``) besides its scope keys and validity, and ``get(where={"part": ...})`` finds an
  owner's records (an agent's or a run's: by their ids alone, see ``_shared``). Chroma's
  filter costs time in proportion to the collection unless the server's SQLite file has
  planner statistics (``chroma_stats``: 26 ms among 200k pooled records without, 2.9 ms
  with them), as measured by ``benchmarks/probe_chroma_catalog.py``. A separate collection
  of catalog rows (1-dim dummy vectors, one row per record) costs the same (191 ms with the
  boolean ``valid`` in the filter, so validity and the other scope keys are checked here),
  while every write would have had to write both, and a crash between the two, or two
  processes writing one owner, would have left them disagreeing. The pool cannot disagree
  with itself.
* **a small marker collection** ``<collection>-catalog`` (1-dimensional dummy vectors, read
  by id) holds what the pool cannot say: the partitions with collections of their own and
  whether their move is done (``own:<part>``), the layout version (``layout``), and the ids
  deleted while some owner was moving or had just moved (``gone:<id>``, see ``chroma_move``).

Another process may change any of it, so what is kept between calls only saves a question
whose answer is checked again anyway: the layout version once it is current, and for
``SEEN_S`` seconds what was seen of an owner, for its next write (``routes``, ``counted``):
whether it has collections of its own, which routes the write (a write looks again once it
is done, and moves what it put in the pool if the owner began to move meanwhile:
``chroma_move.settle``), and how many records a read of its scope found in the pool, from
which the write that this read planned knows that the owner stays within the pool's limit
(a write of another process meanwhile is counted by the next write that reads). A write of a
user that reconciliation and entity resolution read first asks the server two questions fewer
per store.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..models import FactRecord, Scope, partition
from .catalog import LAYOUT
from .chroma_pool import CATALOG, POOL

if TYPE_CHECKING:
    from .chroma import ChromaVectorStore

_DUMMY = [0.0]  # the vector of a marker row
#: seconds after a move is recorded done during which deletes still leave tombstones: two
#: moves of one owner may overlap, and the slower one may still be copying
GRACE_S = 600.0
COUNTED_S = 30.0  # how long the pool's row count is taken as it was
SEEN_S = 30.0  # how long what was seen of an owner guides its next write
_NEVER = -1e18  # below any ``invalid_at`` (seconds since 1970)


class ChromaCatalog:
    """The catalog of one store (one family of collections) on a Chroma server."""

    keeps_records = False

    def __init__(self, store: ChromaVectorStore) -> None:
        self._store = store
        self._layout = 0  # the layout seen, once it is LAYOUT (only a reset goes back)
        self._counted: tuple[float, int] | None = None  # (when, the pool's rows)
        #: partition -> (when, its state: None pooled, else moved or not), seen by ``states``
        self._seen: dict[str, tuple[float, bool | None]] = {}
        #: partition -> (when, its records that a read found in the pool), until a write
        self._census: dict[str, tuple[float, int]] = {}

    # -- plumbing --------------------------------------------------------------------------
    def setup(self) -> None:
        """Nothing to open: the collections are the store's."""

    def close(self) -> None:
        self._layout = 0
        self._forget()

    def clear(self) -> None:
        self._store._cols.drop(self._store._name(CATALOG, False))
        self._layout = 0
        self._forget()

    def _forget(self) -> None:
        self._seen, self._census = {}, {}

    def _get(self, name: str, **kwargs: Any) -> dict[str, Any]:
        """``get`` on the pool or the marker collection (nothing if it does not exist)."""
        col = self._store._col(name)
        if col is None:
            return {"ids": [], "metadatas": []}
        res: dict[str, Any] = self._store._call("get", col.get, **kwargs)
        return res

    def _mark(self, ids: list[str], metadatas: list[dict[str, Any]], add: bool = False) -> None:
        """Write marker rows (``add``: only those that do not exist yet)."""
        col = self._store._col(CATALOG, create=True)
        write = col.add if add else col.upsert
        vectors = [_DUMMY] * len(ids)
        self._store._call("mark", write, ids=ids, metadatas=metadatas, embeddings=vectors)

    # -- layout ----------------------------------------------------------------------------
    def version(self) -> int:
        if self._layout < LAYOUT:
            res = self._get(CATALOG, ids=["layout"], include=["metadatas"])
            self._layout = int(res["metadatas"][0]["version"]) if res["ids"] else 1
        return self._layout

    def upgraded(self) -> None:
        self._mark(["layout"], [{"kind": "layout", "version": LAYOUT}])
        self._layout = LAYOUT

    # -- writes ----------------------------------------------------------------------------
    def put(self, records: Sequence[FactRecord]) -> None:
        """Nothing to do: the pooled rows are the list."""

    def drop(self, ids: Sequence[str]) -> None:
        """Tombstones for ``ids`` while some owner is moving or has just moved (a move that
        copied them deletes its copies; see ``chroma_move``); none otherwise, so they stay
        few."""
        res = self._get(CATALOG, where={"kind": "own"}, include=["metadatas"]) if ids else None
        since = time.time() - GRACE_S
        if res and any(not md["moved"] or md.get("at", 0) > since for md in res["metadatas"]):
            self._mark([f"gone:{i}" for i in ids], [{"kind": "gone"}] * len(ids))

    def own(self, part: str) -> None:
        self._mark([f"own:{part}"], [{"kind": "own", "moved": False}], add=True)
        self._seen.pop(part, None)  # moving, or moved before: ask

    def moved(self, part: str) -> None:
        self._mark([f"own:{part}"], [{"kind": "own", "moved": True, "at": time.time()}])
        self._seen[part] = (time.monotonic(), True)

    # -- reads -----------------------------------------------------------------------------
    def dropped(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        res = self._get(CATALOG, ids=[f"gone:{i}" for i in ids], include=[])
        return {i.removeprefix("gone:") for i in res["ids"]}

    def states(self, parts: Sequence[str] | None = None) -> dict[str, bool]:
        if parts is None:
            res = self._get(CATALOG, where={"kind": "own"}, include=["metadatas"])
        elif parts:
            keys = [f"own:{p}" for p in dict.fromkeys(parts)]
            res = self._get(CATALOG, ids=keys, include=["metadatas"])
        else:
            return {}
        found = {i[4:]: bool(md["moved"]) for i, md in zip(res["ids"], res["metadatas"])}
        at = time.monotonic()
        self._seen.update((p, (at, found.get(p))) for p in parts or ())
        return found

    def routes(self, parts: Sequence[str]) -> dict[str, bool]:
        """``states(parts)`` as seen in the last ``SEEN_S`` seconds, else asked."""
        since, keys = time.monotonic() - SEEN_S, list(dict.fromkeys(parts))
        seen = [self._seen.get(p) for p in keys]
        if not all(s is not None and s[0] > since for s in seen):
            return self.states(keys)
        return {p: s[1] for p, s in zip(keys, seen) if s is not None and s[1] is not None}

    def counted(self, part: str) -> int | None:
        seen = self._census.pop(part, None)
        return seen[1] if seen is not None and seen[0] > time.monotonic() - SEEN_S else None

    def size(self, part: str) -> int:
        return len(self.ids_of(part))

    def count(self) -> int:
        """The pool's rows, counted at most every ``COUNTED_S`` seconds (other processes
        write; the count only sizes a query of the pool's index)."""
        now = time.monotonic()
        if self._counted is None or now - self._counted[0] > COUNTED_S:
            col = self._store._col(POOL)
            n = int(self._store._call("count", col.count)) if col is not None else 0
            self._counted = (now, n)
        return self._counted[1]

    def ids_of(self, part: str) -> list[str]:
        ids: list[str] = self._get(POOL, where={"part": part}, include=[])["ids"]
        return ids

    def ids(self, scope: Scope, include_invalid: bool = False) -> dict[str, list[str]]:
        """Pooled records of ``scope`` by owner partition. A user's: Chroma filters by the
        owner partition, validity and the other scope keys are checked here (a census of
        the owner too). Without a user, see ``_shared``."""
        if scope.user_id is None:
            return self._shared(scope, include_invalid)
        part = partition(scope)
        res = self._get(POOL, where={"part": part}, include=["metadatas"])
        self._census[part] = (time.monotonic(), len(res["ids"]))  # every pooled record
        return _by_part(res, include_invalid, scope)

    def _shared(self, scope: Scope, include_invalid: bool) -> dict[str, list[str]]:
        """Pooled records of an agent's or a run's scope, across many owners: ids only, as
        reading thousands of rows' metadata costs five times more than their ids. Chroma
        filters by every scope key; the superseded records are listed apart, by their
        ``invalid_at`` (a number Chroma indexes, unlike the boolean ``valid``), and so are
        the records of owners with collections of their own, with their partition. The
        others are filed under ``POOL``, which names no partition."""
        keys = [{k: v} for k, v in (scope.items() or {"run_id": ""}).items()]
        listed = self._get(POOL, where=_every(keys), include=[])["ids"]
        if not listed:
            return {}
        if not include_invalid:
            ended = _every([*keys, {"invalid_at": {"$gt": _NEVER}}])
            gone = set(self._get(POOL, where=ended, include=[])["ids"])
            listed = [i for i in listed if i not in gone]
        out: dict[str, list[str]] = {}
        owned: dict[str, str] = {}
        if own := list(self.states()):
            where = _every([*keys, {"part": {"$in": own}}])
            res = self._get(POOL, where=where, include=["metadatas"])
            owned = {i: p for p, group in _by_part(res, True).items() for i in group}
        for i in listed:
            out.setdefault(owned.get(i, POOL), []).append(i)
        return out

    def where(self, ids: Sequence[str], valid_only: bool) -> dict[str, str]:
        if not ids:
            return {}
        res = self._get(POOL, ids=list(ids), include=["metadatas"])
        return {i: p for p, group in _by_part(res, not valid_only).items() for i in group}


def _every(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """One Chroma filter that all ``conditions`` hold."""
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _by_part(
    res: dict[str, Any], include_invalid: bool, scope: Scope | None = None
) -> dict[str, list[str]]:
    """The ids of a ``get`` answer by partition: current ones only unless
    ``include_invalid``, and only those in ``scope`` if given."""
    want = scope.items() if scope is not None else {}
    out: dict[str, list[str]] = {}
    for id_, md in zip(res["ids"], res["metadatas"]):
        if (include_invalid or md.get("valid")) and all(md.get(k) == v for k, v in want.items()):
            owner = Scope(md.get("user_id"), md.get("agent_id"), md.get("run_id"))
            out.setdefault(str(md.get("part") or partition(owner)), []).append(id_)
    return out
