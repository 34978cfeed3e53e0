"""Second-hop queries: the question read with a bridge entity.

A multi-hop question names its first passage ("the state the Battle of Mine Creek was fought
in"), not the next one ("2018 Kansas gubernatorial election"): that one matches the question
well only once the bridge ("Kansas") is known. The walk finds the bridges, the entities it
reaches from the query that the query does not name; each steers one more dense query over the
sources, the query vector plus the bridge's name vector (normalised). A source scores the
better of its own cosine and that of a hop query less ``hop_penalty`` (the sum of two vectors
is closer to everything that matches either half).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..models import Entity, Scope
from ..protocols import Vector, VectorStore, rescale


def bridges(
    scores: dict[str, float], entities: dict[str, Entity], seeds: Iterable[str], n: int
) -> list[str]:
    """The ``n`` entities the walk reached best that the query does not name."""
    named = set(seeds)
    reached = (e for e in entities if e not in named and scores.get(e, 0.0) > 0)
    return sorted(reached, key=lambda e: (-scores[e], e))[:n]


def hop_hits(
    qv: Vector,
    bridge_ids: list[str],
    scope: Scope,
    names: VectorStore,
    sources: VectorStore,
    k: int,
    floor: float,
) -> dict[str, tuple[float, str]]:
    """Source id → (its best cosine on the common scale to a hop query, that query's bridge),
    over the ``k`` best sources of each bridge's query, all sent as one batch."""
    got = names.fetch(bridge_ids, scope)
    if not got:
        return {}
    queries = np.stack([qv + np.asarray(vec, dtype=np.float32) for _, vec in got])
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    out: dict[str, tuple[float, str]] = {}
    for (bridge, _), hits in zip(got, sources.nearest(scope, queries, k)):
        for sid, sim in hits:
            score = rescale(sim, floor)
            if score > out.get(sid, (-math.inf, ""))[0]:
                out[sid] = (score, bridge.id)
    return out
