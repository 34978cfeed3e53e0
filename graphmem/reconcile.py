"""Reconciliation: each new fact against what its scope already knows.

Offline rules (deterministic): a near-duplicate naming the same people and things is NONE; a
text that contains an existing memory word for word, in order, and adds to it is an UPDATE;
a single-valued relation with a new target (or LIKES ↔ DISLIKES) invalidates the old fact.
With an LLM, one call decides for all new facts of an ``add``, and only when candidates exist.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .config import Config
from .extract.offline import OPPOSITES
from .models import FactRecord, Relation, Scope
from .prompts import RECONCILE_SYSTEM, Decisions
from .prompts.fence import fence, inline
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
    body = "EXISTING:\n" + "\n".join(f"{k}: {inline(r.text)}" for k, r in existing.items())
    body += "\nNEW:\n" + "\n".join(f"N{i}: {inline(t)}" for i, t in enumerate(texts))
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


def _one_valued(config: Config, r: Relation) -> bool:
    """A relation that a later one can contradict: single-valued, or one of an opposite pair."""
    return (
        r.relation in config.single_valued_relations
        or r.relation.startswith("HAS_FAVORITE")
        or r.relation in OPPOSITES
    )


def contradicts(new: Relation, old: Relation) -> bool:
    """``new`` ends ``old``: the same single-valued relation from the same source to another
    target, or the opposite relation (LIKES/DISLIKES) to the same target."""
    if old.source_id != new.source_id:
        return False
    replaced = old.relation == new.relation and old.target_id != new.target_id
    flipped = OPPOSITES.get(new.relation) == old.relation and old.target_id == new.target_id
    return (replaced and new.relation not in OPPOSITES) or flipped


def contradicted(
    config: Config, graph: GraphStore, scope: Scope, new: list[Relation]
) -> list[tuple[Relation, Relation]]:
    """(current relation, new relation that contradicts it; see ``contradicts``)."""
    relevant = [r for r in new if _one_valued(config, r)]
    if not relevant:
        return []
    existing = graph.relations(scope, entity_ids=list({r.source_id for r in relevant}))
    new_facts = {r.fact_id for r in new}
    return [
        (old, r)
        for r in relevant
        for old in existing
        if old.fact_id not in new_facts and contradicts(r, old)
    ]


def contradicted_within(
    config: Config, new: list[Relation], at: datetime
) -> list[tuple[Relation, Relation]]:
    """(relation, the next one of the same batch that contradicts it): a batch read in the
    order its relations began (``valid_from``, else ``at``; ties in the order written), as if
    its messages had been added one by one. Relations of one fact never contradict each other."""
    relevant = sorted((r for r in new if _one_valued(config, r)), key=lambda r: r.valid_from or at)
    out = []
    for i, r in enumerate(relevant):
        later = (n for n in relevant[i + 1 :] if n.fact_id != r.fact_id and contradicts(n, r))
        nxt = next(later, None)
        if nxt is not None:
            out.append((r, nxt))
    return out
