"""Server benchmark: N concurrent HTTP clients mixing add and search against a live
``graphmem serve`` (embedded data dir, offline extractor, the default ONNX embedder).

    python benchmarks/bench_server.py --clients 16 64 --seconds 30 \
        --out benchmarks/results/server.json
    python benchmarks/bench_server.py --smoke --out /tmp/server.json     # CI's small size

* a fresh data dir and keys file: one API key per user (``user0``…), every client uses its
  own user's key; the server is started as ``graphmem serve --keys …`` on a free 127.0.0.1
  port and seeded with ``--seed-facts`` facts per user (``tenants.py``);
* for each ``--clients`` N: N async httpx clients, each for ``--seconds``: ``POST /memories``
  (a new fact of its user) with probability ``--add-share``, else ``POST /search`` (a question
  about one of its user's facts). Measured per route: requests/s, p50 / p95 / p99; errors
  (any status but 200, any transport error) must be 0;
* afterwards every acknowledged add is looked for with ``GET /memories`` of its user
  (``include_invalid``: a memory superseded by a later add is kept, not lost): ``lost`` must
  be 0;
* the protocol overhead: the same ``--probes`` searches one at a time through the server,
  then in this process with ``Memory`` on the same data dir once the server stopped; their
  p50 and the ratio.

Writes the JSON to ``--out`` and a Markdown report next to it (``.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from servers import MB, status, wait_port
from tenants import TEMPLATES, tenant, user_id

from graphmem import Config, Memory
from graphmem.bench.common import console, machine, percentile
from graphmem.server.auth import add_key

ROUTES = ("add", "search")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def config(data: Path) -> dict[str, Any]:
    return {"data_dir": data, "extractor": "offline"}


@contextmanager
def server(data: Path, keys: Path, threads: int, log: Path) -> Any:
    """``graphmem serve`` on a free port: (its URL, its process); stopped afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHMEM_")}
    env |= {"GRAPHMEM_EXTRACTOR": "offline"}
    cmd = [sys.executable, "-m", "graphmem.cli", "serve", "--port", str(port)]
    cmd += ["--data-dir", str(data), "--keys", str(keys), "--threads", str(threads)]
    with log.open("wb") as out:
        proc = subprocess.Popen([*cmd, "--log-level", "warning"], env=env, stdout=out, stderr=out)
        try:
            wait_port(port, proc, 180)
            url = f"http://127.0.0.1:{port}"
            while httpx.get(url + "/health", timeout=60).status_code != 200:
                time.sleep(0.2)
            yield url, proc
        finally:
            proc.terminate()
            proc.wait(timeout=120)


class Tally:
    """Latencies and errors per route, and the acknowledged adds per user."""

    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.samples: list[str] = []
        self.acked: dict[str, set[str]] = defaultdict(set)

    def report(self, seconds: float) -> dict[str, Any]:
        routes = {}
        for route in ROUTES:
            ms = self.ms[route]
            routes[route] = {
                "requests": len(ms),
                "rps": round(len(ms) / seconds, 2),
                "p50_ms": round(percentile(ms, 0.5), 2),
                "p95_ms": round(percentile(ms, 0.95), 2),
                "p99_ms": round(percentile(ms, 0.99), 2),
                "errors": self.errors[route],
            }
        total = sum(len(v) for v in self.ms.values())
        return {
            "seconds": round(seconds, 2),
            "requests": total,
            "rps": round(total / seconds, 2),
            "errors": sum(self.errors.values()),
            "error_samples": self.samples[:5],
            "routes": routes,
        }


async def call(
    http: httpx.AsyncClient, tally: Tally, route: str, body: dict[str, Any]
) -> dict[str, Any] | None:
    path = "/memories" if route == "add" else "/search"
    start = time.perf_counter()
    try:
        response = await http.post(path, json=body)
    except httpx.HTTPError as e:
        tally.errors[route] += 1
        tally.samples.append(f"{route}: {type(e).__name__}: {e}")
        return None
    tally.ms[route].append((time.perf_counter() - start) * 1000)
    if response.status_code != 200:
        tally.errors[route] += 1
        tally.samples.append(f"{route}: {response.status_code} {response.text[:200]}")
        return None
    out: dict[str, Any] = response.json()
    return out


async def client(
    url: str, key: str, user: int, args: argparse.Namespace, deadline: float, tally: Tally
) -> None:
    rng = random.Random(f"client:{args.seed}:{user}:{deadline}")
    questions = [f.question for f in tenant(user, args.seed_facts, args.seed)]
    headers = {"Authorization": f"Bearer {key}"}
    round_ = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300) as http:
        while time.monotonic() < deadline:
            if rng.random() < args.add_share:
                round_ += 1
                facts = tenant(user, len(TEMPLATES), seed=hash((args.seed, deadline, round_)))
                out = await call(http, tally, "add", {"messages": rng.choice(facts).text})
                if out is not None:
                    tally.acked[user_id(user)].update(r["id"] for r in out["results"])
            else:
                body = {"query": rng.choice(questions), "top_k": 5}
                await call(http, tally, "search", body)


async def level(url: str, keys: list[str], n: int, args: argparse.Namespace) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + args.seconds
    await asyncio.gather(*(client(url, keys[i], i, args, deadline, tally) for i in range(n)))
    return tally


async def seed(url: str, keys: list[str], args: argparse.Namespace) -> None:
    async def one(i: int) -> None:
        headers = {"Authorization": f"Bearer {keys[i]}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300) as http:
            for fact in tenant(i, args.seed_facts, args.seed):
                response = await http.post("/memories", json={"messages": fact.text})
                response.raise_for_status()

    await asyncio.gather(*(one(i) for i in range(len(keys))))


async def lost(url: str, keys: list[str], acked: dict[str, set[str]]) -> int:
    missing = 0
    for i, key in enumerate(keys):
        headers = {"Authorization": f"Bearer {key}"}
        params = {"limit": 100_000, "include_invalid": "true"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300) as http:
            response = await http.get("/memories", params=params)
            response.raise_for_status()
            stored = {r["id"] for r in response.json()["results"]}
        missing += len(acked.get(user_id(i), set()) - stored)
    return missing


def probes(args: argparse.Namespace) -> list[tuple[int, str]]:
    rng = random.Random(f"probes:{args.seed}")
    users = max(args.clients)
    return [
        (u, rng.choice(tenant(u, args.seed_facts, args.seed)).question)
        for u in (rng.randrange(users) for _ in range(args.probes))
    ]


def server_probes(url: str, keys: list[str], queries: list[tuple[int, str]]) -> list[float]:
    ms = []
    with httpx.Client(base_url=url, timeout=300) as http:
        for user, query in queries:
            headers = {"Authorization": f"Bearer {keys[user]}"}
            start = time.perf_counter()
            response = http.post("/search", json={"query": query, "top_k": 5}, headers=headers)
            ms.append((time.perf_counter() - start) * 1000)
            response.raise_for_status()
    return ms


def in_process_probes(data: Path, queries: list[tuple[int, str]]) -> list[float]:
    ms = []
    with Memory(Config.load(config(data))) as m:
        m.search("warm up", user_id=user_id(0))
        for user, query in queries:
            start = time.perf_counter()
            m.search(query, user_id=user_id(user), top_k=5)
            ms.append((time.perf_counter() - start) * 1000)
    return ms


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    users = max(args.clients)
    keys_file = work / "keys.json"
    keys = [add_key(keys_file, user_id(i), user_id=user_id(i)) for i in range(users)]
    data = work / "data"
    queries = probes(args)
    params = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    report: dict[str, Any] = {"params": params, "levels": {}}
    report["machine"] = machine()
    acked: dict[str, set[str]] = defaultdict(set)
    with server(data, keys_file, args.threads, work / "server.log") as (url, proc):
        console.print(f"server at {url}: seeding {users} users x {args.seed_facts} facts")
        asyncio.run(seed(url, keys, args))
        for n in args.clients:
            console.print(f"{n} clients for {args.seconds} s")
            tally = asyncio.run(level(url, keys, n, args))
            report["levels"][str(n)] = tally.report(args.seconds)
            for user, ids in tally.acked.items():
                acked[user] |= ids
            console.print(json.dumps(report["levels"][str(n)]["routes"]))
        report["acknowledged_adds"] = sum(len(v) for v in acked.values())
        report["lost"] = asyncio.run(lost(url, keys, acked))
        server_ms = server_probes(url, keys, queries)
        report["server_peak_rss_mb"] = round(status(proc.pid).get("VmHWM", 0) / MB, 1)
    local_ms = in_process_probes(data, queries)
    server_p50, local_p50 = percentile(server_ms, 0.5), percentile(local_ms, 0.5)
    report["overhead"] = {
        "probes": len(queries),
        "server_search_p50_ms": round(server_p50, 2),
        "in_process_search_p50_ms": round(local_p50, 2),
        "ratio": round(server_p50 / local_p50, 2) if local_p50 else None,
    }
    return report


def markdown(report: dict[str, Any]) -> str:
    p = report["params"]
    lines = [
        "# Server benchmark",
        "",
        f"`graphmem serve` (embedded, offline extractor), {p['seconds']} s per level, "
        f"{p['add_share']:.0%} adds, {p['threads']} worker threads; "
        f"{report['machine']['cores']} cores.",
        "",
        "| clients | req/s | errors | add req/s | add p50 / p95 / p99 ms "
        "| search req/s | search p50 / p95 / p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, lv in report["levels"].items():
        a, s = lv["routes"]["add"], lv["routes"]["search"]
        lines.append(
            f"| {n} | {lv['rps']} | {lv['errors']} | {a['rps']} | "
            f"{a['p50_ms']} / {a['p95_ms']} / {a['p99_ms']} | {s['rps']} | "
            f"{s['p50_ms']} / {s['p95_ms']} / {s['p99_ms']} |"
        )
    o = report["overhead"]
    lines += [
        "",
        f"Acknowledged adds: {report['acknowledged_adds']}, lost: {report['lost']}. "
        f"Server peak RSS: {report['server_peak_rss_mb']} MB.",
        "",
        f"Protocol overhead ({o['probes']} searches one at a time): server p50 "
        f"{o['server_search_p50_ms']} ms, in process {o['in_process_search_p50_ms']} ms "
        f"(x{o['ratio']}).",
        "",
    ]
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--seconds", type=float, default=30.0, help="per concurrency level")
    ap.add_argument("--add-share", type=float, default=0.2, help="share of requests that add")
    ap.add_argument("--seed-facts", type=int, default=5, help="facts per user before the run")
    ap.add_argument("--probes", type=int, default=200, help="searches for the overhead ratio")
    ap.add_argument("--threads", type=int, default=8, help="the server's worker threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="CI's size: 2 and 4 clients, 2 s")
    ap.add_argument("--data-dir", type=Path, default=None, help="parent of the fresh data dir")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/server.json"))
    args = ap.parse_args(argv)
    if args.smoke:
        args.clients, args.seconds, args.seed_facts, args.probes = [2, 4], 2.0, 3, 10
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-server-", dir=args.data_dir))
    try:
        report = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    console.print(markdown(report))
    if report["lost"] or any(lv["errors"] for lv in report["levels"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
