"""Scale benchmark: many small tenants and one big scope, on the embedded default and on
Neo4j + a ``chroma run`` server. Public API only (``Memory``, ``Config``), the offline
extractor, the default ONNX embedder; no LLM anywhere.

    python benchmarks/bench_scale.py --users 100 1000 10000 --big 1000 10000 100000 \
        --backend both --out benchmarks/results/scale.json
    python benchmarks/bench_scale.py --smoke --out /tmp/scale.json      # CI's small size

* **many tenants**: U users x ``--facts`` short first-person facts (``tenants.py``; user ``i``
  has the same facts at every U), one ``add_many`` per user, user ``i`` with ``agent_id``
  ``agent{i mod 10}`` (so an agent-only search spans U / 10 users). Measured: ingest facts/s
  (all users, first and last 10 %; per second of wall time and of the writer's CPU time), peak
  resident memory of the writer and of the reader, the reader's after its random-user
  searches, disk per fact, open time (a fresh ``Memory`` on the data dir to its first search
  answered, next to the same on an empty data dir), search p50 / p95 for a random user, an
  ``agent_id``-only search, ``get_all`` of one user; then the first search of up to 100 users
  by a new ``Memory`` (its caches empty).
* **one big scope**: ``--big`` facts of one user (``corpus.build_corpus``, as ``bench_core``
  writes them): ingest facts/s, search p50 / p95 with the ``hybrid`` and ``dense`` presets.

Each size runs in fresh processes (the writer, then the reader) on a fresh data dir, and on
``servers`` with a freshly started Neo4j (Bolt ``--bolt-port``, no HTTP) and ``chroma run``
(``--chroma-port``), on 127.0.0.1. A phase stops, recorded as stopped, after ``--time-limit``
seconds or when the process's resident memory passes ``--max-rss-gb`` (checked between calls;
a process that passes it inside a call is killed, and what it measured until then is kept).
Writes the JSON to ``--out`` after every size and a Markdown report next to it (``.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_core import ingest as ingest_documents
from bench_core import run_queries
from corpus import build_corpus, documents, queries_for
from scale_report import markdown, targets
from servers import MB, Servers, disk_bytes, status, watch
from tenants import AGENTS, agent_id, tenant, user_id

from graphmem import Config, GraphMemError, Memory
from graphmem.bench.common import console, machine, percentile, progress

GB = 1024 * MB
PROBE = "What is my favourite colour?"
#: users searched once each by a fresh ``Memory`` (every user, below this many)
FIRST_SEARCHES = 100
#: a timed call and the check of its result: (answer found, results of another scope)
Job = tuple[Callable[[], dict[str, Any]], Callable[[Any], tuple[bool, int]]]


# -- the measuring process -------------------------------------------------------------------
class Guard:
    """Tells a phase to stop: after ``limit`` seconds, or above ``max_rss`` resident bytes."""

    def __init__(self, limit: float | None, max_rss: float) -> None:
        self.limit, self.max_rss, self.start = limit, max_rss, time.perf_counter()

    def reason(self) -> str | None:
        if self.limit is not None and time.perf_counter() - self.start > self.limit:
            return "time limit"
        if status().get("VmRSS", 0) > self.max_rss:
            return "memory guard"
        return None


def guard(args: argparse.Namespace) -> Guard:
    return Guard(args.time_limit, args.max_rss_gb * GB)


def memory_mb() -> dict[str, float]:
    s = status()
    return {"rss_mb": round(s["VmRSS"] / MB, 1), "peak_rss_mb": round(s["VmHWM"] / MB, 1)}


def config(cfg: dict[str, Any], **update: Any) -> Config:
    return Config.load({**cfg, "extractor": "offline", **update})


def opened(cfg: Config, query: str, **scope: str) -> tuple[Memory, float]:
    """A fresh ``Memory`` and the seconds until its first search was answered."""
    t0 = time.perf_counter()
    mem = Memory(cfg)
    mem.search(query, limit=10, **scope)
    return mem, time.perf_counter() - t0


def warm(mem: Memory) -> None:
    """Load spaCy, ONNX and the stores outside the timed region, in a scope never read."""
    mem.add("Warm Up works at Nowhere Incorporated in Springfield.", user_id="__warmup__")
    mem.search("Where does Warm Up work?", user_id="__warmup__", limit=10)


def rate(users: list[tuple[float, int, float]], cpu: bool = False) -> float:
    """Facts per second of ``(seconds, facts, CPU seconds)`` per user: of wall time, or of
    the process's CPU time (all its threads), which other load on the machine barely moves."""
    seconds = sum(u[2] if cpu else u[0] for u in users)
    return round(sum(u[1] for u in users) / seconds, 2) if seconds else 0.0


def ingest_tenants(
    args: argparse.Namespace, state: dict[str, Any], save: Callable[[], None]
) -> None:
    mem = Memory(config(args.cfg))
    warm(mem)
    stop = guard(args)
    per_user: list[tuple[float, int, float]] = []
    events: Counter[str] = Counter()
    stopped = None
    with progress() as bar:
        task = bar.add_task(f"ingest {args.n} users", total=args.n)
        for i in range(args.n):
            texts = [f.text for f in tenant(i, args.facts, args.seed)]
            t0, c0 = time.perf_counter(), time.process_time()
            out = mem.add_many(texts, user_id=user_id(i), agent_id=agent_id(i))
            added = sum(r["event"] == "ADD" for r in out["results"])
            per_user.append((time.perf_counter() - t0, added, time.process_time() - c0))
            events.update(r["event"] for r in out["results"])
            bar.advance(task)
            if stopped := stop.reason():
                break
            if i % 100 == 99:
                state.update(ingest_summary(per_user, events, "unfinished", args.facts))
                save()
    state.update(ingest_summary(per_user, events, stopped, args.facts))
    state["after"] = memory_mb()
    save()
    mem.close()


def ingest_summary(
    per_user: list[tuple[float, int, float]], events: Counter[str], stopped: str | None, facts: int
) -> dict[str, Any]:
    """Rates of wall time and (``cpu_``) of CPU time: on a shared machine the wall-time rate
    follows the other load (a later decile can be twice as fast as an earlier one)."""
    tenth = max(1, len(per_user) // 10)
    deciles = [per_user[k * len(per_user) // 10 : (k + 1) * len(per_user) // 10] for k in range(10)]
    out = {
        "users_done": len(per_user),
        "facts_generated": len(per_user) * facts,
        "facts_stored": sum(u[1] for u in per_user),
        "events": dict(events),
        "ingest_s": round(sum(u[0] for u in per_user), 2),
        "cpu_s": round(sum(u[2] for u in per_user), 2),
    }
    for pre, cpu in (("", False), ("cpu_", True)):
        first, last = rate(per_user[:tenth], cpu), rate(per_user[-tenth:], cpu)
        out |= {
            f"{pre}facts_per_s": rate(per_user, cpu),
            f"{pre}facts_per_s_first_10pct": first,
            f"{pre}facts_per_s_last_10pct": last,
            f"{pre}last_over_first": round(last / first, 3) if first else None,
            f"{pre}facts_per_s_by_decile": [rate(d, cpu) for d in deciles if d],
        }
    return out | {"stopped": stopped}


def timed(
    label: str,
    jobs: list[Job],
    stop: Guard,
) -> dict[str, Any]:
    """Run each job (call, check) timing the call only; ``check`` gives (answer found, number
    of results from another scope). A call that raises a ``GraphMemError`` is counted as
    failed (not timed) and the phase goes on."""
    ms: list[float] = []
    hits = leaks = 0
    stopped, failures = None, Counter[str]()
    with progress() as bar:
        task = bar.add_task(label, total=len(jobs))
        for call, check in jobs:
            t0 = time.perf_counter()
            try:
                res = call()
            except GraphMemError as e:
                failures[f"{type(e).__name__}: {e}"[:300]] += 1
            else:
                ms.append((time.perf_counter() - t0) * 1000)
                hit, leak = check(res)
                hits, leaks = hits + hit, leaks + leak
            bar.advance(task)
            if stopped := stop.reason():
                break
    if not ms:  # every call failed or none ran
        ms_stats: dict[str, float | None] = dict.fromkeys(("p50_ms", "p95_ms", "mean_ms", "max_ms"))
    else:
        ms_stats = {
            "p50_ms": round(percentile(ms, 0.5), 2),
            "p95_ms": round(percentile(ms, 0.95), 2),
            "mean_ms": round(sum(ms) / len(ms), 2),
            "max_ms": round(max(ms), 2),
        }
    return {
        **ms_stats,
        "n": len(ms),
        "answer_found": round(hits / len(ms), 3) if ms else 0.0,
        "other_scope_results": leaks,
        "failed_calls": sum(failures.values()),
        "failures": dict(failures),
        "stopped": stopped,
    }


def found(answer: str, key: str, value: str, top: int = 5) -> Callable[[Any], tuple[bool, int]]:
    """The check of a search: the answer in one of the ``top`` first memories; results whose
    ``key`` is not ``value`` (another tenant's)."""

    def check(res: dict[str, Any]) -> tuple[bool, int]:
        rs = res["results"]
        hit = any(answer.lower() in r["memory"].lower() for r in rs[:top])
        return hit, sum(r.get(key) != value for r in rs)

    return check


def read_tenants(args: argparse.Namespace, state: dict[str, Any], save: Callable[[], None]) -> None:
    users, rng = args.n, random.Random(args.seed)
    empty = tempfile.mkdtemp(prefix="graphmem-scale-empty-")
    try:  # first untimed (imports), then timed: what opening costs without data
        probe_cfg = config(args.cfg, data_dir=empty, collection="probe")
        for _ in range(2):
            probe, empty_s = opened(probe_cfg, PROBE, user_id="__nobody__")
            probe.close()
    finally:
        shutil.rmtree(empty, ignore_errors=True)
    mem, open_s = opened(config(args.cfg), PROBE, user_id=user_id(rng.randrange(users)))
    state.update(open_s=round(open_s, 3), open_empty_s=round(empty_s, 3))
    state["after_open"] = memory_mb()
    save()

    def user_job(i: int) -> Job:
        fact = rng.choice(tenant(i, args.facts, args.seed))
        u = user_id(i)
        return (lambda: mem.search(fact.question, user_id=u, limit=10)), found(
            fact.answer, "user_id", u
        )

    for _ in range(args.warmup):
        user_job(rng.randrange(users))[0]()
    jobs = [user_job(rng.randrange(users)) for _ in range(args.searches)]
    state["search"] = timed("random-user searches", jobs, guard(args))
    state["after_searches"] = memory_mb()
    save()

    def agent_job(i: int) -> Job:
        fact, a = rng.choice(tenant(i, args.facts, args.seed)), agent_id(i)
        q = f"Who mentioned {fact.answer}?"
        return (lambda: mem.search(q, agent_id=a, limit=10)), found(fact.answer, "agent_id", a, 10)

    jobs = [agent_job(rng.randrange(users)) for _ in range(args.agent_searches)]
    state["agent_search"] = timed("agent-only searches", jobs, guard(args))
    save()

    def all_job(i: int) -> Job:
        u, n = user_id(i), args.facts

        def check(res: dict[str, Any]) -> tuple[bool, int]:
            rs = res["results"]
            return len(rs) >= n * 0.9, sum(r.get("user_id") != u for r in rs)

        return (lambda: mem.get_all(user_id=u, limit=100)), check

    jobs = [all_job(rng.randrange(users)) for _ in range(args.get_all)]
    state["get_all"] = timed("get_all of one user", jobs, guard(args))
    state["end"] = memory_mb()
    save()
    mem.close()
    # the first search of a scope in a process: every cache of this Memory is empty (Chroma's
    # indexes and the OS's file cache are not), as for nearly every search at 10,000 users
    mem = Memory(config(args.cfg))
    mem.search(PROBE, user_id="__nobody__", limit=10)  # loads what any search needs
    firsts = rng.sample(range(users), min(FIRST_SEARCHES, users))
    state["first_search"] = timed("first searches", [user_job(i) for i in firsts], guard(args))
    save()
    mem.close()


def big_scope(args: argparse.Namespace, state: dict[str, Any], save: Callable[[], None]) -> None:
    corpora = build_corpus(args.n, seed=args.seed, users=["big"])
    docs = documents(corpora, args.per_add)
    qs = queries_for(corpora, args.big_queries + args.warmup, seed=args.seed)
    mem = Memory(config(args.cfg))
    warm(mem)
    ing = ingest_documents(mem, docs, f"ingest {args.n} facts", args.time_limit, args.many)
    stored = ing["events"].get("ADD", 0)
    state["ingest"] = {
        "facts_generated": ing["sentences"],
        "facts_stored": stored,
        "events": ing["events"],
        "ingest_s": round(ing["seconds"], 2),
        "facts_per_s": round(stored / ing["seconds"], 2) if ing["seconds"] else 0.0,
        "stopped": None if ing["complete"] else "time limit",
        "after": memory_mb(),
    }
    save()
    runs = {"hybrid": (mem, "hybrid"), "dense": (mem, "dense")}
    state["search"] = run_queries(runs, qs, args.warmup, f"queries {args.n} facts")
    state["end"] = memory_mb()
    save()
    mem.close()


CHILDREN = {"ingest": ingest_tenants, "read": read_tenants, "big": big_scope}


def child(args: argparse.Namespace) -> None:
    state: dict[str, Any] = {"load_before": machine()["load"]}

    def save() -> None:
        state["load_after"] = machine()["load"]
        args.state.write_text(json.dumps(state, indent=2))

    CHILDREN[args.child](args, state, save)
    save()


# -- the orchestrating process -----------------------------------------------------------------
PASSED = ("facts", "searches", "agent_searches", "get_all", "big_queries", "warmup", "seed")
PASSED += ("per_add", "many", "time_limit", "max_rss_gb")


def run_child(
    args: argparse.Namespace, mode: str, n: int, cfg: dict[str, Any], servers: Servers | None
) -> dict[str, Any]:
    """Run one measuring process, watching its resident memory (and the servers'): killed above
    the memory guard (plus a margin for what it checks between calls) or far past its time."""
    state_file = Path(cfg["data_dir"]).parent / f"{mode}-{n}.json"
    state_file.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--child", mode, "--n", str(n)]
    cmd += ["--cfg", json.dumps(cfg), "--state", str(state_file)]
    for name in PASSED:
        value = getattr(args, name)
        if value is not None:
            cmd += [f"--{name.replace('_', '-')}", str(value)]
    hard_rss = args.max_rss_gb * GB + GB
    hard_s = None if args.time_limit is None else 4 * args.time_limit + 600
    watched = watch(subprocess.Popen(cmd, env=os.environ), servers, hard_rss, hard_s)
    state: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}
    return state | watched


@contextmanager
def backend(
    args: argparse.Namespace, name: str, tag: str
) -> Iterator[tuple[dict[str, Any], Servers | None]]:
    """A fresh data dir (and on ``servers`` freshly started servers) for one size."""
    if args.data_dir is not None:
        args.data_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"graphmem-scale-{name}-{tag}-", dir=args.data_dir))
    servers = None
    cfg: dict[str, Any] = {"data_dir": str(root / "data")}
    try:
        if name == "servers":
            servers = Servers(root, args.neo4j_home, args.bolt_port, args.chroma_port)
            servers.start()
            cfg |= servers.config()
        yield cfg, servers
    finally:
        if servers is not None:
            servers.stop()
        if args.keep:
            console.print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def tenants_size(args: argparse.Namespace, name: str, users: int) -> dict[str, Any]:
    console.rule(f"{name}: {users} users x {args.facts} facts")
    with backend(args, name, f"u{users}") as (cfg, servers):
        out = {"ingest": run_child(args, "ingest", users, cfg, servers)}
        ing = out["ingest"]
        disk = {"data_dir": disk_bytes(Path(cfg["data_dir"]))}
        disk |= servers.disk() if servers else {}
        out["disk_bytes"] = disk
        stored = ing.get("facts_stored", 0)
        out["disk_per_fact_bytes"] = round(sum(disk.values()) / stored) if stored else None
        if ing.get("users_done") and not out["ingest"].get("error"):
            if servers is not None:  # the deployment guide's step, once the data is there
                out["chroma_analyze"] = servers.analyze()
            out["read"] = run_child(args, "read", ing["users_done"], cfg, servers)
    return out


def big_size(args: argparse.Namespace, name: str, facts: int) -> dict[str, Any]:
    console.rule(f"{name}: one scope of {facts} facts")
    with backend(args, name, f"b{facts}") as (cfg, servers):
        return run_child(args, "big", facts, cfg, servers)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--users", type=int, nargs="*", default=[100, 1000, 10000])
    ap.add_argument("--facts", type=int, default=20, help="facts per user")
    ap.add_argument(
        "--big",
        type=int,
        nargs="*",
        default=[1000, 10000, 100000],
        help="facts of the one big scope",
    )
    ap.add_argument("--backend", choices=["embedded", "servers", "both"], default="embedded")
    ap.add_argument("--searches", type=int, default=1000, help="random-user searches")
    ap.add_argument("--agent-searches", type=int, default=100, help="agent_id-only searches")
    ap.add_argument("--get-all", type=int, default=200, help="get_all calls of one user")
    ap.add_argument("--big-queries", type=int, default=200, help="searches per preset, big scope")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--per-add", type=int, default=10, help="big scope: sentences per document")
    ap.add_argument("--many", type=int, default=64, help="big scope: documents per add_many")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--time-limit",
        type=float,
        default=5400.0,
        help="seconds per phase (ingest, each kind of read) before it stops",
    )
    ap.add_argument(
        "--max-rss-gb",
        type=float,
        default=20.0,
        help="a phase stops when the process's resident memory passes this",
    )
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="CI's size: 20 users x 5 facts, a 200-fact scope, embedded, few queries",
    )
    ap.add_argument("--data-dir", type=Path, default=None, help="parent of the fresh data dirs")
    ap.add_argument("--keep", action="store_true", help="keep the data dirs")
    ap.add_argument(
        "--neo4j-home", type=Path, default=Path.home() / ".cache" / "graphmem" / "neo4j-bench"
    )
    ap.add_argument("--bolt-port", type=int, default=7690)
    ap.add_argument("--chroma-port", type=int, default=8790)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.json"))
    ap.add_argument("--markdown-only", action="store_true", help="re-render --out as Markdown")
    # the measuring process
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--cfg", type=json.loads, help=argparse.SUPPRESS)
    ap.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.smoke:
        args.users, args.facts, args.big, args.backend = [20], 5, [200], "embedded"
        args.searches, args.agent_searches, args.get_all = 50, 10, 20
        args.big_queries, args.warmup = 20, 2
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.child:
        child(args)
        return
    if args.markdown_only:
        args.out.with_suffix(".md").write_text(markdown(json.loads(args.out.read_text())))
        return
    names = ["embedded", "servers"] if args.backend == "both" else [args.backend]
    report: dict[str, Any] = {
        "machine": machine(),
        "params": {
            "users": args.users,
            "facts_per_user": args.facts,
            "agents": AGENTS,
            "agent_assignment": "user i -> agent (i mod 10): an agent-only search spans U/10 users",
            "big": args.big,
            "searches": args.searches,
            "agent_searches": args.agent_searches,
            "get_all": args.get_all,
            "big_queries": args.big_queries,
            "warmup": args.warmup,
            "limit": 10,
            "per_add": args.per_add,
            "many": args.many,
            "seed": args.seed,
            "time_limit_s": args.time_limit,
            "max_rss_gb": args.max_rss_gb,
            "extractor": "offline",
            "embed_model": Config.load().embed_model,
            "smoke": args.smoke,
        },
        "backends": {},
    }

    def write() -> None:
        report["targets"] = {name: targets(b) for name, b in report["backends"].items()}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    for name in names:
        result: dict[str, Any] = {"tenants": {}, "big": {}}
        report["backends"][name] = result
        for users in args.users:
            result["tenants"][str(users)] = tenants_size(args, name, users)
            write()
        for facts in args.big:
            result["big"][str(facts)] = big_size(args, name, facts)
            write()
    report["machine_end"] = machine()
    write()
    md = markdown(report)
    args.out.with_suffix(".md").write_text(md)
    console.print(md)
    errors = [json.dumps(e) for e in errors_of(report)]
    if errors:
        raise SystemExit("measuring processes failed: " + "; ".join(errors))


def errors_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, b in report["backends"].items():
        for kind in ("tenants", "big"):
            for size, r in b[kind].items():
                for part in (r, r.get("ingest", {}), r.get("read", {})):
                    if "error" in part:
                        out.append({"backend": name, kind: size, "error": part["error"]})
    return out


if __name__ == "__main__":
    main()
