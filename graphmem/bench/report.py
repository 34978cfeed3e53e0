"""Markdown tables and the recall@k plot, rendered from the runners' JSON results."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .datasets import LOCOMO_CATEGORIES

_K = re.compile(r"^recall@(\d+)$")


def is_locomo(result: dict[str, Any]) -> bool:
    return "full_context_tokens" in result


def _pct(x: Any) -> str:
    return f"{100 * float(x):.1f}" if isinstance(x, int | float) else "–"


def _ks(method: dict[str, Any]) -> list[int]:
    return sorted(int(m.group(1)) for key in method if (m := _K.match(key)))


def _machine(result: dict[str, Any]) -> str:
    m = result.get("machine", {})
    return (
        f"Machine: {m.get('cores', '?')} cores; load avg (1/5/15 min) at start {m.get('load')}, "
        f"after ingest {result.get('load_after_ingest')}, at end {result.get('load_end')}."
    )


def multihop_markdown(result: dict[str, Any]) -> str:
    methods: dict[str, dict[str, Any]] = result["methods"]
    ks = _ks(next(iter(methods.values()))) if methods else []
    head = " | ".join(f"R@{k}" for k in ks)
    lines = [
        f"# graphmem multi-hop passage recall: {result['dataset']}",
        "",
        f"{result['n_questions']} questions, {result['n_passages']} passages "
        f"({result.get('format', '?')} format), ingested offline in "
        f"{result['ingest_seconds']:.1f} s ({result.get('passages_per_s', 0):.1f} passages/s, "
        f"{result.get('stored_facts', '?')} facts). Recall by title (%), duplicates removed; "
        f"search limit {result.get('search_limit', '?')}.",
        "",
        f"| method | {head} | search p50 ms | p95 ms | ranked by |",
        "|---|" + "---:|" * (len(ks) + 2) + "---|",
    ]
    for name, m in methods.items():
        cells = " | ".join(_pct(m.get(f"recall@{k}")) for k in ks)
        lines.append(
            f"| {name} | {cells} | {m['search_ms_p50']:.1f} | {m['search_ms_p95']:.1f} "
            f"| {m.get('ranking', '?')} |"
        )
    if result.get("missing_methods"):
        lines += ["", f"Presets not available in this build: {result['missing_methods']}."]
    return "\n".join([*lines, "", _machine(result)]) + "\n"


def _locomo_rows(methods: dict[str, dict[str, Any]], suffix: str) -> list[str]:
    rows = []
    for name, m in methods.items():
        if f"recall@10{suffix}" not in m:
            continue
        ks = " | ".join(_pct(m.get(f"recall@{k}{suffix}", {}).get("overall")) for k in (5, 10, 20))
        cats = " | ".join(_pct(m[f"recall@10{suffix}"].get(str(c))) for c in LOCOMO_CATEGORIES)
        tokens = m.get(f"context_tokens@10{suffix}", 0.0)
        rows.append(
            f"| {name} | {ks} | {cats} | {tokens:.0f} | "
            f"{m['search_ms_p50']:.1f} | {m['search_ms_p95']:.1f} |"
        )
    return rows


def _locomo_table(methods: dict[str, dict[str, Any]], suffix: str) -> list[str]:
    rows = _locomo_rows(methods, suffix)
    if not rows:
        return []
    cats = " | ".join(f"R@10 {c}" for c in LOCOMO_CATEGORIES.values())
    return [
        f"| method | R@5 | R@10 | R@20 | {cats} | context tokens @10 | p50 ms | p95 ms |",
        "|---|" + "---:|" * 10,
        *rows,
    ]


def locomo_markdown(result: dict[str, Any]) -> str:
    n = result["n_questions"]
    counts = ", ".join(f"{LOCOMO_CATEGORIES[int(c)]} {n[c]}" for c in map(str, LOCOMO_CATEGORIES))
    methods = result["methods"]
    lines = [
        "# graphmem LoCoMo evidence recall",
        "",
        f"{result['n_conversations']} conversations, {result['n_turns']} turns ingested offline "
        f"in {result['ingest_seconds']:.1f} s ({result['turns_per_s']:.1f} turns/s, "
        f"{result.get('stored_facts', '?')} facts); {n['overall']} questions ({counts}); "
        f"{result.get('n_skipped_no_evidence', 0)} skipped for having no evidence. "
        f"Full conversation: {result['full_context_tokens']:.0f} tokens on average "
        f"(tokenizer: {result.get('tokenizer', '?')}).",
        "",
        "Evidence recall (%) over the sources of the top-k fact results:",
        "",
        *_locomo_table(methods, ""),
    ]
    cov = result.get("coverage")
    if cov:
        lines += [
            "",
            f"Ceiling of fact-level recall: {_pct(cov['turns_with_a_fact'])} % of turns are a "
            f"source of some current fact; {_pct(cov['evidence_reachable_by_facts'])} % "
            "evidence recall if every fact were returned.",
        ]
    sources = _locomo_table(methods, "_sources")
    if sources:
        lines += ["", "Same, over the top-k of the ranked `sources` list (turns):", "", *sources]
    if result.get("missing_methods"):
        lines += ["", f"Presets not available in this build: {result['missing_methods']}."]
    return "\n".join([*lines, "", _machine(result)]) + "\n"


def _extraction_row(run: str, kind: str, m: dict[str, Any]) -> str:
    t, e, b = m["triples"], m["entities"], m["triples_by_ends"]
    cells = [t["precision"], t["recall"], t["f1"], b["precision"], b["recall"]]
    cells += [e["precision"], e["recall"], e["f1"], m["entity_type_accuracy"]]
    pct = " | ".join(f"{100 * x:.1f}" for x in cells)
    return f"| {run} | {kind} | {m['items']} | {t['gold']} | {pct} |"


def _extraction_run(name: str, run: dict[str, Any]) -> str:
    text = (
        f"- **{name}**: {run['extractor']} ({run['model']}), {run['seconds']:.1f} s "
        f"({run['seconds_per_item']:.2f} s a sentence), {run['failed']} extractions failed"
    )
    if run.get("structured_output"):
        text += f", structured output `{run['structured_output']}`"
    used, per = run["usage"], run["tokens_per_item"]
    if used.get("llm_calls"):
        text += (
            f"; {used['llm_calls']} LLM calls, {used['prompt_tokens']} prompt + "
            f"{used['completion_tokens']} completion tokens ({per['prompt_tokens']:.0f} + "
            f"{per['completion_tokens']:.0f} a sentence)"
        )
    if run.get("co_mentions_left_out"):
        text += f"; {run['co_mentions_left_out']} co-mention edges left out"
    return text + ("; with the configured ontology." if run.get("ontology") else ".")


def extraction_markdown(result: dict[str, Any]) -> str:
    kinds = ", ".join(f"{n} {k}" for k, n in result["kinds"].items())
    runs: dict[str, dict[str, Any]] = result["runs"]
    rows = [
        _extraction_row(name, kind, m)
        for name, run in runs.items()
        for kind, m in [*run["by_kind"].items(), ("all", run["overall"])]
    ]
    lines = [
        "# graphmem extraction quality",
        "",
        f"{result['n_items']} labelled sentences of `{result['dataset']}` ({kinds}); matching "
        "rule: docs/extraction-quality.md.",
        "",
        *(_extraction_run(name, run) for name, run in runs.items()),
        "",
        "Percentages. Triples: labelled matches (names normalised, relation classes); by ends: "
        "the two entities only, either order. Entities by normalised name; type accuracy of "
        "the matched ones.",
        "",
        "| extractor | set | items | gold triples | triple P | triple R | triple F1 | ends P "
        "| ends R | entity P | entity R | entity F1 | type acc |",
        "|---|---|" + "---:|" * 11,
        *rows,
        "",
        f"Machine: {result['machine'].get('cores')} cores, load at start "
        f"{result['machine'].get('load')}.",
    ]
    return "\n".join(lines) + "\n"


def markdown(result: dict[str, Any]) -> str:
    if result.get("bench") == "extraction":
        return extraction_markdown(result)
    return locomo_markdown(result) if is_locomo(result) else multihop_markdown(result)


def _curve(method: dict[str, Any], suffix: str) -> tuple[list[int], list[float]]:
    ks = sorted(
        int(m.group(1)) for key in method if (m := re.match(rf"^recall@(\d+){suffix}$", key))
    )
    ys = []
    for k in ks:
        v = method[f"recall@{k}{suffix}"]
        ys.append(100 * float(v["overall"] if isinstance(v, dict) else v))
    return ks, ys


def plot(results: Sequence[dict[str, Any]], path: Path) -> None:
    """One panel per result: recall@k (%) per method; LoCoMo's sources variant dashed
    (results without recall, e.g. extraction quality, have none)."""
    results = [r for r in results if "methods" in r]
    if not results:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3.8), squeeze=False)
    for ax, result in zip(axes[0], results):
        for i, (name, m) in enumerate(result["methods"].items()):
            color = f"C{i}"
            ks, ys = _curve(m, "")
            ax.plot(ks, ys, marker="o", color=color, label=name)
            ax.set_xticks(ks)
            ks, ys = _curve(m, "_sources")
            if ks:
                ax.plot(ks, ys, marker=".", ls="--", color=color, label=f"{name} (sources)")
        title = "LoCoMo evidence" if is_locomo(result) else f"{result['dataset']} passages"
        ax.set_title(f"{title} recall@k")
        ax.set_xlabel("k")
        ax.set_ylabel("recall (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
