"""Graph scoring: personalized PageRank over entities and facts, and explanation paths."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import networkx as nx

from ..models import Entity, Subgraph


def build(
    sub: Subgraph, kept: list[tuple[str, str]], hub_cap: int, budget: int
) -> tuple[nx.Graph, nx.Graph]:
    """Undirected weighted graphs: entity–entity relations (``eg``) and, in ``g``, those plus
    fact–entity mentions. The ``kept`` mentions (of the query's candidate facts) are always
    in; the other mentions come per entity, rarest entity first, while the ``budget`` lasts,
    so the work per query is bounded. An entity mentioned by more than ``hub_cap`` facts (the
    user, a home city) is a hub: the store lists none of its mentions, so a walk cannot leak
    through it into everything."""
    eg = nx.Graph()
    for r in sub.relations:
        w = r.weight + (
            eg[r.source_id][r.target_id]["weight"] if eg.has_edge(r.source_id, r.target_id) else 0
        )
        eg.add_edge(r.source_id, r.target_id, weight=w, rel=r)
    by_entity: dict[str, list[str]] = defaultdict(list)
    for f, e in sub.mentions:
        by_entity[e].append(f)
    degree = defaultdict(int, sub.degree or {e: len(fs) for e, fs in by_entity.items()})
    links = {(f, e) for f, e in kept if e in sub.entities}
    left = budget
    for e in sorted(by_entity, key=lambda e: (degree[e], e)):
        facts = by_entity[e]
        if degree[e] <= hub_cap and len(facts) <= left:
            links.update((f, e) for f in facts)
            left -= len(facts)
    g = eg.copy()
    g.add_edges_from(
        # a fact linked to a hub entity is weaker evidence than one linked to a rare entity
        ("f:" + f, e, {"weight": 1.0 / math.log(2 + min(degree[e], 10 * hub_cap))})
        for f, e in sorted(links)
    )
    return g, eg


def ppr(g: nx.Graph, seeds: dict[str, float], damping: float) -> dict[str, float]:
    """Personalized PageRank mass each node *receives* from its neighbours: its restart share
    ``(1 - damping) · p`` is taken out, so a hit is not scored for having been a seed."""
    personal = {n: w for n, w in seeds.items() if n in g and w > 0}
    if not personal:
        return {}
    scores: dict[str, float] = nx.pagerank(
        g, alpha=damping, personalization=personal, weight="weight", tol=1e-6, max_iter=100
    )
    total = sum(personal.values())
    for n, w in personal.items():
        scores[n] = max(scores[n] - (1 - damping) * w / total, 0.0)
    return scores


def paths(
    g: nx.Graph,
    eg: nx.Graph,
    seeds: list[str],
    fact_ids: list[str],
    entities: dict[str, Entity],
    max_paths: int = 2,
    cutoff: int = 3,
) -> dict[str, list[str]]:
    """Readable relation paths (shortest first) from a query entity to an entity each fact
    mentions; a fact that mentions a query entity directly needs no path."""
    trees = {s: nx.single_source_shortest_path(eg, s, cutoff=cutoff) for s in seeds if s in eg}
    out: dict[str, list[str]] = {}
    for fid in fact_ids:
        node = "f:" + fid
        targets = set(g.neighbors(node)) if node in g else set()
        found = [
            tree[t] for tree in trees.values() for t in targets if t in tree and len(tree[t]) > 1
        ]
        found.sort(key=len)
        rendered = [_render(eg, hop, entities) for hop in found]
        out[fid] = list(dict.fromkeys(rendered))[:max_paths]
    return out


def _render(g: nx.Graph, hop: list[str], entities: dict[str, Entity]) -> str:
    def name(n: str) -> str:
        return entities[n].name if n in entities else n

    parts = [name(hop[0])]
    for a, b in itertools.pairwise(hop):
        rel = g[a][b]["rel"]
        arrow = f"-[{rel.relation}]->" if rel.source_id == a else f"<-[{rel.relation}]-"
        parts.append(f"{arrow} {name(b)}")
    return " ".join(parts)
