"""The hybrid retriever: dense hits + personalized PageRank from query and bridge entities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..models import FactRecord, Scope
from ..protocols import Embedder, GraphStore, VectorStore
from . import graph as G
from .config import SearchConfig
from .link import link, query_words, relation_words


@dataclass
class Hit:
    fact: FactRecord
    score: float
    dense: float
    graph: float
    paths: list[str]


@dataclass
class Retriever:
    embedder: Embedder
    vectors: VectorStore
    graph: GraphStore

    def search(
        self,
        query: str,
        scope: Scope,
        limit: int,
        config: SearchConfig,
        where: dict[str, Any] | None = None,
    ) -> tuple[list[Hit], list[dict[str, Any]]]:
        qv = self.embedder.embed([query])[0]
        dense = self.vectors.query(scope, qv, max(config.dense_k, limit), where)
        dense_score = {rec.id: s for rec, s in dense}
        records = {rec.id: rec for rec, _ in dense}
        if config.graph_weight <= 0:
            hits = [Hit(rec, s, s, 0.0, []) for rec, s in dense[:limit]]
            return hits, []
        seeds = link(self.graph, scope, query, scope.user_id)
        bridge = self.graph.relations(
            scope, fact_ids=[r.id for r, _ in dense[: config.bridge_hits]]
        )
        start = set(seeds) | {r.source_id for r in bridge} | {r.target_id for r in bridge}
        sub = self.graph.neighbourhood(scope, list(start), config.hops, config.max_edges)
        g, eg = G.build(sub, set(records), config.hub_cap)
        personal = dict(seeds)
        words = query_words(query)
        for r in sub.relations:  # "my manager" names the HAS_MANAGER edge: seed its ends
            if relation_words(r.relation) & words and r.source_id in seeds:
                personal[r.target_id] = personal.get(r.target_id, 0.0) + 1.0
        for rec, s in dense[: config.bridge_hits]:  # dense hits seed the walk too (bridges)
            personal["f:" + rec.id] = personal.get("f:" + rec.id, 0.0) + max(s, 0.0)
        scores = G.ppr(g, personal, config.damping)
        fact_scores = {n[2:]: v for n, v in scores.items() if n.startswith("f:")}
        extra = [
            f
            for f in sorted(fact_scores, key=fact_scores.__getitem__, reverse=True)
            if f not in records
        ][: config.dense_k]
        if extra:
            got = self.vectors.get(extra, scope=scope, where=where, include_invalid=False)
            embs = self.vectors.embeddings([r.id for r in got])
            for rec in got:
                records[rec.id] = rec
                if rec.id in embs:
                    dense_score[rec.id] = float(np.dot(embs[rec.id], qv))
        top_graph = max((fact_scores.get(f, 0.0) for f in records), default=0.0) or 1.0
        hits = []
        for fid, rec in records.items():
            gs = fact_scores.get(fid, 0.0) / top_graph
            ds = dense_score.get(fid, 0.0)
            hits.append(Hit(rec, config.dense_weight * ds + config.graph_weight * gs, ds, gs, []))
        hits.sort(key=lambda h: h.score, reverse=True)
        hits = hits[:limit]
        seed_order = sorted(seeds, key=seeds.__getitem__, reverse=True)
        explained = G.paths(
            g, eg, seed_order, [h.fact.id for h in hits], sub.entities, cutoff=config.hops + 1
        )
        for h in hits:
            h.paths = explained[h.fact.id]
        return hits, self._relations(sub, scores, {h.fact.id for h in hits}, limit)

    @staticmethod
    def _relations(
        sub: Any, scores: dict[str, float], fact_ids: set[str], limit: int
    ) -> list[dict[str, Any]]:
        names = {i: e.name for i, e in sub.entities.items()}
        rels = [
            r for r in sub.relations if r.fact_id in fact_ids and r.relation != "MENTIONED_WITH"
        ]
        rels.sort(
            key=lambda r: scores.get(r.source_id, 0) + scores.get(r.target_id, 0), reverse=True
        )
        out = []
        for r in rels[:limit]:
            out.append(
                {
                    "source": names.get(r.source_id, r.source_id),
                    "relationship": r.relation,
                    "target": names.get(r.target_id, r.target_id),
                    "valid_from": r.valid_from.isoformat() if r.valid_from else None,
                    "invalid_at": None,
                    "fact_id": r.fact_id,
                    "score": round(scores.get(r.source_id, 0) + scores.get(r.target_id, 0), 6),
                }
            )
        return out
