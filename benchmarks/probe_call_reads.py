"""What keeping a search's reads (``graphmem/stores/call_reads.py``) saves on servers.

Starts Neo4j and a ``chroma run`` (``servers.py``, fresh stores), writes ``--users`` users x
20 facts (``tenants.py``, one ``add_many`` each), then, in a new ``Memory``, searches each
user once, alternately with the reads kept (as ``Memory.search`` does) and without (each
step asks the server again), and then ``--agent-searches`` ``agent_id``-only searches the
same way; counts the requests to Chroma and checks that both ways give the same results.

    python benchmarks/probe_call_reads.py --users 300 --out benchmarks/results/call_reads.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from servers import Servers
from tenants import agent_id, tenant, user_id

from graphmem import Config, Memory
from graphmem import memory as memory_module
from graphmem.stores.chroma import ChromaVectorStore

KEPT = memory_module.kept_reads


def counting(store: ChromaVectorStore, counts: list[int]) -> None:
    """Count the store's requests to Chroma in ``counts[0]``."""
    call = store._call

    def counted(*args: Any, **kwargs: Any) -> Any:
        counts[0] += 1
        return call(*args, **kwargs)

    store._call = counted  # type: ignore[method-assign]


def run(mem: Memory, jobs: list[dict[str, str]], queries: list[str]) -> dict[str, Any]:
    """Each job searched once, kept and not kept alternately; then again the other way, to
    compare the results."""
    counts = [0]
    for store in (mem.parts.vectors, mem.parts.source_vectors):
        assert isinstance(store, ChromaVectorStore)
        counting(store, counts)
    ms: dict[str, list[float]] = {"kept": [], "not kept": []}
    asked: dict[str, list[int]] = {"kept": [], "not kept": []}
    same = 0
    for n, (scope, query) in enumerate(zip(jobs, queries, strict=True)):
        ways = ("kept", "not kept") if n % 2 == 0 else ("not kept", "kept")
        results = []
        for way in ways:
            memory_module.kept_reads = KEPT if way == "kept" else contextlib.nullcontext  # type: ignore[assignment]
            counts[0] = 0
            t0 = time.perf_counter()
            res = mem.search(query, limit=10, **scope)
            if way == ways[0]:  # the first search of this scope is the one timed
                ms[way].append((time.perf_counter() - t0) * 1000)
                asked[way].append(counts[0])
            results.append([r["id"] for r in res["results"]])
        same += results[0] == results[1]
    memory_module.kept_reads = KEPT
    out: dict[str, Any] = {"searches": len(jobs), "same_results": same}
    for way in ms:
        out[way] = {
            "p50_ms": round(statistics.median(ms[way]), 2),
            "mean_ms": round(statistics.fmean(ms[way]), 2),
            "chroma_requests_p50": statistics.median(asked[way]),
            "n": len(ms[way]),
        }
    out["ratio_p50"] = round(out["kept"]["p50_ms"] / out["not kept"]["p50_ms"], 3)
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Reads kept for one search, on Neo4j + `chroma run`",
        "",
        f"{result['users']} users x 20 facts; each scope searched first kept or not kept,"
        " alternately (the other way second, for the comparison of results).",
        "",
        "| searches | way | p50 ms | mean ms | Chroma requests (p50) | n |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name in ("user", "agent_id only"):
        r = result[name]
        for way in ("kept", "not kept"):
            w = r[way]
            row = f"| {name} | {way} | {w['p50_ms']} | {w['mean_ms']} |"
            lines.append(f"{row} {w['chroma_requests_p50']} | {w['n']} |")
    lines += [""] + [
        f"{name}: kept / not kept p50 {result[name]['ratio_p50']}, same results"
        f" {result[name]['same_results']} of {result[name]['searches']}."
        for name in ("user", "agent_id only")
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--agent-searches", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--neo4j-home", type=Path, default=Path.home() / ".cache/graphmem/neo4j-bench")
    ap.add_argument("--bolt-port", type=int, default=7690)
    ap.add_argument("--chroma-port", type=int, default=8790)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="graphmem-call-reads-"))
    servers = Servers(root, args.neo4j_home, args.bolt_port, args.chroma_port)
    servers.start()
    try:
        cfg = Config.load({"data_dir": root / "data", "extractor": "offline", **servers.config()})
        with Memory(cfg) as mem:
            for i in range(args.users):
                texts = [f.text for f in tenant(i, 20, args.seed)]
                mem.add_many(texts, user_id=user_id(i), agent_id=agent_id(i))
        result: dict[str, Any] = {"users": args.users}
        with Memory(cfg) as mem:
            mem.search("What is my favourite colour?", user_id="__nobody__", limit=10)
            users = rng.sample(range(args.users), args.users)
            jobs = [{"user_id": user_id(i)} for i in users]
            queries = [rng.choice(tenant(i, 20, args.seed)).question for i in users]
            result["user"] = run(mem, jobs, queries)
            picked = [rng.randrange(args.users) for _ in range(args.agent_searches)]
            jobs = [{"agent_id": agent_id(i)} for i in picked]
            facts = [rng.choice(tenant(i, 20, args.seed)) for i in picked]
            queries = [f"Who mentioned {f.answer}?" for f in facts]
            result["agent_id only"] = run(mem, jobs, queries)
    finally:
        servers.stop()
        shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
        args.out.with_suffix(".md").write_text(markdown(result))


if __name__ == "__main__":
    main()
