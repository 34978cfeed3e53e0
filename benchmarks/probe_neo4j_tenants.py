"""Does a big tenant slow a small one on Neo4j? (needs ``bash scripts/neo4j.sh start``)

Writes ``--tenants`` small tenants (users with ``--tenant-facts`` facts each, plus one tenant
by agent_id alone and one by run_id alone), measures the search path's store calls for small
tenants, then writes one big tenant (``--big-facts`` facts of one user with a shared agent,
through the store's write path, 500 facts a write) and measures again:

* latency of each search-path store call (``find_entities``, ``neighbourhood``, keyword
  search, ...), p50/p95 over ``--rounds`` calls each for random small tenants, client side;
* db hits of each statement those calls run for one small tenant of each shape, from
  ``PROFILE`` (deterministic; the plans cached before the big tenant was written are reused,
  ``replan=skip``), and whether a plan made afresh afterwards scans.

The tenants' graph and the recording/PROFILE machinery are those of the plan test
(``tests/neo4j_plans.py``). The store is reset first: run it on a server of its own.

    python benchmarks/probe_neo4j_tenants.py --big-facts 50000 --tenants 1000 \\
        --out benchmarks/results/neo4j_tenants.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import neo4j_plans as plans

from graphmem.models import Scope
from graphmem.stores.neo4j_store import Neo4jGraphStore

BIG = Scope(user_id="big", agent_id="helper")
SHAPES = {
    "user": Scope(user_id="user0"),
    "agent": Scope(agent_id="solo-agent"),
    "run": Scope(run_id="solo-run"),
    "user+agent": Scope(user_id="helped", agent_id="helper"),  # BIG's agent
}


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def latencies(store: Neo4jGraphStore, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """p50/p95 ms of each search call, for random small users (same sequence every phase)."""
    rng = random.Random(7)
    times: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        scope = Scope(user_id=f"user{rng.randrange(args.tenants)}")
        for name, call in plans.search_calls(scope, args.tenant_facts):
            started = time.perf_counter()
            call(store)
            times.setdefault(name, []).append((time.perf_counter() - started) * 1000)
    return {n: {"p50": statistics.median(t), "p95": percentile(t, 0.95)} for n, t in times.items()}


def db_hits(store: Neo4jGraphStore, drv: Any, replan: str) -> dict[str, dict[str, Any]]:
    out = {}
    for shape, scope in SHAPES.items():
        ran = plans.record(store, scope, 10, plans.search_calls)
        found = plans.profile(drv, ran, replan)
        out[shape] = {
            "db_hits": [[p.name, p.db_hits] for p in found],
            "scans": [f"{p.name}: {s}" for p in found for s in p.scans()],
        }
    return out


def phase(store: Neo4jGraphStore, drv: Any, args: argparse.Namespace) -> dict[str, Any]:
    for _ in range(2):  # warm the plan cache and the page cache
        latencies(store, argparse.Namespace(**{**vars(args), "rounds": 20}))
    return {
        "latency_ms": latencies(store, args),
        "plans": db_hits(store, drv, "skip"),
        "fresh_plans": db_hits(store, drv, "force"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--big-facts", type=int, default=50_000)
    ap.add_argument("--tenants", type=int, default=1_000)
    ap.add_argument("--tenant-facts", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/neo4j_tenants.json"))
    args = ap.parse_args()
    store = Neo4jGraphStore(**plans.store_args())
    store.setup()
    store.reset()
    drv = plans.driver()
    started = time.perf_counter()
    for i in range(args.tenants):
        plans.write_tenant(store, Scope(user_id=f"user{i}"), args.tenant_facts)
    for scope in list(SHAPES.values())[1:]:
        plans.write_tenant(store, scope, args.tenant_facts)
    small_s = time.perf_counter() - started
    print(f"{args.tenants} small tenants written in {small_s:.1f} s", flush=True)
    without = phase(store, drv, args)
    started = time.perf_counter()
    plans.write_tenant(store, BIG, args.big_facts)
    big_s = time.perf_counter() - started
    print(f"big tenant ({args.big_facts} facts) written in {big_s:.1f} s", flush=True)
    with_big = phase(store, drv, args)
    result = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "write_s": {"small_tenants": small_s, "big_tenant": big_s},
        "big_tenant": store.describe(BIG),
        "without_big": without,
        "with_big": with_big,
    }
    drv.close()
    store.reset()
    store.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


def markdown(r: dict[str, Any]) -> str:
    a, w, b = r["args"], r["without_big"], r["with_big"]
    lines = [
        f"# A big tenant next to small ones (Neo4j): {a['tenants']} users × "
        f"{a['tenant_facts']} facts, then one user × {a['big_facts']} facts",
        "",
        "Search-path store calls for a random small user, client-side ms over "
        f"{a['rounds']} calls each (`benchmarks/probe_neo4j_tenants.py`).",
        "",
        "| call | p50 without | p50 with big | p95 without | p95 with big |",
        "|---|---|---|---|---|",
    ]
    for name, x in w["latency_ms"].items():
        y = b["latency_ms"][name]
        lines.append(
            f"| {name} | {x['p50']:.2f} | {y['p50']:.2f} | {x['p95']:.2f} | {y['p95']:.2f} |"
        )
    lines += ["", "db hits (PROFILE, same plans) of each statement, per small tenant's scope:", ""]
    lines += ["| scope | statement | without big | with big |", "|---|---|---|---|"]
    for shape, x in w["plans"].items():
        after = b["plans"][shape]["db_hits"]
        for (name, hits), (_, hits2) in zip(x["db_hits"], after):
            lines.append(f"| {shape} | {name} | {hits} | {hits2} |")
    scans = [s for p in (w, b) for v in p["fresh_plans"].values() for s in v["scans"]]
    lines += ["", f"Plans made afresh that scan: {scans or 'none'}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
