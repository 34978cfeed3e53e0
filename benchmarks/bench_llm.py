"""Concurrent ingest with an LLM: ``add_many`` against an OpenAI-compatible server that
answers each call after a fixed delay, at several ``llm_concurrency`` levels.

    python benchmarks/bench_llm.py --docs 200 --delay 0.3 --levels 1 4 16 \
        --out benchmarks/results/llm.json
    python benchmarks/bench_llm.py --smoke --out /tmp/llm.json      # CI's small size

* the server is ``tests/llm_stub.py`` (a real HTTP server on 127.0.0.1, in this process):
  every call — extraction, reconciliation, ``ask`` — is answered after ``--delay`` seconds
  with a valid reply (one fact per document) and a ``usage`` (tokens counted as words), so
  the time measured is graphmem's: how well it overlaps calls, plus its own embedding and
  writing;
* per level: a fresh data dir, the models loaded outside the timed region, then one timed
  ``add_many`` of ``--docs`` documents (``--batch-size`` per write; each batch after the first
  makes one reconciliation call), then one ``ask``. Reported: seconds, documents per second,
  the most calls the server saw at once, the usage of the ``add_many`` and of the ``ask``;
  the speed-up of each level over the first as a ratio, and the floor (all calls of a level
  overlapped perfectly: ``ceil(docs / level) × delay`` plus one delay per reconciliation).

Writes the JSON to ``--out`` and a Markdown report next to it (``.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from corpus import build_corpus, documents

from graphmem import Config, Memory
from graphmem.bench.common import console, machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from llm_stub import LLMStub  # the tests' server, shared

MODEL = "stub-model"


def corpus(n: int) -> list[str]:
    """``n`` short documents of two sentences each (the synthetic corpus's facts)."""
    docs = [text for _, text, _ in documents(build_corpus(2 * n + 20), 2)]
    if len(docs) < n:
        raise SystemExit(f"the corpus has only {len(docs)} documents")
    return docs[:n]


def level(docs: list[str], concurrency: int, args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="graphmem-bench-llm-", dir=args.data_dir))
    with LLMStub(delay=args.delay) as stub:
        config = {
            "data_dir": root,
            "extractor": "llm",
            "llm_base_url": stub.url,
            "llm_model": MODEL,
            "llm_concurrency": concurrency,
        }
        mem = Memory(Config.load(config))
        try:
            # spaCy, ONNX and the stores loaded outside the timed region (no LLM call)
            mem.add("Warm Up works at Nowhere Inc.", user_id="__warmup__", infer=False)
            start = time.perf_counter()
            out = mem.add_many(docs, user_id="bench", batch_size=args.batch_size)
            seconds = time.perf_counter() - start
            in_flight = stub.max_in_flight
            asked = mem.ask("Where does Bob work?", user_id="bench")
            stored = len(mem.get_all(user_id="bench", limit=100_000)["results"])
            totals = mem.usage()
        finally:
            mem.close()
            shutil.rmtree(root, ignore_errors=True)
    used = out["usage"]
    reconciliations = used["llm_calls"] - len(docs)
    floor = (math.ceil(len(docs) / concurrency) + reconciliations) * args.delay
    result = {
        "llm_concurrency": concurrency,
        "seconds": round(seconds, 2),
        "docs_per_s": round(len(docs) / seconds, 2),
        "floor_seconds": round(floor, 2),
        "max_in_flight": in_flight,
        "stored_facts": stored,
        "add_many_usage": used,
        "tokens_per_doc": round((used["prompt_tokens"] + used["completion_tokens"]) / len(docs)),
        "ask_usage": asked["usage"],
        "total_usage": totals,
    }
    console.print(json.dumps(result))
    return result


def markdown(report: dict[str, Any]) -> str:
    p = report["params"]
    lines = [
        "# graphmem LLM ingest: add_many at several llm_concurrency levels",
        "",
        f"{p['docs']} documents, one `add_many` (batches of {p['batch_size']}), against an "
        f"OpenAI-compatible stub answering every call after {p['delay_s']} s "
        f"(`tests/llm_stub.py`); {report['machine']['cores']} cores, load "
        f"{report['machine']['load']}. Tokens are the stub's (words), not a real tokenizer's.",
        "",
        "| llm_concurrency | seconds | speed-up | floor s | docs/s | max in flight "
        "| LLM calls | prompt tokens | completion tokens | tokens/doc |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in report["levels"].items():
        u = r["add_many_usage"]
        lines.append(
            f"| {key} | {r['seconds']} | {report['speedup'][key]}× | {r['floor_seconds']} "
            f"| {r['docs_per_s']} | {r['max_in_flight']} | {u['llm_calls']} "
            f"| {u['prompt_tokens']} | {u['completion_tokens']} | {r['tokens_per_doc']} |"
        )
    ask = next(iter(report["levels"].values()))["ask_usage"]
    lines += [
        "",
        f"One `ask`: {ask['llm_calls']} call, {ask['prompt_tokens']} prompt + "
        f"{ask['completion_tokens']} completion tokens. Each `add_many` makes one extraction "
        "call per document and one reconciliation call per batch after the first (those run "
        "one after another: each batch reconciles against what the one before wrote).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.3, help="seconds per LLM call")
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--smoke", action="store_true", help="12 documents, 0.05 s, levels 1 4")
    ap.add_argument("--data-dir", type=Path, default=None, help="where temporary data dirs go")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/llm.json"))
    args = ap.parse_args(argv)
    if args.smoke:
        args.docs, args.delay, args.levels, args.batch_size = 12, 0.05, [1, 4], 5
    if args.data_dir is not None:
        args.data_dir.mkdir(parents=True, exist_ok=True)
    docs = corpus(args.docs)
    report: dict[str, Any] = {
        "params": {
            "docs": args.docs,
            "delay_s": args.delay,
            "levels": args.levels,
            "batch_size": args.batch_size,
        },
        "machine": machine(),
        "levels": {},
    }
    for n in args.levels:
        console.rule(f"llm_concurrency {n}")
        report["levels"][str(n)] = level(docs, n, args)
    first = report["levels"][str(args.levels[0])]["seconds"]
    report["speedup"] = {k: round(first / r["seconds"], 2) for k, r in report["levels"].items()}
    report["machine_end"] = machine()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    console.print(markdown(report))


if __name__ == "__main__":
    main()
