"""The query graph (entities, facts, sources), personalized PageRank over it, and the
relation paths that explain a hit."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import scipy.sparse as sp

from ..models import Entity, Subgraph


@dataclass
class QueryGraph:
    """An undirected weighted graph over entity ids, ``"f:" + fact id`` and ``"s:" + source
    id``, kept as edge lists: built per query in a few hundred microseconds and handed to
    the PageRank as one sparse matrix. ``eg`` holds just the entity–entity relations, as a
    ``networkx`` graph, for explanation paths; ``links`` each fact's entities."""

    eg: nx.Graph
    links: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    index: dict[str, int] = field(default_factory=dict)
    edges: dict[tuple[int, int], float] = field(default_factory=lambda: defaultdict(float))

    def add(self, a: str, b: str, weight: float) -> None:
        index = self.index
        i = index.setdefault(a, len(index))
        j = index.setdefault(b, len(index))
        self.edges[(i, j) if i < j else (j, i)] += weight

    def facts(self) -> list[str]:
        return [n[2:] for n in self.index if n.startswith("f:")]


def build(sub: Subgraph, kept: list[tuple[str, str]], hub_cap: int, budget: int) -> QueryGraph:
    """Entity–entity relations plus fact–entity mentions. The ``kept`` mentions (of the
    query's candidate facts) are always in; the other mentions come per entity, rarest entity
    first, while the ``budget`` lasts, so the work per query is bounded. An entity mentioned
    by more than ``hub_cap`` facts (the user, a home city) is a hub: the store lists none of
    its mentions, so a walk cannot leak through it into everything."""
    eg = nx.Graph()
    qg = QueryGraph(eg)
    for r in sub.relations:
        w = r.weight + (
            eg[r.source_id][r.target_id]["weight"] if eg.has_edge(r.source_id, r.target_id) else 0
        )
        eg.add_edge(r.source_id, r.target_id, weight=w, rel=r)
        qg.add(r.source_id, r.target_id, r.weight)
    by_entity: dict[str, list[str]] = defaultdict(list)
    for f, e in sub.mentions:
        by_entity[e].append(f)
    degree = defaultdict(int, sub.degree)
    links = {(f, e) for f, e in kept if e in sub.entities}
    left = budget
    for e in sorted(by_entity, key=lambda e: (degree[e], e)):
        facts = by_entity[e]
        if degree[e] <= hub_cap and len(facts) <= left:
            links.update((f, e) for f in facts)
            left -= len(facts)
    for f, e in sorted(links):
        # a fact linked to a hub entity is weaker evidence than one linked to a rare entity
        qg.add("f:" + f, e, 1.0 / math.log(2 + min(degree[e], 10 * hub_cap)))
        qg.links[f].add(e)
    return qg


def add_sources(qg: QueryGraph, fact_sources: Mapping[str, Iterable[str]]) -> None:
    for fid, sids in fact_sources.items():
        for sid in set(sids):
            qg.add("f:" + fid, "s:" + sid, 1.0)


def ppr(
    qg: QueryGraph, seeds: dict[str, float], damping: float, tol: float = 1e-6
) -> dict[str, float]:
    """Personalized PageRank mass each node *receives* from its neighbours: its restart share
    ``(1 - damping) · p`` is taken out, so a hit is not scored for having been a seed.

    The same power iteration and stopping rule as ``networkx.pagerank`` (a test checks that
    the scores agree), on a matrix built straight from the edge lists: no graph object per
    query. Every node has an edge, so there are no dangling nodes."""
    personal = {qg.index[n]: w for n, w in seeds.items() if n in qg.index and w > 0}
    if not personal:
        return {}
    n = len(qg.index)
    (rows, cols), weights = zip(*qg.edges), list(qg.edges.values())
    w = sp.coo_array((weights * 2, (rows + cols, cols + rows)), shape=(n, n)).tocsr()
    step = sp.csr_array(w.multiply(1.0 / w.sum(axis=0)))  # row i: what i receives
    total = sum(personal.values())
    p = np.zeros(n)
    for i, v in personal.items():
        p[i] = v / total
    x = p.copy()
    for _ in range(100):
        last, x = x, damping * (step @ x) + (1 - damping) * p
        if np.abs(x - last).sum() < n * tol:
            break
    x -= (1 - damping) * p
    names = list(qg.index)
    return {names[i]: float(max(v, 0.0)) for i, v in enumerate(x)}


def paths(
    qg: QueryGraph,
    seeds: list[str],
    targets: dict[str, set[str]],
    entities: dict[str, Entity],
    max_paths: int = 2,
    cutoff: int = 3,
) -> dict[str, list[str]]:
    """Readable relation paths (shortest first) from a query entity to one of the entities
    ``targets`` gives per result (those a fact mentions, the bridge of a second-hop query); a
    result whose target is a query entity itself needs no path."""
    eg = qg.eg
    trees = {s: nx.single_source_shortest_path(eg, s, cutoff=cutoff) for s in seeds if s in eg}
    out: dict[str, list[str]] = {}
    for rid, ends in targets.items():
        found = [tree[t] for tree in trees.values() for t in ends if t in tree and len(tree[t]) > 1]
        found.sort(key=len)
        rendered = [render(eg, hop, entities) for hop in found]
        out[rid] = list(dict.fromkeys(rendered))[:max_paths]
    return out


def render(g: nx.Graph, hop: list[str], entities: dict[str, Entity]) -> str:
    def name(n: str) -> str:
        return entities[n].name if n in entities else n

    parts = [name(hop[0])]
    for a, b in itertools.pairwise(hop):
        rel = g[a][b]["rel"]
        arrow = f"-[{rel.relation}]->" if rel.source_id == a else f"<-[{rel.relation}]-"
        parts.append(f"{arrow} {name(b)}")
    return " ".join(parts)
