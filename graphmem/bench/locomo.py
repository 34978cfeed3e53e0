"""Evidence recall@k on LoCoMo: does search surface the dialog turns a question rests on?

Each conversation is one user; every turn is added (``infer=True``, offline extractor) with
its session date as timestamp and ``{"dia_id", "session"}`` as metadata. For each question of
categories 1–4 (1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop; 5 adversarial is
excluded) recall@k is the share of its evidence ``dia_id``s among the sources of the top-k
fact results. Evidence ids that match no turn stay in the denominator (they count as misses);
the few questions with no evidence at all are skipped and counted. ``*_sources`` keys are the
same measure over the top-k of the search's ranked ``sources`` list, when graphmem returns it.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..memory import Memory
from .common import (
    METHODS,
    available,
    console,
    count_tokens,
    fresh_memory,
    latency,
    load,
    machine,
    progress,
    source_lists,
)
from .datasets import LOCOMO_CATEGORIES, BenchError, Conversation, LocomoQuestion, load_locomo

KS = (5, 10, 20)
CONTEXT_K = 10
Picked = list[tuple[list[LocomoQuestion], int]]  # per conversation: questions, no-evidence count
TOKENIZER = r"regex \w+|[^\w\s] (words and punctuation marks)"


@dataclass(frozen=True)
class LocomoOptions:
    methods: Sequence[str] = METHODS
    limit_conversations: int | None = None
    limit_questions: int | None = None  # per conversation
    batch_size: int = 64
    ks: Sequence[int] = KS
    work_dir: Path | None = None
    keep: bool = False


def evidence_recall(evidence: Sequence[str], found: Sequence[str]) -> float:
    """Share of the distinct evidence ids that are among ``found``."""
    gold = set(evidence)
    if not gold:
        raise ValueError("a question needs at least one evidence id")
    return len(gold.intersection(found)) / len(gold)


def dia_ids(sources: list[dict[str, Any]]) -> list[str]:
    ids = ((s.get("metadata") or {}).get("dia_id") for s in sources)
    return [str(i) for i in ids if i]


def fact_dia_ids(results: list[dict[str, Any]]) -> list[str]:
    return dia_ids([s for r in results for s in r.get("sources", [])])


def _formatter() -> Callable[[list[dict[str, Any]]], str]:
    """``graphmem.qa.format_context`` when graphmem has it, else the memories joined."""
    if importlib.util.find_spec("graphmem.qa") is not None:
        fmt = getattr(importlib.import_module("graphmem.qa"), "format_context", None)
        if callable(fmt):
            return lambda results: str(fmt(results))
    return lambda results: "\n".join(str(r.get("memory", "")) for r in results)


def conversation_text(conv: Conversation) -> str:
    """The whole conversation as a prompt would carry it: one line per turn."""
    return "\n".join(f"[{t.timestamp}] {t.speaker}: {t.text}" for t in conv.turns)


def ingest(mem: Memory, conv: Conversation, batch_size: int, bar: Any, task: Any) -> float:
    """Every turn is one item, read with the (up to two) turns before it in its session."""
    before = [
        [f"{p.speaker}: {p.text}" for p in conv.turns[max(0, i - 2) : i] if p.session == t.session]
        for i, t in enumerate(conv.turns)
    ]
    items: list[Any] = [
        {
            "messages": [{"role": "user", "name": t.speaker, "content": t.text}],
            "timestamp": t.timestamp,
            "metadata": {"dia_id": t.dia_id, "session": t.session},
            "context": context,
        }
        for t, context in zip(conv.turns, before)
    ]
    start = time.perf_counter()
    for i in range(0, len(items), batch_size):
        chunk = items[i : i + batch_size]
        mem.add_many(chunk, user_id=conv.sample_id, infer=True, batch_size=batch_size)
        bar.advance(task, len(chunk))
    return time.perf_counter() - start


@dataclass
class _Tally:
    recalls: dict[str, dict[int, list[float]]] = field(default_factory=dict)  # key → cat → xs
    tokens: dict[str, list[int]] = field(default_factory=dict)
    ms: list[float] = field(default_factory=list)

    def add(self, key: str, category: int, value: float) -> None:
        self.recalls.setdefault(key, {}).setdefault(category, []).append(value)


def _score(
    tally: _Tally, q: LocomoQuestion, res: dict[str, Any], ks: Sequence[int], fmt: Any
) -> dict[str, float]:
    results = res.get("results", [])
    sources, top_level = source_lists(res)
    out = {}
    for k in ks:
        r = evidence_recall(q.evidence, fact_dia_ids(results[:k]))
        tally.add(f"recall@{k}", q.category, r)
        out[f"recall@{k}"] = r
        if top_level:
            tally.add(
                f"recall@{k}_sources", q.category, evidence_recall(q.evidence, dia_ids(sources[:k]))
            )
    ctx = fmt(results[:CONTEXT_K])
    tally.tokens.setdefault(f"context_tokens@{CONTEXT_K}", []).append(count_tokens(ctx))
    if top_level:
        text = "\n".join(str(s.get("content", "")) for s in sources[:CONTEXT_K])
        tally.tokens.setdefault(f"context_tokens@{CONTEXT_K}_sources", []).append(
            count_tokens(text)
        )
    return out


def _questions(conv: Conversation, limit: int | None) -> tuple[list[LocomoQuestion], int]:
    """Questions of categories 1–4 with evidence (capped), and how many had no evidence."""
    scored = [q for q in conv.questions if q.category in LOCOMO_CATEGORIES]
    with_evidence = [q for q in scored if q.evidence]
    return with_evidence[:limit] if limit else with_evidence, len(scored) - len(with_evidence)


def _search_conv(
    mem: Memory,
    conv: Conversation,
    questions: list[LocomoQuestion],
    methods: list[str],
    tallies: dict[str, _Tally],
    ks: Sequence[int],
    bar: Any,
    task: Any,
) -> list[dict[str, Any]]:
    fmt = _formatter()
    details = []
    for i, q in enumerate(questions):
        shift = i % len(methods)
        detail: dict[str, Any] = {
            "sample_id": conv.sample_id,
            "category": q.category,
            "qa_index": q.index,
            "evidence": list(q.evidence),
        }
        for m in methods[shift:] + methods[:shift]:
            t0 = time.perf_counter()
            res = mem.search(q.question, user_id=conv.sample_id, limit=max(ks), config=m)
            tallies[m].ms.append((time.perf_counter() - t0) * 1000)
            detail[m] = _score(tallies[m], q, res, ks, fmt)
        details.append(detail)
        bar.advance(task)
    return details


def _mean(xs: Sequence[float]) -> float:
    return round(sum(xs) / len(xs), 4) if xs else 0.0


def _method_result(t: _Tally) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, by_cat in t.recalls.items():
        every = [x for xs in by_cat.values() for x in xs]
        out[key] = {"overall": _mean(every)} | {
            str(c): _mean(by_cat.get(c, [])) for c in LOCOMO_CATEGORIES
        }
    out |= {key: round(_mean(xs), 1) for key, xs in t.tokens.items()}
    out.update(latency(t.ms))
    return out


def covered_turns(mem: Memory, conv: Conversation) -> set[str]:
    """``dia_id``s that are a source of at least one current fact: the ceiling of fact-level
    recall (a turn whose facts were all merged into others' or dropped cannot be found)."""
    facts = mem.get_all(user_id=conv.sample_id, limit=100_000)["results"]
    return {d for f in facts for d in dia_ids(mem.get(f["id"])["sources"])}


def coverage(
    convs: list[Conversation], picked: Picked, covered: dict[str, set[str]]
) -> dict[str, float]:
    """Share of turns, and of evidence ids of the scored questions, that facts reach."""
    turns = [t.dia_id in covered[c.sample_id] for c in convs for t in c.turns]
    evidence = [
        evidence_recall(q.evidence, list(covered[c.sample_id]))
        for c, (qs, _) in zip(convs, picked)
        for q in qs
    ]
    return {
        "turns_with_a_fact": round(sum(turns) / len(turns), 4) if turns else 0.0,
        "evidence_reachable_by_facts": _mean(evidence),
    }


def _ingest_all(mem: Memory, convs: list[Conversation], batch_size: int) -> dict[str, float]:
    seconds: dict[str, float] = {}
    with progress() as bar:
        task = bar.add_task("ingest locomo turns", total=sum(len(c.turns) for c in convs))
        for conv in convs:
            seconds[conv.sample_id] = round(ingest(mem, conv, batch_size, bar, task), 2)
    return seconds


def run_locomo(path: Path, opts: LocomoOptions | None = None) -> dict[str, Any]:
    """Ingest every conversation of ``path`` and measure evidence recall@k of every preset."""
    opts = opts or LocomoOptions()
    convs = load_locomo(path)[: opts.limit_conversations]
    methods, missing = available(opts.methods)
    if missing:
        console.print(f"[yellow]skipping presets this graphmem lacks:[/yellow] {missing}")
    if not methods:
        raise BenchError(f"none of the presets {list(opts.methods)} exists")
    picked = [_questions(c, opts.limit_questions) for c in convs]
    tallies = {m: _Tally() for m in methods}
    details: list[dict[str, Any]] = []
    start_machine = machine()
    with fresh_memory(opts.work_dir, "locomo", opts.keep) as mem:
        seconds = _ingest_all(mem, convs, opts.batch_size)
        facts = sum(len(mem.get_all(user_id=c.sample_id, limit=100_000)["results"]) for c in convs)
        covered = {c.sample_id: covered_turns(mem, c) for c in convs}
        load_after_ingest = load()
        with progress() as bar:
            task = bar.add_task("search locomo", total=sum(len(qs) for qs, _ in picked))
            for conv, (qs, _) in zip(convs, picked):
                details += _search_conv(mem, conv, qs, methods, tallies, opts.ks, bar, task)
    return _report(convs, picked, methods, missing, tallies, details, seconds, facts) | {
        "coverage": coverage(convs, picked, covered),
        "machine": start_machine,
        "load_after_ingest": load_after_ingest,
        "load_end": load(),
    }


def _report(
    convs: list[Conversation],
    picked: Picked,
    methods: list[str],
    missing: list[str],
    tallies: dict[str, _Tally],
    details: list[dict[str, Any]],
    seconds: dict[str, float],
    facts: int,
) -> dict[str, Any]:
    full = {c.sample_id: count_tokens(conversation_text(c)) for c in convs}
    per_question_full = [full[c.sample_id] for c, (qs, _) in zip(convs, picked) for _ in qs]
    by_cat = {
        str(c): sum(q.category == c for qs, _ in picked for q in qs) for c in LOCOMO_CATEGORIES
    }
    n_turns = sum(len(c.turns) for c in convs)
    total = sum(seconds.values())
    return {
        "dataset": "locomo",
        "n_conversations": len(convs),
        "n_turns": n_turns,
        "n_questions": {"overall": sum(by_cat.values())} | by_cat,
        "n_skipped_no_evidence": sum(n for _, n in picked),
        "ingest_seconds": round(total, 2),
        "turns_per_s": round(n_turns / total, 2) if total else 0.0,
        "ingest_seconds_per_conversation": seconds,
        "stored_facts": facts,
        "methods": {m: _method_result(tallies[m]) for m in methods},
        "missing_methods": missing,
        "full_context_tokens": round(_mean(per_question_full), 1),
        "full_context_tokens_per_conversation": full,
        "tokenizer": TOKENIZER,
        "context_k": CONTEXT_K,
        "per_question": details,
    }
