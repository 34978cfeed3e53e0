"""The upgrade of a data dir whose entity-name vectors are a Chroma store of their own
(``<collection>_entities``, as every data dir written before they moved into the embedded
graph store's file, ``name_vectors.py``).

On open, every record of that store, in whichever of its collections it is (the pool, an
owner's own, an archive), is written beside its entity in the graph file, then the store's
collections are dropped and its catalog file removed. Safe to repeat: a vector already in the
graph file stays (it is the same one), so an upgrade interrupted anywhere is completed by the
next open. A record whose entity the graph does not hold (none is ever written so; a name
record outlives its entity nowhere) is of no use to any read and is not kept; it is counted
in the log.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .chroma_move import pages

if TYPE_CHECKING:
    from .chroma import ChromaVectorStore
    from .name_vectors import GraphNameVectors

log = logging.getLogger("graphmem")


def move_names(names: GraphNameVectors, old: ChromaVectorStore, catalog: Path | None) -> int:
    """Move ``old``'s records into ``names`` and drop ``old`` (with its ``catalog`` file):
    how many records moved."""
    moved = seen = 0
    try:
        for page in pages(old):
            if page:
                seen += len(page)
                vecs = np.stack([np.asarray(v, dtype=np.float32) for _, v in page])
                moved += names.put([rec.id for rec, _ in page], vecs, keep=True)
        old.reset()  # drops whatever collections it has (none: nothing to do)
        _remove(catalog)
    finally:
        old.close()
    if seen:
        log.info("graphmem: %d entity-name vectors moved into the graph store", moved)
    if seen > moved:
        log.warning("graphmem: %d entity-name vectors of no stored entity left out", seen - moved)
    return moved


def _remove(catalog: Path | None) -> None:
    """The old store's catalog file (SQLite, with its journal files), if any."""
    if catalog is None:
        return
    for path in (catalog, *(catalog.with_name(catalog.name + s) for s in ("-wal", "-shm"))):
        path.unlink(missing_ok=True)
