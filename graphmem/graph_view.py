"""What a scope's graph holds, as results: its entities, and the relations between them that
hold now or held at a time. Read through the graph store protocol only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .models import Entity, Relation, Scope, iso
from .protocols import GraphStore


def entity_result(e: Entity) -> dict[str, Any]:
    return {
        "id": e.id,
        "name": e.name,
        "type": e.type,
        "aliases": list(e.aliases),
        "attributes": dict(e.attributes),
        "created_at": iso(e.created_at),
        **e.scope.items(),
    }


def relation_result(r: Relation, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": r.id,
        "source": names.get(r.source_id, r.source_id),
        "relationship": r.relation,
        "target": names.get(r.target_id, r.target_id),
        "source_id": r.source_id,
        "target_id": r.target_id,
        "fact_id": r.fact_id,
        "valid_from": iso(r.valid_from),
        "invalid_at": iso(r.invalid_at),
        "created_at": iso(r.created_at),
        **r.scope.items(),
    }


def began(r: Relation, at: datetime) -> bool:
    """Whether ``r`` had begun by ``at`` (at its event time, else when it was written)."""
    return (r.valid_from or r.created_at) <= at


def entities(graph: GraphStore, scope: Scope, limit: int) -> dict[str, Any]:
    """The scope's entities by name (at most ``limit``)."""
    found = sorted(graph.entities(scope), key=lambda e: (e.name.lower(), e.id))
    return {"results": [entity_result(e) for e in found[:limit]]}


def snapshot(
    graph: GraphStore, scope: Scope, at: datetime | None, limit: int, include_invalid: bool = False
) -> dict[str, Any]:
    """The scope's relations that hold now (``at``: that held then), oldest first, at most
    ``limit``, and the entities they connect. ``include_invalid``: the relations superseded
    by then too (those begun by then whose ``invalid_at`` is past)."""
    rels = graph.relations(scope, include_invalid=include_invalid or at is not None)
    if at is not None:
        rels = [r for r in rels if (began(r, at) if include_invalid else r.held_at(at))]
    rels = sorted(rels, key=lambda r: (r.valid_from or r.created_at, r.id))[:limit]
    ends = {i for r in rels for i in (r.source_id, r.target_id)}
    ents = [e for e in graph.entities(scope) if e.id in ends]
    names = {e.id: e.name for e in ents}
    return {
        "entities": [entity_result(e) for e in sorted(ents, key=lambda e: (e.name.lower(), e.id))],
        "relations": [relation_result(r, names) for r in rels],
        "as_of": iso(at),
    }
