"""Passage recall@k on multi-hop QA sets (MuSiQue, HotpotQA, generic), every preset in one run.

The corpus is ingested once through the offline extractor (each passage one source, titled);
then every question is searched with every preset. A question's ranking is the list of
passage titles of the search's ``sources`` (duplicates removed, first occurrence kept); its
recall@k is the share of its gold titles among the first k.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..memory import Memory
from .common import (
    METHODS,
    available,
    console,
    dedupe,
    fresh_memory,
    latency,
    load,
    machine,
    progress,
    source_lists,
    source_title,
)
from .datasets import BenchError, MultihopSet, Passage, Question, load_multihop

KS = (2, 5, 10)


@dataclass(frozen=True)
class MultihopOptions:
    methods: Sequence[str] = METHODS
    limit_questions: int | None = None
    search_limit: int = 20
    batch_size: int = 64
    ks: Sequence[int] = KS
    work_dir: Path | None = None
    keep: bool = False


def recall_at(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    """Share of ``gold`` titles among the first ``k`` distinct titles of ``ranked``."""
    gold_set = set(gold)
    if not gold_set:
        raise ValueError("a question needs at least one gold title")
    top = dedupe(ranked)[:k]
    return len(gold_set.intersection(top)) / len(gold_set)


def ranked_titles(res: dict[str, Any]) -> tuple[list[str], bool]:
    """Distinct passage titles of a search, best first; the flag: top-level ``sources``."""
    sources, top_level = source_lists(res)
    titles = (source_title(s) for s in sources)
    return dedupe(t for t in titles if t), top_level


def ingest(mem: Memory, user: str, passages: list[Passage], batch_size: int) -> float:
    """Seconds to ``add_many`` every passage (``infer=True``, offline extractor)."""
    items = [{"messages": p.text, "title": p.title} for p in passages]
    with progress() as bar:
        task = bar.add_task(f"ingest {user}", total=len(items))
        start = time.perf_counter()
        for i in range(0, len(items), batch_size):
            chunk = items[i : i + batch_size]
            mem.add_many(chunk, user_id=user, infer=True, batch_size=batch_size)
            bar.advance(task, len(chunk))
        return time.perf_counter() - start


@dataclass
class _Tally:
    recalls: dict[int, list[float]]
    ms: list[float]
    top_level: bool = True


def _search_all(
    mem: Memory, user: str, questions: list[Question], methods: list[str], opts: MultihopOptions
) -> tuple[dict[str, _Tally], list[dict[str, Any]]]:
    tallies = {m: _Tally({k: [] for k in opts.ks}, []) for m in methods}
    details: list[dict[str, Any]] = []
    with progress() as bar:
        task = bar.add_task(f"search {user}", total=len(questions))
        for i, q in enumerate(questions):
            shift = i % len(methods)  # rotate so no preset always runs on warm caches
            detail: dict[str, Any] = {"index": q.index, "gold": list(q.gold_titles)}
            for m in methods[shift:] + methods[:shift]:
                t0 = time.perf_counter()
                res = mem.search(q.question, user_id=user, limit=opts.search_limit, config=m)
                tallies[m].ms.append((time.perf_counter() - t0) * 1000)
                titles, top_level = ranked_titles(res)
                tallies[m].top_level &= top_level
                for k in opts.ks:
                    tallies[m].recalls[k].append(recall_at(titles, q.gold_titles, k))
                detail[m] = titles[: max(opts.ks)]
            details.append(detail)
            bar.advance(task)
    return tallies, details


def _method_result(t: _Tally) -> dict[str, Any]:
    out: dict[str, Any] = {
        f"recall@{k}": round(sum(xs) / len(xs), 4) if xs else 0.0 for k, xs in t.recalls.items()
    }
    out.update(latency(t.ms))
    out["ranking"] = "sources" if t.top_level else "fact sources"
    return out


def _questions(ds: MultihopSet, limit: int | None) -> list[Question]:
    qs = [q for q in ds.questions if q.gold_titles]
    return qs[:limit] if limit else qs


def run_multihop(data_dir: Path, opts: MultihopOptions | None = None) -> dict[str, Any]:
    """Ingest ``data_dir``'s corpus and measure passage recall@k of every preset."""
    opts = opts or MultihopOptions()
    ds = load_multihop(data_dir)
    methods, missing = available(opts.methods)
    if missing:
        console.print(f"[yellow]skipping presets this graphmem lacks:[/yellow] {missing}")
    if not methods:
        raise BenchError(f"none of the presets {list(opts.methods)} exists")
    questions = _questions(ds, opts.limit_questions)
    start_machine = machine()
    with fresh_memory(opts.work_dir, ds.name, opts.keep) as mem:
        seconds = ingest(mem, ds.name, ds.passages, opts.batch_size)
        facts = len(mem.get_all(user_id=ds.name, limit=100_000)["results"])
        load_after_ingest = load()
        tallies, details = _search_all(mem, ds.name, questions, methods, opts)
    return {
        "dataset": ds.name,
        "format": ds.format,
        "n_questions": len(questions),
        "n_passages": len(ds.passages),
        "ingest_seconds": round(seconds, 2),
        "passages_per_s": round(len(ds.passages) / seconds, 2) if seconds else 0.0,
        "stored_facts": facts,
        "methods": {m: _method_result(tallies[m]) for m in methods},
        "missing_methods": missing,
        "ks": list(opts.ks),
        "search_limit": opts.search_limit,
        "machine": start_machine,
        "load_after_ingest": load_after_ingest,
        "load_end": load(),
        "per_question": details,
    }
