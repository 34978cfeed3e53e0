"""Process and disk measurements, and the servers of ``bench_scale``'s ``servers`` backend: a
Neo4j started by ``scripts/neo4j.sh`` and a ``chroma run``, both on 127.0.0.1 and on ports of
their own, each started with an empty store and stopped again."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from graphmem.stores.chroma_stats import analyze

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
MB = 1024 * 1024


# -- memory and disk ----------------------------------------------------------------------------
def status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process in bytes, from ``/proc``; {} if it is gone."""
    out: dict[str, int] = {}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return out


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its children."""
    return sum(status(p).get("VmRSS", 0) for p in descendants(pid))


def disk_bytes(path: Path) -> int:
    """What ``du`` counts under ``path``: allocated blocks, each inode once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def watch(
    proc: subprocess.Popen[bytes], servers: Servers | None, max_rss: float, max_s: float | None
) -> dict[str, Any]:
    """Wait for ``proc``, sampling its resident memory and the servers' twice a second; kill
    it above ``max_rss`` bytes or after ``max_s`` seconds. What was seen, in MB."""
    t0, peak, server_peak, killed = time.monotonic(), 0, dict[str, int](), None
    while proc.poll() is None:
        rss = tree_rss(proc.pid)
        peak = max(peak, rss)
        for name, b in (servers.rss() if servers else {}).items():
            server_peak[name] = max(server_peak.get(name, 0), b)
        if rss > max_rss or (max_s is not None and time.monotonic() - t0 > max_s):
            killed = "memory guard (killed)" if rss > max_rss else "time limit (killed)"
            proc.kill()
            proc.wait()
        time.sleep(0.5)
    out: dict[str, Any] = {"wall_s": round(time.monotonic() - t0, 1)}
    if killed:
        out["killed"] = killed
    elif proc.returncode:
        out["error"] = f"exit status {proc.returncode}"
    out["sampled_peak_rss_mb"] = round(peak / MB, 1)
    if servers is not None:
        out["server_peak_rss_mb"] = {k: round(v / MB, 1) for k, v in server_peak.items()}
        out["server_rss_mb"] = {k: round(v / MB, 1) for k, v in servers.rss().items()}
    return out


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port} after {timeout:.0f} s")


# -- the servers ----------------------------------------------------------------------------------
class Servers:
    """Neo4j (Bolt ``bolt_port``, no HTTP, store under ``neo4j_home``) and ``chroma run``
    (``chroma_port``, store under ``root / "chroma"``), fresh at every ``start``."""

    def __init__(self, root: Path, neo4j_home: Path, bolt_port: int, chroma_port: int) -> None:
        self.root, self.neo4j_home = root, neo4j_home
        self.bolt_port, self.chroma_port = bolt_port, chroma_port
        self.chroma: subprocess.Popen[bytes] | None = None
        self.chroma_log: Any = None

    def _neo4j(self, command: str) -> None:
        env = os.environ | {
            "GRAPHMEM_NEO4J_BOLT_PORT": str(self.bolt_port),
            "GRAPHMEM_NEO4J_HTTP_PORT": "0",
            "GRAPHMEM_NEO4J_HOME": str(self.neo4j_home),
        }
        subprocess.run(["bash", str(SCRIPTS / "neo4j.sh"), command], env=env, check=True)

    def config(self) -> dict[str, Any]:
        """The ``Config`` overrides that point graphmem at these servers."""
        return {
            "graph_store": "neo4j",
            "neo4j_uri": f"bolt://127.0.0.1:{self.bolt_port}",
            "chroma_host": "127.0.0.1",
            "chroma_port": self.chroma_port,
        }

    def start(self) -> None:
        self._neo4j("start")
        path = self.root / "chroma"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
        args = ["run", "--path", str(path), "--host", "127.0.0.1", "--port", str(self.chroma_port)]
        self.chroma_log = (self.root / "chroma.log").open("wb")
        self.chroma = subprocess.Popen(
            [exe, *args], stdout=self.chroma_log, stderr=subprocess.STDOUT
        )
        try:
            wait_port(self.chroma_port, self.chroma, 60)
        except BaseException:
            self.stop()
            raise

    def analyze(self) -> dict[str, Any]:
        """``graphmem chroma-analyze`` on the Chroma server's directory, as the deployment
        guide asks once the server holds its data; what it reported."""
        return analyze(self.root / "chroma")

    def pids(self) -> dict[str, int]:
        out = {}
        with contextlib.suppress(OSError, ValueError):
            out["neo4j"] = int((self.neo4j_home / "neo4j.pid").read_text())
        if self.chroma is not None and self.chroma.poll() is None:
            out["chroma"] = self.chroma.pid
        return out

    def rss(self) -> dict[str, int]:
        return {name: tree_rss(pid) for name, pid in self.pids().items()}

    def disk(self) -> dict[str, int]:
        return {
            "neo4j": disk_bytes(self.neo4j_home / "db"),
            "chroma": disk_bytes(self.root / "chroma"),
        }

    def stop(self) -> None:
        if self.chroma is not None:
            self.chroma.terminate()
            try:
                self.chroma.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.chroma.kill()
                self.chroma.wait()
            self.chroma = None
        if self.chroma_log is not None:
            self.chroma_log.close()
            self.chroma_log = None
        shutil.rmtree(self.root / "chroma", ignore_errors=True)
        self._neo4j("stop")
