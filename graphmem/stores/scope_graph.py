"""The in-memory index of one exact scope for the embedded graph store."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import networkx as nx

from ..models import Entity, Relation


@dataclass
class ScopeGraph:
    """One exact scope's entities, relations and mentions, in memory (names and titles are
    looked up in SQLite: ``scope_index.py``)."""

    graph: nx.MultiDiGraph = field(default_factory=nx.MultiDiGraph)
    fact_entities: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    entity_facts: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    fact_relations: dict[str, dict[str, Relation]] = field(
        default_factory=lambda: defaultdict(dict)
    )

    def add_entity(self, e: Entity) -> None:
        self.graph.add_node(e.id, entity=e)

    def add_relation(self, r: Relation) -> None:
        self.graph.add_edge(r.source_id, r.target_id, key=r.id, rel=r)
        self.fact_relations[r.fact_id][r.id] = r

    def add_mention(self, fact_id: str, entity_id: str) -> None:
        self.fact_entities[fact_id].add(entity_id)
        self.entity_facts[entity_id].add(fact_id)

    def drop_fact(self, fact_id: str) -> None:
        for r in self.fact_relations.pop(fact_id, {}).values():
            if self.graph.has_edge(r.source_id, r.target_id, key=r.id):
                self.graph.remove_edge(r.source_id, r.target_id, key=r.id)
        for eid in self.fact_entities.pop(fact_id, set()):
            self.entity_facts[eid].discard(fact_id)
