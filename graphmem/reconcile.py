"""Reconciliation: each new fact against what its scope already knows.

Offline rules (deterministic): a near-duplicate naming the same people and things is NONE; a
text that contains an existing memory word for word, in order, and adds to it is an UPDATE;
a single-valued relation with a new target (or LIKES ↔ DISLIKES) invalidates the old fact.
With an LLM, one call decides for all new facts of an ``add``, and only when candidates exist.
"""

from __future__ import annotations

import re
from typing import Any

from .config import Config
from .extract.llm import fence
from .extract.offline import OPPOSITES
from .models import FactRecord, Relation, Scope
from .prompts import RECONCILE_SYSTEM, Decisions
from .protocols import LLM, GraphStore, Vector, VectorStore, rescale

Verdict = tuple[str, FactRecord | None, str]  # (event, existing memory, text to store)
_WORD = re.compile(r"\w+")
_NAME = re.compile(r"\b[A-Z][\w'-]*")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def names(text: str) -> set[str]:
    """Capitalised words after the first one: the people and things a sentence names."""
    found = _NAME.findall(text)
    return set(found[1:]) if text[:1].isupper() and found else set(found)


def is_refinement(old: str, new: str) -> bool:
    """``new`` says everything ``old`` says, in the same order, and more."""
    rest = iter(words(new))
    old_words = words(old)
    return len(words(new)) > len(old_words) and all(w in rest for w in old_words)


def offline_verdict(config: Config, text: str, hits: list[tuple[FactRecord, float]]) -> Verdict:
    if not hits:
        return ("ADD", None, text)
    best, sim = hits[0]
    if words(best.text) == words(text) or (
        sim >= config.dedup_threshold and names(best.text) == names(text)
    ):
        return ("NONE", best, text)
    if sim >= config.update_threshold and is_refinement(best.text, text):
        return ("UPDATE", best, text)
    return ("ADD", None, text)


def decide(
    config: Config,
    vectors: VectorStore,
    llm: LLM | None,
    scope: Scope,
    texts: list[str],
    vecs: Vector,
    floor: float,
) -> list[Verdict]:
    """``floor``: the embedder's (similarities are compared on the common scale)."""
    cands = vectors.query_batch(scope, vecs, config.reconcile_candidates)
    if llm is not None and any(cands):
        return decide_llm(llm, texts, cands)
    return [
        offline_verdict(config, t, [(r, rescale(s, floor)) for r, s in hits])
        for t, hits in zip(texts, cands)
    ]


def decide_llm(
    llm: LLM, texts: list[str], cands: list[list[tuple[FactRecord, float]]]
) -> list[Verdict]:
    existing: dict[str, FactRecord] = {}
    for hits in cands:
        for rec, _ in hits:
            if rec.id not in {r.id for r in existing.values()}:
                existing[str(len(existing))] = rec
    body = "EXISTING:\n" + "\n".join(f"{k}: {r.text}" for k, r in existing.items())
    body += "\nNEW:\n" + "\n".join(f"N{i}: {t}" for i, t in enumerate(texts))
    context: dict[str, Any] = {
        "new": [f"N{i}" for i in range(len(texts))],
        "existing": list(existing),
    }
    reply = llm.complete(RECONCILE_SYSTEM, fence("memory-data", body), Decisions, context)
    by_new = {d.new_id: d for d in reply.decisions}
    out: list[Verdict] = []
    for i, text in enumerate(texts):
        d = by_new[f"N{i}"]
        old = existing.get(d.existing_id or "")
        out.append((d.event, old, d.text if d.event == "UPDATE" and d.text else text))
    return out


def contradicted(
    config: Config, graph: GraphStore, scope: Scope, new: list[Relation]
) -> list[tuple[Relation, Relation]]:
    """(current relation, new relation that contradicts it): a single-valued relation from
    the same source to another target, or the opposite relation (LIKES/DISLIKES) to the same
    target."""
    single = set(config.single_valued_relations)
    relevant = [
        r
        for r in new
        if r.relation in single or r.relation.startswith("HAS_FAVORITE") or r.relation in OPPOSITES
    ]
    if not relevant:
        return []
    existing = graph.relations(scope, entity_ids=list({r.source_id for r in relevant}))
    new_facts = {r.fact_id for r in new}
    out = []
    for r in relevant:
        for old in existing:
            if old.fact_id in new_facts or old.source_id != r.source_id:
                continue
            replaced = old.relation == r.relation and old.target_id != r.target_id
            flipped = OPPOSITES.get(r.relation) == old.relation and old.target_id == r.target_id
            if (replaced and r.relation not in OPPOSITES) or flipped:
                out.append((old, r))
    return out
