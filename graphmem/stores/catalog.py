"""Which records each owner has, for a Chroma store that pools small owners together: the
:class:`VectorCatalog` protocol, and :class:`Catalog`, its SQLite table for an embedded Chroma
(a Chroma server keeps its own: ``chroma_catalog.py``).

Chroma's metadata filters and id-restricted queries cost time in proportion to the whole
collection (measured on chromadb 1.5: 14 ms to filter 100k rows down to 20), so a store that
keeps thousands of small owners in one collection cannot ask Chroma which rows are a user's.
This table answers it through SQLite indexes instead: one row per record (its owner
partition, scope keys and validity), and the partitions that have outgrown the pool and live
in collections of their own. It sits beside the Chroma files and, like them, is written by
the one process that owns the directory (``owner.py``); read-only processes read it as is.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from ..errors import BackendError
from ..models import FactRecord, Scope, partition
from .pool_rows import Texts
from .sqlite_file import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS records(id TEXT PRIMARY KEY, part TEXT NOT NULL, user_id TEXT,
  agent_id TEXT, run_id TEXT, valid INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_part ON records(part, valid);
CREATE INDEX IF NOT EXISTS records_agent ON records(agent_id) WHERE agent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_run ON records(run_id) WHERE run_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS owned(part TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS moving(part TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS layout(version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS texts(id TEXT PRIMARY KEY, text TEXT NOT NULL, metadata TEXT,
  sources TEXT, created REAL) WITHOUT ROWID;
"""
#: ``texts``: what Chroma does not keep of a pooled row (``pool_rows.py``): its text, metadata
#: JSON and source ids, by id, and its creation time (a keyword index lists a scope's texts
#: in ``scan``'s order without reading Chroma). A file of an older layout gains the table
#: empty on open: its pooled rows keep their documents in Chroma, and are read as they were;
#: one that has the table without ``created`` gains the column, NULL for the rows it holds
#: 1: a collection per owner (no catalog); 2: small owners pooled, an owner's records copied
#: before its move is recorded; 3: the move recorded first (``chroma_pool.promote``)
LAYOUT = 3
KEPT = 64  # ``ids`` answers a SQLite catalog keeps until its next write


class VectorCatalog(Protocol):
    """The records of one store by owner partition, and the partitions that have collections
    of their own (each *moving* until its pooled records are all moved, then *moved*)."""

    #: whether the catalog lists every record itself (``put``/``drop``), owned partitions'
    #: too; else the pool's rows are the list, and ``ids`` names pooled records only
    keeps_records: bool

    def setup(self) -> None: ...
    def close(self) -> None: ...
    def clear(self) -> None: ...
    def version(self) -> int:
        """The layout the store was written in (1: before any catalog)."""
        ...

    def upgraded(self) -> None:
        """The store is in the layout ``LAYOUT`` now."""
        ...

    def put(self, records: Sequence[FactRecord]) -> None: ...
    def drop(self, ids: Sequence[str]) -> None:
        """``ids`` are being deleted (called before they are): a move that copies them
        meanwhile finds them in ``dropped`` and deletes its copies."""
        ...

    def dropped(self, ids: Sequence[str]) -> set[str]: ...
    def own(self, part: str) -> None:
        """``part`` moves to collections of its own (moving; a moved one stays moved)."""
        ...

    def moved(self, part: str) -> None:
        """Every pooled record of ``part`` has moved."""
        ...

    def states(self, parts: Sequence[str] | None = None) -> dict[str, bool]:
        """The owned partitions (among ``parts``; None: all) and whether each has moved."""
        ...

    def routes(self, parts: Sequence[str]) -> dict[str, bool]:
        """``states(parts)`` to route a write by: an answer seen lately will do, as the
        write looks again once it is done (``chroma_move.settle``)."""
        ...

    def size(self, part: str) -> int: ...
    def counted(self, part: str) -> int | None:
        """How many records of ``part`` the pool held when a read of its owner listed them
        lately, once (None: not known): a write that this read planned and that pools ``k``
        more need not count them again while that plus ``k`` is within the pool's limit."""
        ...

    def count(self) -> int:
        """About how many records the pool holds (sizes a query of its index)."""
        ...

    def ids_of(self, part: str) -> list[str]:
        """Every record of ``part`` that may be pooled."""
        ...

    def ids(self, scope: Scope, include_invalid: bool = False) -> dict[str, list[str]]:
        """The ids of the records in ``scope`` by partition (see ``keeps_records``)."""
        ...

    def where(self, ids: Sequence[str], valid_only: bool) -> dict[str, str]:
        """Partition of each of ``ids`` that the catalog holds (current ones only if
        ``valid_only``)."""
        ...


class Catalog:
    """The records of one store (one family of collections) by owner partition."""

    keeps_records = True

    def __init__(self, path: Path, upgrade: bool = True) -> None:
        """``upgrade``: add the columns of this layout to a file made without them (a
        read-only process leaves the file as it is, and reads without them)."""
        self.path, self._upgrade = path, upgrade
        self._dated = False  # ``texts`` has its ``created`` column
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._count: int | None = None  # records listed, until the next write
        #: ``ids`` answers until the next write (a search asks for its scope's a few times)
        self._ids: OrderedDict[tuple[str, bool], dict[str, list[str]]] = OrderedDict()

    # -- plumbing --------------------------------------------------------------------------
    def setup(self) -> None:
        with self._lock:
            if self._db is not None:
                return
            try:
                db = connect(self.path, SCHEMA)
                self._dated = _created_column(db, self._upgrade)
            except sqlite3.Error as e:
                raise BackendError(f"cannot open vector catalog {self.path}: {e}") from e
            self._db = db

    def close(self) -> None:
        """Close the file and forget what was read of it (another process may write it)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
            self._db = None
            self._count = None
            self._ids.clear()

    @contextmanager
    def _conn(self, write: bool = False, listing: bool = True) -> Iterator[sqlite3.Connection]:
        """``listing``: a write changes which records are listed (the answers kept go)."""
        self.setup()
        assert self._db is not None
        with self._lock:
            try:
                if write and listing:
                    self._count = None
                    self._ids.clear()
                if write:
                    self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                if write:
                    self._db.execute("COMMIT")
            except sqlite3.Error as e:
                if write and self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise BackendError(f"vector catalog {self.path} failed: {e}") from e

    # -- layout ----------------------------------------------------------------------------
    def version(self) -> int:
        with self._conn() as db:
            row = db.execute("SELECT max(version) FROM layout").fetchone()
        return int(row[0]) if row and row[0] is not None else 1

    def upgraded(self) -> None:
        with self._conn(write=True) as db:
            db.execute("DELETE FROM layout")
            db.execute("INSERT INTO layout VALUES (?)", (LAYOUT,))

    # -- writes ----------------------------------------------------------------------------
    def put(self, records: Sequence[FactRecord]) -> None:
        rows = [
            (
                r.id,
                partition(r.scope),
                r.scope.user_id,
                r.scope.agent_id,
                r.scope.run_id,
                int(r.invalid_at is None),
            )
            for r in records
        ]
        with self._conn(write=True) as db:
            db.executemany("INSERT OR REPLACE INTO records VALUES (?,?,?,?,?,?)", rows)

    def drop(self, ids: Sequence[str]) -> None:
        with self._conn(write=True) as db:
            db.executemany("DELETE FROM records WHERE id=?", [(i,) for i in ids])

    def own(self, part: str) -> None:
        with self._conn(write=True) as db:
            if db.execute("INSERT OR IGNORE INTO owned VALUES (?)", (part,)).rowcount:
                db.execute("INSERT OR IGNORE INTO moving VALUES (?)", (part,))

    def moved(self, part: str) -> None:
        with self._conn(write=True) as db:
            db.execute("DELETE FROM moving WHERE part=?", (part,))

    def clear(self) -> None:
        with self._conn(write=True) as db:
            for table in ("records", "owned", "moving", "texts"):  # constants
                db.execute(f"DELETE FROM {table}")

    # -- the text of pooled rows (``pool_rows.PoolRows``) ---------------------------------
    def put_texts(
        self, rows: Sequence[tuple[str, str, str | None, str | None, float | None]], keep: bool
    ) -> None:
        verb = "INSERT OR IGNORE" if keep else "INSERT OR REPLACE"
        sql = f"{verb} INTO texts(id, text, metadata, sources, created) VALUES (?,?,?,?,?)"
        with self._conn(write=True, listing=False) as db:
            db.executemany(sql, rows)

    def drop_texts(self, ids: Sequence[str]) -> None:
        with self._conn(write=True, listing=False) as db:
            db.executemany("DELETE FROM texts WHERE id=?", [(i,) for i in ids])

    def texts(self, ids: Sequence[str]) -> Texts:
        """The text, metadata JSON, source ids and scope keys of ``ids`` (those listed)."""
        out: Texts = {}
        with self._conn() as db:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                sql = (
                    "SELECT t.id, t.text, t.metadata, t.sources, r.user_id, r.agent_id, r.run_id"
                    f" FROM texts t JOIN records r ON r.id = t.id WHERE t.id IN ({marks})"
                )
                out.update((row[0], row[1:]) for row in db.execute(sql, chunk))
        return out

    def dated_texts(self, ids: Sequence[str]) -> dict[str, tuple[float, str, str | None]]:
        """Id → (creation time, text, metadata JSON) of those of ``ids`` whose text and
        creation time are kept here (a keyword index's build)."""
        out: dict[str, tuple[float, str, str | None]] = {}
        with self._conn() as db:
            if not self._dated:
                return out
            for start in range(0, len(ids), 5000):
                chunk = list(ids[start : start + 5000])
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT id, created, text, metadata FROM texts WHERE id IN ({marks})"
                rows = db.execute(sql + " AND created IS NOT NULL", chunk)
                out.update((i, (c, t, m)) for i, c, t, m in rows)
        return out

    # -- reads -----------------------------------------------------------------------------
    def states(self, parts: Sequence[str] | None = None) -> dict[str, bool]:
        sql = "SELECT o.part, m.part IS NULL FROM owned o LEFT JOIN moving m ON m.part=o.part"
        with self._conn() as db:
            if parts is None:
                return {p: bool(done) for p, done in db.execute(sql)}
            out = {}
            for p in dict.fromkeys(parts):
                row = db.execute(sql + " WHERE o.part=?", (p,)).fetchone()
                if row is not None:
                    out[p] = bool(row[1])
            return out

    def routes(self, parts: Sequence[str]) -> dict[str, bool]:
        return self.states(parts)

    def counted(self, part: str) -> int | None:
        return None  # counting is an indexed SQLite query here

    def dropped(self, ids: Sequence[str]) -> set[str]:
        """The ``ids`` that the catalog no longer lists."""
        return set(ids) - set(self.where(ids, valid_only=False))

    def superseded(self, ids: Sequence[str]) -> set[str]:
        """The ``ids`` that the catalog lists as superseded."""
        return set(self.where(ids, valid_only=False)) - set(self.where(ids, valid_only=True))

    def size(self, part: str) -> int:
        with self._conn() as db:
            sql = "SELECT count(*) FROM records WHERE part=?"
            return int(db.execute(sql, (part,)).fetchone()[0])

    def ids_of(self, part: str) -> list[str]:
        """Every record of the partition ``part``."""
        with self._conn() as db:
            return [r[0] for r in db.execute("SELECT id FROM records WHERE part=?", (part,))]

    def count(self) -> int:
        """Every record listed (counted again after a write)."""
        with self._conn() as db:
            if self._count is None:
                self._count = int(db.execute("SELECT count(*) FROM records").fetchone()[0])
            return self._count

    def ids(self, scope: Scope, include_invalid: bool = False) -> dict[str, list[str]]:
        """The ids of the records in ``scope``, by partition, through the index of the
        scope's most selective key (owner partition, else agent, else run). The caller does
        not change what it is given (answers are kept until the next write)."""
        key = (scope.key, include_invalid)
        with self._lock:
            if (found := self._ids.get(key)) is not None:
                self._ids.move_to_end(key)
                return found
            found = self._select(scope, include_invalid)
            self._ids[key] = found
            while len(self._ids) > KEPT:
                self._ids.popitem(last=False)
            return found

    def _select(self, scope: Scope, include_invalid: bool) -> dict[str, list[str]]:
        items = scope.items()
        if scope.user_id is not None:
            sql, args = "part=?", [partition(scope)]
        elif scope.agent_id is not None:
            sql, args = "agent_id=?", [scope.agent_id]
        else:
            sql, args = "run_id=?", [scope.run_id or ""]
        for key in ("user_id", "agent_id", "run_id"):  # column names are constants
            if key in items:
                sql += f" AND {key}=?"
                args.append(items[key])
        if not include_invalid:
            sql += " AND valid=1"
        out: dict[str, list[str]] = {}
        with self._conn() as db:
            for part, id_ in db.execute(f"SELECT part, id FROM records WHERE {sql}", args):
                out.setdefault(part, []).append(id_)
        return out

    def where(self, ids: Sequence[str], valid_only: bool) -> dict[str, str]:
        """Partition of each of ``ids`` that the catalog holds (current ones only if
        ``valid_only``)."""
        out: dict[str, str] = {}
        with self._conn() as db:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT id, part FROM records WHERE id IN ({marks})"
                if valid_only:
                    sql += " AND valid=1"
                out.update(db.execute(sql, chunk).fetchall())
        return out


def _created_column(db: sqlite3.Connection, upgrade: bool) -> bool:
    """Whether ``texts`` has its ``created`` column, added first if ``upgrade``."""
    if "created" in {row[1] for row in db.execute("PRAGMA table_info(texts)")}:
        return True
    if upgrade:
        db.execute("ALTER TABLE texts ADD COLUMN created REAL")
    return upgrade
