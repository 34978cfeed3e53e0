"""Scoring: the parts of a candidate's score, their weighted sum, the greedy pick that makes
a fact whose sources are all covered count less, and what a fact inherits from its sources."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..models import FACTS_KEY, FactRecord
from .config import SearchConfig

Cands = dict[str, dict[str, Any]]  # id → {"rec": FactRecord | None, "dense": .., "bm25": ..}


@dataclass
class Hit:
    record: FactRecord
    score: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)


def top_bm25(cands: Cands) -> float:
    """The top BM25 score among the candidates (the signal is scaled to 1)."""
    return max((c.get("bm25", 0.0) for c in cands.values()), default=0.0) or 1.0


def parts(c: dict[str, Any], graph: float, top_bm25: float) -> dict[str, float]:
    """The parts of a candidate's score. ``hop``: how much better it matches a second-hop
    query (``c["hop"]``, less the penalty) than the question itself; it adds to ``dense``."""
    out = {
        "dense": c.get("dense", 0.0),
        "bm25": c.get("bm25", 0.0) / top_bm25,
        "graph": graph,
    }
    for extra in ("source", "relation", "time"):
        if extra in c:
            out[extra] = c[extra]
    if "hop" in c:
        out["hop"] = max(0.0, c["hop"] - out["dense"])
    return out


def combine(p: dict[str, float], cfg: SearchConfig) -> float:
    return (
        cfg.dense_weight * (p["dense"] + p.get("hop", 0.0))
        + cfg.bm25_weight * p["bm25"]
        + cfg.graph_weight * p["graph"]
        + cfg.source_weight * p.get("source", 0.0)
        + cfg.relation_weight * p.get("relation", 0.0)
        + cfg.time_weight * p.get("time", 0.0)
    )


def inheritance(sources: list[Hit], passed: frozenset[str] = frozenset()) -> dict[str, float]:
    """Fact id → the best share of the top source's score among the ranked sources it was
    distilled from (a source lists its facts), so no fact needs fetching to know it. The
    ``passed`` sources pass nothing on."""
    top = sources[0].score if sources else 0.0
    out: dict[str, float] = {}
    if top <= 0:
        return out
    for h in sources:
        if h.record.id in passed:
            continue
        share = max(h.score, 0.0) / top
        for fid in json.loads(h.record.metadata.get(FACTS_KEY, "[]")):
            out[fid] = max(out.get(fid, 0.0), share)
    return out


def score(cands: Cands, graph: dict[str, float], top_bm25: float, cfg: SearchConfig) -> list[Hit]:
    hits = []
    for i, c in cands.items():
        got = parts(c, graph.get(i, 0.0), top_bm25)
        hits.append(Hit(c["rec"], combine(got, cfg), {k: round(v, 6) for k, v in got.items()}))
    hits.sort(key=lambda h: h.score, reverse=True)
    return hits


def picks(
    items: list[tuple[float, tuple[str, ...]]], penalty: float, limit: int
) -> list[tuple[int, float]]:
    """(index, adjusted score) of the ``limit`` items picked greedily from (score, source
    ids): an item whose sources are all sources of items picked before it adds little that is
    new, so it counts ``penalty`` less. Items without sources are never redundant."""
    # best first, so that max() gives ties to the better-ranked item
    pool = sorted(range(len(items)), key=lambda i: items[i][0], reverse=True)
    picked, covered = list[tuple[int, float]](), set[str]()
    while pool and len(picked) < limit:

        def adjusted(i: int) -> float:
            score, src = items[i]
            return score - (penalty if src and covered.issuperset(src) else 0.0)

        best = pool[0] if penalty <= 0 else max(pool, key=adjusted)
        picked.append((best, adjusted(best)))
        pool.remove(best)
        covered.update(items[best][1])
    return picked


def novel_first(hits: list[Hit], penalty: float, limit: int) -> list[Hit]:
    """The top ``limit`` hits in ``picks`` order; a redundant one scores ``penalty`` less
    and its ``parts`` say ``redundant``."""
    out = []
    for i, adjusted in picks([(h.score, h.record.source_ids) for h in hits], penalty, limit):
        h = hits[i]
        if adjusted < h.score:
            h.parts["redundant"] = 1.0
            h.score = adjusted
        out.append(h)
    return out
