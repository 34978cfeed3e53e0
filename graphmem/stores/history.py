"""SQLite audit log of every memory event, and the write-ahead journal of pending plans.

A plan (everything one ``add``/``update``/``delete`` writes to both stores) is journaled
before either store is touched and removed after both succeeded. Plans are idempotent, so
any left behind by a crash or an error are replayed on the next start.

Several processes may share one history (SQLite in WAL mode; with Neo4j and a Chroma server
nothing else of the data dir is per process). A process must not replay a plan that another,
live one is still applying, so each journal row names its writer: every writer holds a lock
on ``writers/<its id>.lock`` beside the history while it is open, and replays its own plans
and those of writers whose lock is free (closed, crashed, killed), which it adopts first.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import BackendError
from .owner import FileLock

SCHEMA = """
CREATE TABLE IF NOT EXISTS history(id TEXT PRIMARY KEY, memory_id TEXT NOT NULL,
  event TEXT NOT NULL, old_memory TEXT, new_memory TEXT, created_at TEXT NOT NULL,
  actor TEXT, role TEXT, is_deleted INTEGER NOT NULL DEFAULT 0, seq INTEGER,
  superseded_by TEXT);
CREATE INDEX IF NOT EXISTS history_memory ON history(memory_id);
CREATE TABLE IF NOT EXISTS journal(id TEXT PRIMARY KEY, plan TEXT NOT NULL,
  created_at TEXT NOT NULL, writer TEXT);
"""
ADDED = (("history", "superseded_by"), ("journal", "writer"))  # columns added since the first


class HistoryStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._writer = FileLock(self.path.parent / "writers" / f"{uuid.uuid4().hex}.lock")

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                for table, col in ADDED:  # a history written before they existed
                    if col not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {col} TEXT")  # constants
            except sqlite3.Error as e:
                raise BackendError(f"cannot open history {self.path}: {e}") from e
            self._db = db
        return self._db

    def version(self) -> int:
        """A number that changes whenever another connection (another process, another
        ``Memory``) commits. Every write commits to the history last (its plan is done), so
        this one pragma tells a reader that the stores changed."""
        with self._lock:
            return int(self._conn().execute("PRAGMA data_version").fetchone()[0])

    def _run(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(sql, rows)
                db.execute("COMMIT")
            except sqlite3.Error as e:
                db.execute("ROLLBACK")
                raise BackendError(f"history write failed: {e}") from e

    # -- journal ---------------------------------------------------------------------------
    def _me(self) -> str:
        """This writer's id, its lock held from the first plan it journals or looks for."""
        with self._lock:
            if not self._writer.acquire():  # a fresh random name: no one else has it
                raise BackendError(f"cannot lock {self._writer.path}")
        return self._writer.path.stem

    def journal(self, plan_id: str, plan: dict[str, Any]) -> None:
        now = datetime.now(UTC).isoformat()
        row = (plan_id, json.dumps(plan), now, self._me())
        self._run("INSERT OR REPLACE INTO journal VALUES (?,?,?,?)", [row])

    def done(self, plan_id: str) -> None:
        self._run("DELETE FROM journal WHERE id=?", [(plan_id,)])

    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        """The unfinished plans this writer may replay, oldest first: its own, and those of
        writers that are gone, adopted (a live writer's plans are left to it)."""
        me = self._me()
        with self._lock:
            named = {w for (w,) in self._conn().execute("SELECT DISTINCT writer FROM journal")}
        files = {f.stem for f in self._writer.path.parent.glob("*.lock")}
        for writer in (named | files) - {me}:  # files: also clears those the killed left
            self._adopt(writer, me)
        with self._lock:
            rows = (
                self._conn()
                .execute("SELECT id, plan FROM journal WHERE writer=? ORDER BY created_at", (me,))
                .fetchall()
            )
        return [(i, json.loads(p)) for i, p in rows]

    def _adopt(self, writer: str | None, me: str) -> None:
        """Take over the plans of ``writer`` if it is gone (its lock is free). Rows without a
        writer were journaled before writers were named: whoever looks first takes them."""
        if writer is None or not writer.isalnum():
            self._run("UPDATE journal SET writer=? WHERE writer IS ?", [(me, writer)])
            return
        theirs = FileLock(self._writer.path.with_name(f"{writer}.lock"))
        if theirs.acquire():  # held until they are ours: two adopters cannot both replay them
            try:
                self._run("UPDATE journal SET writer=? WHERE writer=?", [(me, writer)])
            finally:
                theirs.release(unlink=True)

    # -- history ---------------------------------------------------------------------------
    def record(self, events: list[dict[str, Any]]) -> None:
        """Insert events (idempotent by event id)."""
        self._run(
            "INSERT OR IGNORE INTO history(id, memory_id, event, old_memory, new_memory, "
            "created_at, actor, role, is_deleted, seq, superseded_by) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    e["id"],
                    e["memory_id"],
                    e["event"],
                    e.get("old_memory"),
                    e.get("new_memory"),
                    e["created_at"],
                    e.get("actor"),
                    e.get("role"),
                    int(e["event"] == "DELETE"),
                    e.get("seq", 0),
                    e.get("superseded_by"),
                )
                for e in events
            ],
        )

    def history(self, memory_id: str) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._conn().execute(
                "SELECT * FROM history WHERE memory_id=? ORDER BY created_at, seq", (memory_id,)
            )
            cols = [c[0] for c in cur.description]
            rows = cur.fetchall()
        out = [dict(zip(cols, r)) for r in rows]
        for r in out:
            r["is_deleted"] = bool(r["is_deleted"])
            r.pop("seq", None)
        return out

    def reset(self) -> None:
        self._run("DELETE FROM history", [()])
        self._run("DELETE FROM journal", [()])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
            self._db = None
            self._writer.release(unlink=True)  # plans it left behind are anyone's now
