"""Which records each owner has, for an embedded Chroma that pools small owners together.

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

from ..errors import BackendError
from ..models import FactRecord, Scope, partition
from .sqlite_file import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS records(id TEXT PRIMARY KEY, part TEXT NOT NULL, user_id TEXT,
  agent_id TEXT, run_id TEXT, valid INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_part ON records(part, valid);
CREATE INDEX IF NOT EXISTS records_agent ON records(agent_id) WHERE agent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_run ON records(run_id) WHERE run_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS owned(part TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS layout(version INTEGER NOT NULL);
"""
LAYOUT = 2  # 1: a collection per owner (no catalog); 2: small owners pooled
KEPT = 64  # ``ids`` answers kept


class Catalog:
    """The records of one store (one family of collections) by owner partition."""

    def __init__(self, path: Path) -> None:
        self.path = path
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
    def _conn(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        self.setup()
        assert self._db is not None
        with self._lock:
            try:
                if write:
                    self._count = None
                    self._ids.clear()
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
        """``part`` moved to collections of its own."""
        with self._conn(write=True) as db:
            db.execute("INSERT OR IGNORE INTO owned VALUES (?)", (part,))

    def clear(self) -> None:
        with self._conn(write=True) as db:
            db.execute("DELETE FROM records")
            db.execute("DELETE FROM owned")

    # -- reads -----------------------------------------------------------------------------
    def owns(self, part: str) -> bool:
        """Whether ``part`` has collections of its own (else its records are pooled)."""
        with self._conn() as db:
            return db.execute("SELECT 1 FROM owned WHERE part=?", (part,)).fetchone() is not None

    def owners(self) -> set[str]:
        with self._conn() as db:
            return {r[0] for r in db.execute("SELECT part FROM owned")}

    def size(self, part: str) -> int:
        with self._conn() as db:
            sql = "SELECT count(*) FROM records WHERE part=?"
            return int(db.execute(sql, (part,)).fetchone()[0])

    def count(self) -> int:
        """Every record listed (counted again after a write)."""
        with self._conn() as db:
            if self._count is None:
                self._count = int(db.execute("SELECT count(*) FROM records").fetchone()[0])
            return self._count

    def ids_of(self, part: str) -> list[str]:
        """Every record of the partition ``part``."""
        with self._conn() as db:
            return [r[0] for r in db.execute("SELECT id FROM records WHERE part=?", (part,))]

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
