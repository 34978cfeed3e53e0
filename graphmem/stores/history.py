"""SQLite audit log of every memory event, and the write-ahead journal of pending plans.

A plan (everything one ``add``/``update``/``delete`` writes to both stores) is journaled
before either store is touched and removed after both succeeded. Plans are idempotent, so
any left behind by a crash or an error are replayed on the next start. A plan that keeps
failing is moved to the ``quarantine`` table after a bounded number of attempts: kept for
inspection (``graphmem doctor``), never replayed on its own again.


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
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import BackendError
from .owner import FileLock
from .sqlite_file import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS history(id TEXT PRIMARY KEY, memory_id TEXT NOT NULL,
  event TEXT NOT NULL, old_memory TEXT, new_memory TEXT, created_at TEXT NOT NULL,
  actor TEXT, role TEXT, is_deleted INTEGER NOT NULL DEFAULT 0, seq INTEGER,
  superseded_by TEXT);
CREATE INDEX IF NOT EXISTS history_memory ON history(memory_id);
CREATE TABLE IF NOT EXISTS journal(id TEXT PRIMARY KEY, plan TEXT NOT NULL,
  created_at TEXT NOT NULL, writer TEXT);
CREATE TABLE IF NOT EXISTS quarantine(id TEXT PRIMARY KEY, plan TEXT NOT NULL,
  created_at TEXT NOT NULL, quarantined_at TEXT NOT NULL, attempts INTEGER NOT NULL,
  error TEXT, scope TEXT);
"""
CHUNK = 500  # ids bound in one statement (SQLite limits a statement's parameters)
#: columns added since the first layout: (table, column, type)
ADDED = (
    ("history", "superseded_by", "TEXT"),
    ("history", "scope", "TEXT"),
    ("journal", "writer", "TEXT"),
    ("journal", "attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("journal", "error", "TEXT"),
    ("journal", "scope", "TEXT"),
)


class HistoryStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._writer = FileLock(self.path.parent / "writers" / f"{uuid.uuid4().hex}.lock")

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                db = connect(self.path, SCHEMA, synchronous="FULL")  # the journal: durable
                for table, column, kind in ADDED:  # a file written before they existed
                    cols = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                    if column not in cols:  # names are the constants above
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
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

    def journal(self, plan_id: str, plan: str, scope: str | None = None) -> None:
        """Journal a plan, already serialised (and so checked) as JSON."""
        now = datetime.now(UTC).isoformat()
        self._run(
            "INSERT OR REPLACE INTO journal(id, plan, created_at, writer, attempts, scope) "
            "VALUES (?,?,?,?,0,?)",
            [(plan_id, plan, now, self._me(), scope)],
        )

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

    def failed(self, plan_id: str, error: str, max_attempts: int) -> bool:
        """Count a failed attempt at a journaled plan; after ``max_attempts`` the plan moves
        to quarantine. True when it did."""
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "UPDATE journal SET attempts=attempts+1, error=? WHERE id=?",
                    (error[:2000], plan_id),
                )
                moved = db.execute(
                    "INSERT INTO quarantine SELECT id, plan, created_at, ?, attempts, error, scope"
                    " FROM journal WHERE id=? AND attempts>=?",
                    (datetime.now(UTC).isoformat(), plan_id, max_attempts),
                ).rowcount
                if moved:
                    db.execute("DELETE FROM journal WHERE id=?", (plan_id,))
                db.execute("COMMIT")
            except sqlite3.Error as e:
                db.execute("ROLLBACK")
                raise BackendError(f"history write failed: {e}") from e
        return bool(moved)

    def problems(self) -> dict[str, list[dict[str, Any]]]:
        """Plans waiting for a replay (``pending``) and quarantined ones, without their bodies."""
        with self._lock:
            db = self._conn()
            pending = db.execute(
                "SELECT id, scope, created_at, attempts, error FROM journal ORDER BY created_at"
            )
            p_cols = [c[0] for c in pending.description]
            p_rows = [dict(zip(p_cols, r)) for r in pending.fetchall()]
            quarantined = db.execute(
                "SELECT id, scope, created_at, quarantined_at, attempts, error FROM quarantine "
                "ORDER BY created_at"
            )
            q_cols = [c[0] for c in quarantined.description]
            q_rows = [dict(zip(q_cols, r)) for r in quarantined.fetchall()]
        return {"pending": p_rows, "quarantined": q_rows}

    def requeue(self, plan_ids: list[str] | None = None) -> int:
        """Move quarantined plans (all, or these) back to the journal, attempts reset."""
        return self._move_quarantined(
            "INSERT OR REPLACE INTO journal(id, plan, created_at, writer, attempts, error, scope) "
            "SELECT id, plan, created_at, ?, 0, error, scope FROM quarantine",
            plan_ids,
            (self._me(),),
        )

    def drop(self, plan_ids: list[str] | None = None) -> int:
        """Discard quarantined plans (all, or these): what they would have written is lost."""
        return self._move_quarantined(None, plan_ids)

    def _move_quarantined(
        self, insert: str | None, plan_ids: list[str] | None, params: tuple[str, ...] = ()
    ) -> int:
        ids = (
            plan_ids if plan_ids is not None else [r["id"] for r in self.problems()["quarantined"]]
        )
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
                n = 0
                for plan_id in ids:
                    if insert is not None:
                        db.execute(insert + " WHERE id=?", (*params, plan_id))
                    n += db.execute("DELETE FROM quarantine WHERE id=?", (plan_id,)).rowcount
                db.execute("COMMIT")
            except sqlite3.Error as e:
                db.execute("ROLLBACK")
                raise BackendError(f"history write failed: {e}") from e
        return n

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
            "created_at, actor, role, is_deleted, seq, superseded_by, scope) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    e.get("scope"),
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
            r.pop("seq", None)  # "scope": the key of the scope it was written in (or None)
        return out

    def events(self, scopes: Sequence[str], memory_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every event recorded with one of these exact scope keys, or of one of these
        memories, oldest first: the rows as ``record`` takes them (for an export)."""
        found: dict[str, dict[str, Any]] = {}
        for column, values in (("scope", list(dict.fromkeys(scopes))), ("memory_id", memory_ids)):
            for start in range(0, len(values), CHUNK):
                part = values[start : start + CHUNK]
                marks = ",".join("?" * len(part))
                with self._lock:  # the column is one of the two constants above
                    cur = self._conn().execute(
                        f"SELECT * FROM history WHERE {column} IN ({marks})", part
                    )
                    cols = [c[0] for c in cur.description]
                    rows = cur.fetchall()
                found.update((r[0], dict(zip(cols, r))) for r in rows)
        for e in found.values():
            del e["is_deleted"]  # ``record`` derives it from the event
        return sorted(found.values(), key=lambda e: (e["created_at"], e["seq"] or 0, e["id"]))

    def erase(self, scopes: list[str], memory_ids: list[str], prefix: str | None) -> int:
        """Delete every event, pending and quarantined plan of these exact scope keys, every
        event of these memories and, with ``prefix``, of every memory id starting with it
        (events written before the scope was recorded). Returns the events deleted."""
        statements = [
            ("DELETE FROM history WHERE scope=?", [(k,) for k in scopes]),
            ("DELETE FROM history WHERE memory_id=?", [(i,) for i in memory_ids]),
            ("DELETE FROM journal WHERE scope=?", [(k,) for k in scopes]),
            ("DELETE FROM quarantine WHERE scope=?", [(k,) for k in scopes]),
        ]
        if prefix is not None:
            like = prefix.replace("%", "").replace("_", "") + ".%"
            statements.append(("DELETE FROM history WHERE memory_id LIKE ?", [(like,)]))
        with self._lock:
            db = self._conn()
            before = db.total_changes
            try:
                db.execute("BEGIN IMMEDIATE")
                for sql, rows in statements:
                    db.executemany(sql, rows)
                db.execute("COMMIT")
            except sqlite3.Error as e:
                db.execute("ROLLBACK")
                raise BackendError(f"history erase failed: {e}") from e
            return db.total_changes - before

    def scopes(self) -> list[str]:
        """The scope keys that events were recorded with."""
        with self._lock:
            rows = self._conn().execute("SELECT DISTINCT scope FROM history").fetchall()
        return [r[0] for r in rows if r[0]]

    def reset(self) -> None:
        for table in ("history", "journal", "quarantine"):  # constants
            self._run(f"DELETE FROM {table}", [()])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
            self._db = None
            self._writer.release(unlink=True)  # plans it left behind are anyone's now
