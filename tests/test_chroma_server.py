"""The same Memory behaviour against a real `chroma run` server (HttpClient mode)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graphmem import BackendError, Config, Memory

pytestmark = pytest.mark.chroma_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    exe = shutil.which("chroma") or str(Path(__import__("sys").executable).parent / "chroma")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("chroma run did not start")
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def test_memory_over_chroma_server(
    chroma_server: int, tmp_path: Path, embedder: Any, spacy_extractor: Any
) -> None:
    cfg = Config.load(
        {
            "data_dir": tmp_path,
            "extractor": "offline",
            "chroma_host": "127.0.0.1",
            "chroma_port": chroma_server,
            "collection": "srv_test",
        }
    )
    with Memory(cfg, embedder=embedder, offline=spacy_extractor) as m:
        m.add("I live in Hamburg. My manager Bob works at Acme.", user_id="alice")
        m.add("I live in Oslo.", user_id="bob")
        out = m.add("I moved to Berlin.", user_id="alice")
        assert sorted(r["event"] for r in out["results"]) == ["ADD", "DELETE"]
        res = m.search("Where do I live?", user_id="alice")
        found = [r["memory"] for r in res["results"]]
        assert "I moved to Berlin." in found and "I live in Hamburg." not in found
        assert all("Oslo" not in r["memory"] for r in res["results"])
        assert not (tmp_path / "chroma").exists()  # nothing embedded: all in the server
        m.reset()


def test_unreachable_server_is_a_backend_error(
    tmp_path: Path, embedder: Any, spacy_extractor: Any
) -> None:
    cfg = Config.load(
        {
            "data_dir": tmp_path,
            "extractor": "offline",
            "chroma_host": "127.0.0.1",
            "chroma_port": free_port(),
        }
    )
    with pytest.raises(BackendError, match="chroma"):
        Memory(cfg, embedder=embedder, offline=spacy_extractor).get_all(user_id="alice")
