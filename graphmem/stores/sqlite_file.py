"""The SQLite files of the embedded stores (graph, history, vector catalog), opened alike."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path, schema: str, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """A connection to ``path`` (created with its directory if missing) shared by the
    store's threads, in autocommit mode (transactions are explicit), in WAL mode so that
    readers in other processes never block the writer, overwriting deleted text on disk,
    with ``schema`` applied (``CREATE … IF NOT EXISTS``: a file of an older layout gains
    what was added since). ``synchronous``: ``NORMAL`` may lose the last commits (never
    consistency) on a power cut, ``FULL`` none. Raises ``sqlite3.Error``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA busy_timeout=10000")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
    db.execute("PRAGMA secure_delete=ON")
    db.executescript(schema)
    return db
