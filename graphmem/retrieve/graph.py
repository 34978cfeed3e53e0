"""Graph scoring: personalized PageRank over entities and facts, and explanation paths."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import networkx as nx

from ..models import Entity, Subgraph


def build(sub: Subgraph) -> nx.Graph:
    """Undirected weighted graph: entity–entity (relations) and fact–entity (mentions)."""
    g = nx.Graph()
    for r in sub.relations:
        w = r.weight + (
            g[r.source_id][r.target_id]["weight"] if g.has_edge(r.source_id, r.target_id) else 0
        )
        g.add_edge(r.source_id, r.target_id, weight=w, rel=r)
    degree: dict[str, int] = defaultdict(int)
    for _, e in sub.mentions:
        degree[e] += 1
    for f, e in sub.mentions:
        # A fact linked to a hub entity is weaker evidence than one linked to a rare entity.
        g.add_edge("f:" + f, e, weight=1.0 / math.log(2 + degree[e]))
    return g


def ppr(g: nx.Graph, seeds: dict[str, float], damping: float) -> dict[str, float]:
    personal = {n: w for n, w in seeds.items() if n in g and w > 0}
    if not personal:
        return {}
    scores: dict[str, float] = nx.pagerank(
        g, alpha=damping, personalization=personal, weight="weight", tol=1e-6, max_iter=100
    )
    return scores


def paths(
    g: nx.Graph, seeds: list[str], fact_id: str, entities: dict[str, Entity], max_paths: int = 2
) -> list[str]:
    """Readable relation paths (shortest first) from a query entity to an entity the fact
    mentions; a fact that mentions a query entity directly needs no path."""
    node = "f:" + fact_id
    if node not in g:
        return []
    targets = set(g.neighbors(node))
    if targets & set(seeds):
        direct = [s for s in seeds if s in targets]
        others = targets - set(direct)
    else:
        others = targets
    entity_graph = g.subgraph(n for n in g if not str(n).startswith("f:"))
    found: list[list[str]] = []
    for seed in seeds:
        if seed not in entity_graph:
            continue
        for t in others:
            try:
                found.append(nx.shortest_path(entity_graph, seed, t))
            except (nx.NetworkXNoPath, nx.NodeNotFound):
                continue
    found.sort(key=len)
    rendered = [_render(g, hop, entities) for hop in found if len(hop) > 1]
    return list(dict.fromkeys(rendered))[:max_paths]


def _render(g: nx.Graph, hop: list[str], entities: dict[str, Entity]) -> str:
    def name(n: str) -> str:
        return entities[n].name if n in entities else n

    parts = [name(hop[0])]
    for a, b in itertools.pairwise(hop):
        rel = g[a][b]["rel"]
        arrow = f"-[{rel.relation}]->" if rel.source_id == a else f"<-[{rel.relation}]-"
        parts.append(f"{arrow} {name(b)}")
    return " ".join(parts)
