"""Write- and read-path benchmark of the embedded default stack.

Chroma PersistentClient + NetworkX/SQLite graph + the default ONNX embedder + the spaCy
offline extractor; no LLM anywhere. Only the public API (``Memory``, ``Config``) is used.

    python benchmarks/bench_core.py --sizes 1000 10000 --queries 200 \
        --out benchmarks/results/core.json

Writes the JSON to ``--out`` and a Markdown table next to it (same stem, ``.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from corpus import USERS, build_corpus, documents, queries_for

from graphmem import Config, Memory
from graphmem.bench.common import console, progress


# -- measurement --------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cores": os.cpu_count(), "load": [round(x, 2) for x in load]}


@contextmanager
def memory(data_dir: Path | None, tag: str, keep: bool) -> Iterator[tuple[Memory, Config]]:
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"graphmem-bench-{tag}-", dir=data_dir))
    config = Config.load({"data_dir": root, "extractor": "offline"})
    if config.extractor != "offline":
        raise SystemExit("benchmark must run with the offline extractor (no LLM)")
    mem = Memory(config)
    try:
        # load spaCy, ONNX and Chroma outside the timed region, in a scope we never count
        mem.add("Warm Up works at Nowhere Incorporated in Springfield.", user_id="__warmup__")
        mem.search("Where does Warm Up work?", user_id="__warmup__", limit=10, config="hybrid")
        yield mem, config
    finally:
        mem.close()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def stored_facts(mem: Memory, users: list[str]) -> tuple[int, int]:
    valid = sum(len(mem.get_all(user_id=u, limit=100_000)["results"]) for u in users)
    every = sum(
        len(mem.get_all(user_id=u, limit=100_000, include_invalid=True)["results"]) for u in users
    )
    return valid, every


def chunks(docs: list[tuple[str, str, int]], many: int) -> list[tuple[str, list[str], int]]:
    """Consecutive documents of one user, ``many`` at a time (1: one document per call)."""
    out: list[tuple[str, list[str], int]] = []
    for user, text, n in docs:
        if out and out[-1][0] == user and len(out[-1][1]) < many:
            out[-1][1].append(text)
            out[-1] = (user, out[-1][1], out[-1][2] + n)
        else:
            out.append((user, [text], n))
    return out


def ingest(
    mem: Memory, docs: list[tuple[str, str, int]], label: str, budget: float | None, many: int = 0
) -> dict[str, Any]:
    """``many`` > 0: ``add_many`` with up to ``many`` documents per call; else one ``add``
    per document."""
    events: Counter[str] = Counter()
    done = sentences = 0
    calls = (
        chunks(sorted(docs, key=lambda d: d[0]), many)
        if many
        else [(u, [t], n) for u, t, n in docs]
    )
    with progress() as bar:
        task = bar.add_task(label, total=len(docs))
        start = time.perf_counter()
        for user, texts, n in calls:
            if many:
                out = mem.add_many(texts, user_id=user, infer=True)  # type: ignore[arg-type]
            else:
                out = mem.add(texts[0], user_id=user, infer=True)
            events.update(r["event"] for r in out["results"])
            done += len(texts)
            sentences += n
            bar.advance(task, len(texts))
            if budget is not None and time.perf_counter() - start > budget:
                break
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "adds": done,
        "sentences": sentences,
        "events": dict(events),
        "complete": done == len(docs),
    }


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def run_queries(
    runs: dict[str, tuple[Memory, str]], qs: list[tuple[str, str]], warmup: int, label: str
) -> dict[str, Any]:
    """``runs``: label → (memory, preset), each timed on every query, in alternating order."""
    presets = tuple(runs)
    timed = qs[warmup:]
    for user, q in qs[:warmup]:
        for p in presets:
            mem, preset = runs[p]
            mem.search(q, user_id=user, limit=10, config=preset)
    times: dict[str, list[float]] = {p: [] for p in presets}
    empty: Counter[str] = Counter()
    with progress() as bar:
        task = bar.add_task(label, total=len(timed))
        for i, (user, q) in enumerate(timed):
            order = (
                presets if i % 2 == 0 else presets[::-1]
            )  # alternate so neither preset gets warmer caches
            for p in order:
                mem, preset = runs[p]
                t0 = time.perf_counter()
                res = mem.search(q, user_id=user, limit=10, config=preset)
                times[p].append((time.perf_counter() - t0) * 1000)
                if not res["results"]:
                    empty[p] += 1
            bar.advance(task)
    out: dict[str, Any] = {}
    for p, xs in times.items():
        out[p] = {
            "p50_ms": round(percentile(xs, 0.5), 2),
            "p95_ms": round(percentile(xs, 0.95), 2),
            "mean_ms": round(statistics.fmean(xs), 2),
            "max_ms": round(max(xs), 2),
            "queries": len(xs),
            "empty_results": empty[p],
        }
    return out


def bench_size(size: int, args: argparse.Namespace) -> dict[str, Any]:
    corpora = build_corpus(size)
    users = [c.user for c in corpora]
    docs = documents(corpora, args.per_add)
    qs = queries_for(corpora, args.queries + args.warmup)
    console.rule(f"size {size}: {sum(len(c.facts) for c in corpora)} sentences, {len(docs)} adds")
    with memory(args.data_dir, str(size), args.keep) as (mem, config):
        load_before = machine()["load"]
        ing = ingest(mem, docs, f"ingest {size}", args.ingest_budget, args.many)
        valid, every = stored_facts(mem, users)
        # the same store read without the record cache (Config.vector_cache_size = 0), by a
        # read-only Memory: ``mem`` owns the data dir
        plain = Memory(config.model_copy(update={"vector_cache_size": 0, "read_only": True}))
        runs = {"dense": (mem, "dense"), "hybrid": (mem, "hybrid")}
        runs["hybrid_no_record_cache"] = (plain, "hybrid")
        search = run_queries(runs, qs, args.warmup, f"queries {size}")
        plain.close()
        load_after = machine()["load"]
    result = {
        "generated_sentences": sum(len(c.facts) for c in corpora),
        "ingested_sentences": ing["sentences"],
        "complete": ing["complete"],
        "adds": ing["adds"],
        "sentences_per_add": args.per_add,
        "docs_per_add_many": args.many,
        "stored_facts": valid,
        "stored_incl_invalidated": every,
        "add_events": ing["events"],
        "ingest_seconds": round(ing["seconds"], 2),
        "facts_per_s": round(valid / ing["seconds"], 2),
        "adds_per_s": round(ing["adds"] / ing["seconds"], 2),
        "search": search,
        "hybrid_over_dense_p50": round(search["hybrid"]["p50_ms"] / search["dense"]["p50_ms"], 2),
        "no_cache_over_cache_p50": round(
            search["hybrid_no_record_cache"]["p50_ms"] / search["hybrid"]["p50_ms"], 2
        ),
        "llm_calls_per_add": 0,
        "llm_calls_per_search": 0,
        "load_before": load_before,
        "load_after": load_after,
    }
    console.print(json.dumps({k: v for k, v in result.items() if k != "search"}), search)
    return result


def bench_batching(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """The same ``n`` sentences written three ways, each into a fresh store: ``add_many``
    (batched), one ``add`` per ``per_add``-sentence document, one ``add`` per sentence."""
    corpora = build_corpus(n, seed=1)
    users = [c.user for c in corpora]
    out: dict[str, Any] = {"sample_sentences": n}
    modes = (("batched", args.per_add, args.many), ("doc", args.per_add, 0), ("single", 1, 0))
    for key, per, many in modes:
        docs = documents(corpora, per)
        with memory(args.data_dir, key, args.keep) as (mem, _):
            ing = ingest(mem, docs, f"{key} ({per}/doc, {many or 1} doc/call)", None, many)
            valid, _ = stored_facts(mem, users)
        out[f"{key}_facts_per_s"] = round(valid / ing["seconds"], 2)
        out[f"{key}_stored_facts"] = valid
        out[f"{key}_seconds"] = round(ing["seconds"], 2)
        out[f"{key}_adds"] = ing["adds"]
    out["ratio"] = round(out["batched_facts_per_s"] / out["single_facts_per_s"], 2)
    return out


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# graphmem core benchmark (embedded default, offline extractor, no LLM)",
        "",
        f"Machine: {m['cores']} cores, load avg at start {m['load']}, "
        f"at end {report['machine_end']['load']}. "
        "Stack: Chroma PersistentClient + NetworkX/SQLite + "
        f"{report['params'].get('embed_model', 'all-minilm-l6-v2')} ONNX + spaCy. "
        f"Ingest: `add_many`, {report['params']['many']} docs of {report['params']['per_add']} "
        "sentences per call, `infer=True`; `search(limit=10)`, "
        f"{report['params']['queries']} queries after {report['params']['warmup']} warm-up. "
        "LLM calls per add / per search: 0 / 0.",
        "",
        "| facts (generated) | stored | ingest s | facts/s | adds/s | dense p50 / p95 / mean ms "
        "| hybrid p50 / p95 / mean ms | hybrid/dense p50 | p50 ≤ 20 ms "
        "| hybrid without record cache p50 / p95 ms (ratio) | load 1-min (start→end) |",
        "|---:|---:|---:|---:|---:|---|---|---:|---|---|---|",
    ]
    for size, r in report["sizes"].items():
        d, h = r["search"]["dense"], r["search"]["hybrid"]
        ok = (
            "yes"
            if h["p50_ms"] <= 20 and d["p50_ms"] <= 20
            else ("dense only" if d["p50_ms"] <= 20 else "no")
        )
        gen = size if r["complete"] else f"{size} (stopped at {r['ingested_sentences']})"
        u = r["search"].get("hybrid_no_record_cache")
        plain = (
            f"{u['p50_ms']:.1f} / {u['p95_ms']:.1f} ({r['no_cache_over_cache_p50']:.2f}×)"
            if u
            else "–"
        )
        lines.append(
            f"| {gen} | {r['stored_facts']} | {r['ingest_seconds']:.1f} | {r['facts_per_s']:.1f} | "
            f"{r['adds_per_s']:.2f} | {d['p50_ms']:.1f} / {d['p95_ms']:.1f} / {d['mean_ms']:.1f} | "
            f"{h['p50_ms']:.1f} / {h['p95_ms']:.1f} / {h['mean_ms']:.1f} | "
            f"{r['hybrid_over_dense_p50']:.2f} | {ok} | {plain} | "
            f"{r['load_before'][0]:.1f} → {r['load_after'][0]:.1f} |"
        )
    lines.append("")
    for size, r in report["sizes"].items():
        ev = ", ".join(f"{k} {v}" for k, v in sorted(r["add_events"].items()))
        missing = r["ingested_sentences"] - sum(r["add_events"].values())
        lines.append(
            f"- {size}: add() events {ev}; {missing} sentences yielded no fact "
            f"(offline extractor); stored {r['stored_facts']} of {r['ingested_sentences']}."
        )
    b = report.get("batched_vs_single")
    if b:
        lines += [
            "",
            f"Batching ({b['sample_sentences']} sentences, fresh store each, one run): "
            f"`add_many` ({report['params']['many']} docs/call) → "
            f"{b['batched_facts_per_s']:.1f} facts/s; one `add` per "
            f"{report['params']['per_add']}-sentence doc → {b['doc_facts_per_s']:.1f} facts/s; "
            f"one `add` per sentence → {b['single_facts_per_s']:.1f} facts/s; "
            f"batched/single {b['ratio']:.2f}×.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--per-add", type=int, default=10, help="sentences per document")
    ap.add_argument("--many", type=int, default=64, help="documents per add_many() call")
    ap.add_argument(
        "--single-sample",
        type=int,
        default=300,
        help="sentences for the batched-vs-single run (0: skip)",
    )
    ap.add_argument(
        "--ingest-budget", type=float, default=720.0, help="stop ingesting a size after this many s"
    )
    ap.add_argument(
        "--data-dir", type=Path, default=None, help="parent for the fresh per-run data dirs"
    )
    ap.add_argument("--keep", action="store_true", help="keep the data dirs")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/core.json"))
    ap.add_argument("--markdown-only", action="store_true", help="re-render --out as Markdown")
    args = ap.parse_args(argv)
    if args.markdown_only:
        args.out.with_suffix(".md").write_text(markdown(json.loads(args.out.read_text())))
        return

    report: dict[str, Any] = {
        "machine": machine(),
        "params": {
            "per_add": args.per_add,
            "many": args.many,
            "queries": args.queries,
            "warmup": args.warmup,
            "limit": 10,
            "seed": 0,
            "users": USERS,
            "extractor": "offline",
            "embed_model": Config.load().embed_model,
            "ingest_budget_s": args.ingest_budget,
        },
        "sizes": {},
    }
    console.print(f"machine: {report['machine']}")
    if args.single_sample:
        report["batched_vs_single"] = bench_batching(args.single_sample, args)
        console.print(report["batched_vs_single"])
    for size in args.sizes:
        report["sizes"][str(size)] = bench_size(size, args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")  # partial results survive a crash
    report["machine_end"] = machine()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    md = markdown(report)
    args.out.with_suffix(".md").write_text(md)
    console.print(md)


if __name__ == "__main__":
    main()
