"""Tokens per ``add`` and per ``ask`` with a real LLM: the demo conversation
(``graphmem/demo.py``: 6 turns of two users, then its 5 questions asked with ``ask``).

    GRAPHMEM_LLM_BASE_URL=http://127.0.0.1:8089/v1 GRAPHMEM_LLM_API_KEY=local \\
    GRAPHMEM_LLM_MODEL=smollm2-135m-instruct \\
        python benchmarks/bench_llm_demo.py --out benchmarks/results/llm_demo.json

Each call's usage is the growth of ``Memory.usage()`` over it, so a call that fails (a small
model's reply refused after its repair request) still counts what it cost. Writes the JSON
to ``--out`` and a Markdown report next to it (``.md``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from graphmem import Config, GraphMemError, Memory
from graphmem.bench.common import console, machine
from graphmem.demo import QUESTIONS, SESSIONS

KEYS = ("llm_calls", "prompt_tokens", "completion_tokens")


def call(m: Memory, kind: str, fn: Any) -> dict[str, Any]:
    """One ``add`` or ``ask``: its usage (failed or not), seconds and outcome."""
    before = m.usage()
    start = time.perf_counter()
    row: dict[str, Any] = {"call": kind}
    try:
        out = fn()
        row["ok"] = True
        if kind == "add":
            row["events"] = [r["event"] for r in out["results"]]
        else:
            row["citations"] = len(out["citations"])
    except GraphMemError as e:
        row.update(ok=False, error=f"{type(e).__name__}: {str(e)[:200]}")
    row["seconds"] = round(time.perf_counter() - start, 2)
    after = m.usage()
    row.update({k: after[k] - before[k] for k in KEYS})
    return row


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    out: dict[str, Any] = {"calls": n, "failed": sum(not r["ok"] for r in rows)}
    out.update({f"{k}_per_call": round(sum(r[k] for r in rows) / n, 1) for k in KEYS})
    out["seconds_per_call"] = round(sum(r["seconds"] for r in rows) / n, 2)
    return out


def run(work: Path) -> dict[str, Any]:
    config = Config.load({"data_dir": work, "extractor": "llm"})
    m = Memory(config)
    try:
        m.add("Warm Up works at Nowhere Inc.", user_id="__warmup__", infer=False)
        adds = [
            call(m, "add", lambda u=u, d=d, t=t: m.add(t, user_id=u, timestamp=d))
            for u, d, t in SESSIONS
        ]
        asks = [
            call(m, "ask", lambda u=u, q=q, a=a: m.ask(q, user_id=u, as_of=a))
            for u, q, a in QUESTIONS
        ]
        llm: Any = m.parts.llm
        return {
            "model": config.llm_model,
            "base_url": config.llm_base_url,
            "structured_output": llm.mode,
            "max_tokens": config.llm_max_tokens,
            "add": summary(adds),
            "ask": summary(asks),
            "calls": adds + asks,
            "total": m.usage(),
            "machine": machine(),
        }
    finally:
        m.close()


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "# graphmem with a real LLM: tokens per `add` and per `ask` on the demo conversation",
        "",
        f"Model `{r['model']}` at {r['base_url']} (structured output `{r['structured_output']}`, "
        f"max_tokens {r['max_tokens']}); the 6 turns and 5 questions of `graphmem/demo.py`. "
        "A failed call (the reply refused after its repair request) counts what it cost.",
        "",
        "| call | n | failed | LLM calls/call | prompt tokens/call | completion tokens/call "
        "| s/call |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in ("add", "ask"):
        s = r[kind]
        lines.append(
            f"| {kind} | {s['calls']} | {s['failed']} | {s['llm_calls_per_call']} "
            f"| {s['prompt_tokens_per_call']} | {s['completion_tokens_per_call']} "
            f"| {s['seconds_per_call']} |"
        )
    lines += ["", "Per call:", "", "| call | ok | LLM calls | prompt | completion | s | outcome |"]
    lines.append("|---|---|---:|---:|---:|---:|---|")
    for c in r["calls"]:
        outcome = c.get("error") or c.get("events") or f"{c.get('citations')} citations"
        lines.append(
            f"| {c['call']} | {c['ok']} | {c['llm_calls']} | {c['prompt_tokens']} "
            f"| {c['completion_tokens']} | {c['seconds']} | {outcome} |"
        )
    lines += ["", f"Machine: {r['machine']['cores']} cores, load {r['machine']['load']}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="graphmem-bench-llm-demo-"))
    try:
        result = run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    md = markdown(result)
    args.out.with_suffix(".md").write_text(md, encoding="utf-8")
    console.print(md)


if __name__ == "__main__":
    main()
