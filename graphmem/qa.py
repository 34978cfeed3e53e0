"""``Memory.ask``: retrieved memories, fenced as data, answered by one LLM call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .prompts import ANSWER_SYSTEM, Answer
from .prompts.fence import fence, inline
from .protocols import LLM

TAG = "memory-data"


def format_context(
    results: Sequence[dict[str, Any]], relations: Sequence[dict[str, Any]] = ()
) -> str:
    """Render search results as clearly marked background data (never instructions): one
    line per memory with its id and validity, then the relation paths that connect them.
    Every stored text is rendered on its one line (``prompts.fence.inline``), so no memory
    can start a line of this format or close the fence."""
    lines = []
    for r in results:
        since = inline(r.get("valid_from") or r.get("created_at") or "")[:10]
        until = inline(r.get("invalid_at") or "")[:10]
        when = f"valid {since or '?'}–{until or 'now'}"
        lines.append(f"[{inline(r['id'])}] ({when}) {inline(r['memory'])}")
        lines += [f"    path: {inline(p)}" for p in r.get("paths", [])]
    for rel in relations:
        parts = (inline(rel[k]) for k in ("source", "relationship", "target"))
        lines.append("relation: {} -[{}]-> {}".format(*parts))
    return fence(TAG, "\n".join(lines) if lines else "(no memories)")


def answer(
    llm: LLM, question: str, results: list[dict[str, Any]], relations: list[dict[str, Any]]
) -> dict[str, Any]:
    """One LLM call; citations must name retrieved memory ids (else retried, then an error)."""
    ids = [r["id"] for r in results]
    user = format_context(results, relations) + "\n\nQuestion: " + inline(question)
    reply = llm.complete(ANSWER_SYSTEM, user, Answer, {"ids": ids})
    cited = [r for r in results if r["id"] in reply.citations]
    return {
        "answer": reply.answer,
        "citations": reply.citations,
        "paths": [p for r in cited for p in r.get("paths", [])],
        "results": results,
    }
