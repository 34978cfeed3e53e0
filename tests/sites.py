"""Where a test's vector stores live: an embedded data dir or a `chroma run` server (the
``site`` fixture in ``conftest.py`` gives one of each)."""

from __future__ import annotations

import uuid
from pathlib import Path

from graphmem.stores.chroma import ChromaVectorStore


class Site:
    """Where the stores of a test live: embedded data dirs under ``root``, or collections of
    the test's own on the `chroma run` server at ``port``. Stores of one ``name`` share it."""

    def __init__(self, root: Path, port: int | None) -> None:
        self.root, self.port = root, port
        self.prefix = f"t{uuid.uuid4().hex[:10]}"

    def store(
        self, pool_limit: int, cache: int = 0, name: str = "main", upgrade: bool = True
    ) -> ChromaVectorStore:
        if self.port is None:
            path, host, collection = self.root / name, None, "t"
        else:
            path, host, collection = None, "127.0.0.1", self.prefix + name
        s = ChromaVectorStore(
            path,
            host,
            self.port or 8000,
            collection,
            cache_size=cache,
            pool_limit=pool_limit,
            upgrade=upgrade,
        )
        s.setup()
        return s
