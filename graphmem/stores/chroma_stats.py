"""SQLite's planner statistics for a Chroma directory (``chroma.sqlite3``).

Chroma keeps the metadata of its records in SQLite and filters by metadata with a statement
of the shape ``segment_id = ? AND id IN (SELECT id FROM embedding_metadata WHERE key = ? AND
string_value = ?)``. A database that was never analyzed has no statistics, and SQLite then
reads that statement through the index on ``segment_id``: every record of the collection,
each checked against the list. A pooled store finds one owner's records on a Chroma server
with such a filter (``chroma_catalog``), so without statistics that lookup grows with the
pool (11 ms among 80k records, against 2 ms with them). With statistics SQLite knows that
one collection holds many records and looks the few that match up by id.

Chroma never runs ``ANALYZE`` itself, and graphmem cannot reach a server's file over HTTP:
``graphmem chroma-analyze <the server's --path>`` does it on the host, once the server holds
its data (SQLite records nothing for an empty table, and statistics describe the data as it
was: run it again as the data grows, from cron for instance; it reads at most
``ANALYSIS_LIMIT`` rows per index, 25 ms for 400k records). It is safe while the server runs
(a short write lock; the server's connections take the statistics at their next
statement)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from ..errors import BackendError, InvalidInputError

FILE = "chroma.sqlite3"
#: rows of each index ANALYZE reads at most: an estimate is enough to choose a plan, and it
#: keeps the write lock short on a big file
ANALYSIS_LIMIT = 1000
#: the index by which a filter reads a whole collection when the planner knows no better
SEGMENT_INDEX = "sqlite_autoindex_embeddings_1"


def chroma_file(path: Path) -> Path:
    """The SQLite file of a Chroma directory (``chroma run --path``, or an embedded data
    dir's ``chroma/``); the file itself is taken too."""
    file = path if path.name == FILE else path / FILE
    if not file.is_file():
        raise InvalidInputError(f"no Chroma database at {file}")
    return file


def analyze(path: Path, timeout: float = 30.0) -> dict[str, Any]:
    """Gather the planner statistics of the Chroma database under ``path``. What it found:
    the file, the records it holds, whether the index a filter would otherwise scan now has
    statistics (``ready``: false while no collection holds records), and the seconds taken."""
    file = chroma_file(path)
    started = time.perf_counter()
    try:
        db = sqlite3.connect(file, timeout=timeout, isolation_level=None)
        try:
            db.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
            db.execute("ANALYZE")
            records = db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
            ready = db.execute(
                "SELECT count(*) FROM sqlite_stat1 WHERE idx = ?", (SEGMENT_INDEX,)
            ).fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as e:
        raise BackendError(f"ANALYZE of {file} failed: {e}") from e
    return {
        "file": str(file),
        "records": int(records),
        "ready": bool(ready),
        "seconds": round(time.perf_counter() - started, 3),
    }
