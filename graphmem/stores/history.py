"""SQLite audit log of every memory event, and the write-ahead journal of pending plans.

A plan (everything one ``add``/``update``/``delete`` writes to both stores) is journaled
before either store is touched and removed after both succeeded. Plans are idempotent, so
any left behind by a crash or an error are replayed on the next start.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import BackendError

SCHEMA = """
CREATE TABLE IF NOT EXISTS history(id TEXT PRIMARY KEY, memory_id TEXT NOT NULL,
  event TEXT NOT NULL, old_memory TEXT, new_memory TEXT, created_at TEXT NOT NULL,
  actor TEXT, role TEXT, is_deleted INTEGER NOT NULL DEFAULT 0, seq INTEGER,
  superseded_by TEXT);
CREATE INDEX IF NOT EXISTS history_memory ON history(memory_id);
CREATE TABLE IF NOT EXISTS journal(id TEXT PRIMARY KEY, plan TEXT NOT NULL,
  created_at TEXT NOT NULL);
"""


class HistoryStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                cols = {row[1] for row in db.execute("PRAGMA table_info(history)")}
                if "superseded_by" not in cols:  # a history written before it existed
                    db.execute("ALTER TABLE history ADD COLUMN superseded_by TEXT")
            except sqlite3.Error as e:
                raise BackendError(f"cannot open history {self.path}: {e}") from e
            self._db = db
        return self._db

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
    def journal(self, plan_id: str, plan: dict[str, Any]) -> None:
        now = datetime.now(UTC).isoformat()
        self._run(
            "INSERT OR REPLACE INTO journal VALUES (?,?,?)", [(plan_id, json.dumps(plan), now)]
        )

    def done(self, plan_id: str) -> None:
        self._run("DELETE FROM journal WHERE id=?", [(plan_id,)])

    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            rows = (
                self._conn().execute("SELECT id, plan FROM journal ORDER BY created_at").fetchall()
            )
        return [(i, json.loads(p)) for i, p in rows]

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
