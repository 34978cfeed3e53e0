"""Where a test's vector stores live: an embedded data dir or a `chroma run` server (the
``site`` fixture in ``conftest.py`` gives one of each)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from graphmem.stores.chroma import ChromaVectorStore


@contextlib.contextmanager
def chroma_run(path: Path) -> Iterator[int]:
    """A real `chroma run` server on ``path`` and a free port (its port), stopped after."""
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError("chroma run did not start")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
