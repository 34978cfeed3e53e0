"""The relation paths between two named entities of a scope: how the graph connects them."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import networkx as nx

from ..models import Scope, norm_name
from ..protocols import GraphStore
from .graph import build, render

#: relations the offline extractor draws between names of one sentence: a weaker link, so a
#: path through fewer of them ranks first among paths of one length
CO_MENTION = "MENTIONED_WITH"


def connect(
    graph: GraphStore,
    scope: Scope,
    source: str,
    target: str,
    *,
    hops: int = 3,
    limit: int = 5,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The shortest relation paths (at most ``hops`` relations, at most ``limit`` of them)
    from an entity named ``source`` to one named ``target``, each with the ids of the memories
    its relations come from. With ``at``, the relations that held at that time. A name that
    names no entity of the scope is listed in ``unknown``."""
    ends = {name: graph.find_entities(scope, [norm_name(name)]) for name in (source, target)}
    unknown = [name for name, found in ends.items() if not found]
    if unknown:
        return {"paths": [], "unknown": unknown}
    starts, goals = [e.id for e in ends[source]], {e.id for e in ends[target]}
    sub = graph.neighbourhood(scope, starts, hops=hops, mention_cap=0, at=at)
    eg = build(sub, [], hub_cap=0, budget=0).eg
    found: list[list[str]] = []
    for a, b in itertools.product(starts, goals):
        if a in eg and b in eg and a != b:
            found += _shortest(eg, a, b, hops, limit)
    found.sort(key=lambda hop: (len(hop), _co_mentions(eg, hop)))
    return {
        "paths": [
            {
                "path": render(eg, hop, sub.entities),
                "memory_ids": list(
                    dict.fromkeys(eg[a][b]["rel"].fact_id for a, b in itertools.pairwise(hop))
                ),
            }
            for hop in found[:limit]
        ],
        "unknown": [],
    }


def _shortest(eg: nx.Graph, a: str, b: str, hops: int, limit: int) -> list[list[str]]:
    out: list[list[str]] = []
    try:
        for hop in nx.shortest_simple_paths(eg, a, b):
            if len(hop) - 1 > hops or len(out) >= limit:
                break
            out.append(hop)
    except nx.NetworkXNoPath:
        pass
    return out


def _co_mentions(eg: nx.Graph, hop: list[str]) -> int:
    return sum(eg[a][b]["rel"].relation == CO_MENTION for a, b in itertools.pairwise(hop))
