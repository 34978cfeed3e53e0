"""What a pooled store's catalog costs on a ``chroma run`` server (``chroma_catalog.py``).

Starts a ``chroma run`` of its own (a fresh directory, a free port), writes ``--users`` users
x ``--facts`` records (384-dimensional random vectors, every fourth one superseded) through
the store's write path in batches of ``--batch`` users, and times, for random users, client
side, p50/p95 over ``--rounds`` calls each:

* ``ids``: the catalog's lookup of a user's current records (``get`` on the pool, filtered
  by the owner partition);
* ``states``: the lookup of whether a user has collections of their own (marker rows by id);
* ``query`` / ``scan``: a whole read of a user (lookups, vectors read by id, exact scores);
* ``agent query``: a read by ``agent_id`` alone (users ``i`` have agent ``i mod 10``); the
  same for 30 candidates with the agent's pooled rows listed first, or found by their keys
  (``agent query, listed`` / ``unlisted``, see ``chroma_pool.scope_search``), and the pool's
  index asked with Chroma's filter on the agent alone (``Chroma's filter only``);
* ``agent ids``: the catalog's lookup of an agent's current records (ids only, see
  ``ChromaCatalog._shared``), against reading the same rows with their metadata;
* the alternative that ``chroma_catalog.py`` did not take, for comparison: a separate
  collection with one catalog row per record (1-dimensional dummy vectors), filtered by the
  partition alone and with validity too;
* then the same again after ``graphmem chroma-analyze`` on the server's directory
  (``chroma_stats``), the server still running: ``<name>, analyzed``.

    python benchmarks/probe_chroma_catalog.py --users 2500 --facts 20 --out /tmp/catalog.json
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from graphmem.models import FactRecord, Scope, fact_id, partition
from graphmem.stores import chroma_pool
from graphmem.stores.chroma import ChromaVectorStore
from graphmem.stores.chroma_pool import POOL
from graphmem.stores.chroma_stats import analyze

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import wait_port

DIM = 384


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def scope(u: int) -> Scope:
    return Scope(user_id=f"user{u}", agent_id=f"agent{u % 10}")


def load(store: ChromaVectorStore, alt: Any, args: argparse.Namespace) -> float:
    """Write every user's records (and the alternative's catalog rows); seconds taken."""
    rng = np.random.default_rng(0)
    old = datetime(2025, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    for first in range(0, args.users, args.batch):
        recs = []
        for u in range(first, min(args.users, first + args.batch)):
            for i in range(args.facts):
                rec = FactRecord(fact_id(scope(u)), f"user {u} fact {i}", scope(u))
                recs.append(replace(rec, invalid_at=old) if i % 4 == 3 else rec)
        store.upsert(recs, rng.standard_normal((len(recs), DIM)).astype(np.float32))
        alt.upsert(
            ids=[r.id for r in recs],
            metadatas=[
                {**r.scope.items(), "part": partition(r.scope), "valid": r.invalid_at is None}
                for r in recs
            ],
            embeddings=[[0.0]] * len(recs),
        )
    return time.perf_counter() - started


def user(u: int) -> Scope:
    return Scope(user_id=f"user{u}")


def timed(call: Callable[[int], Any], args: argparse.Namespace) -> dict[str, float]:
    rng = random.Random(7)
    call(0)
    times = []
    for _ in range(args.rounds):
        u = rng.randrange(args.users)
        t0 = time.perf_counter()
        call(u)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], 2),
    }


def unlisted_past(rows: int, store: ChromaVectorStore, u: int, q: Any) -> Any:
    """An agent's query (30 candidates, as a search asks) with ``UNLISTED_MIN`` at ``rows``:
    its pooled rows listed by id first, or found by their keys (``scope_search``)."""
    default, chroma_pool.UNLISTED_MIN = chroma_pool.UNLISTED_MIN, rows
    try:
        return store.query(Scope(agent_id=f"agent{u % 10}"), q, 30)
    finally:
        chroma_pool.UNLISTED_MIN = default


def probe(port: int, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    store = ChromaVectorStore(None, "127.0.0.1", port, "probe", pool_limit=256)
    store.setup()
    alt = store._open().get_or_create_collection("alternative", embedding_function=None)
    out: dict[str, Any] = {"users": args.users, "facts": args.facts}
    out["load_s"] = round(load(store, alt, args), 1)
    cat = store.catalog
    assert cat is not None
    q = np.random.default_rng(1).standard_normal(DIM).astype(np.float32)
    calls: dict[str, Callable[[int], Any]] = {
        "ids": lambda u: cat.ids(user(u)),
        "states": lambda u: cat.states([partition(user(u))]),
        "query": lambda u: store.query(user(u), q, 10),
        "scan": lambda u: store.scan(user(u), limit=100),
        "agent query": lambda u: store.query(Scope(agent_id=f"agent{u % 10}"), q, 10),
        "agent query, listed": lambda u: unlisted_past(10**12, store, u, q),
        "agent query, unlisted": lambda u: unlisted_past(0, store, u, q),
        "agent query, Chroma's filter only": lambda u: store._col(POOL).query(
            query_embeddings=[q],
            n_results=45,
            where={"agent_id": f"agent{u % 10}"},
            include=["metadatas", "distances"],
        ),
        "agent ids": lambda u: cat.ids(Scope(agent_id=f"agent{u % 10}")),
        "agent ids, read with metadata": lambda u: cat._get(
            POOL, where={"agent_id": f"agent{u % 10}"}, include=["metadatas"]
        ),
        "alternative ids (partition)": lambda u: alt.get(
            where={"part": partition(user(u))}, include=["metadatas"]
        ),
        "alternative ids (partition and validity)": lambda u: alt.get(
            where={"$and": [{"part": partition(user(u))}, {"valid": True}]}, include=[]
        ),
    }
    for name, call in calls.items():
        out[name] = timed(call, args)
        print(name, out[name], flush=True)
    out["analyze"] = analyze(root)  # the server keeps running: its next statements plan anew
    print("analyze", out["analyze"], flush=True)
    again = ("ids", "query", "scan", "agent query", "agent query, listed", "agent query, unlisted")
    again += ("agent query, Chroma's filter only",)
    again += ("agent ids", "agent ids, read with metadata")
    for name in (*again, "alternative ids (partition)"):
        out[f"{name}, analyzed"] = timed(calls[name], args)
        print(f"{name}, analyzed", out[f"{name}, analyzed"], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=2500)
    parser.add_argument("--facts", type=int, default=20)
    parser.add_argument("--batch", type=int, default=50, help="users per write")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="probe-chroma-"))
    port = free_port()
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    cmd = [exe, "run", "--path", str(root), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, server, 60)
        result = probe(port, root, args)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
        args.out.with_suffix(".md").write_text(markdown(result))
    print(text)


def markdown(r: dict[str, Any]) -> str:
    """The probe's timings as a table: before and after ``chroma-analyze``, side by side."""
    n = r["users"] * r["facts"]
    lines = [
        f"# A pooled store's catalog on a `chroma run` server: {r['users']:,} users x "
        f"{r['facts']} records ({n:,} pooled)",
        "",
        "`benchmarks/probe_chroma_catalog.py`; client-side p50 / p95 ms. *analyzed*: after "
        "`graphmem chroma-analyze` on the running server's directory "
        f"({r['analyze']['seconds']} s).",
        "",
        "| call | as Chroma leaves it | analyzed | ratio (p50) |",
        "|---|---|---|---:|",
    ]
    for name in (k for k in r if isinstance(r[k], dict) and "p50_ms" in r[k]):
        if name.endswith(", analyzed"):
            continue
        a, b = r[name], r.get(f"{name}, analyzed")
        after = f"{b['p50_ms']} / {b['p95_ms']}" if b else "–"
        ratio = f"{b['p50_ms'] / a['p50_ms']:.2f}" if b else "–"
        lines.append(f"| {name} | {a['p50_ms']} / {a['p95_ms']} | {after} | {ratio} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
