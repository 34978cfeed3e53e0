"""The in-memory index of one exact scope for the embedded graph store."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import networkx as nx

from ..models import Entity, Relation, norm_name


@dataclass
class ScopeGraph:
    """Everything of one exact scope, in memory."""

    graph: nx.MultiDiGraph = field(default_factory=nx.MultiDiGraph)
    by_norm: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    fact_entities: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    entity_facts: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    fact_relations: dict[str, dict[str, Relation]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    titled: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add_entity(self, e: Entity) -> None:
        old = self.graph.nodes[e.id]["entity"] if e.id in self.graph else None
        if old is not None:
            for n in old.names:
                self.by_norm[norm_name(n)].discard(e.id)
        self.graph.add_node(e.id, entity=e)
        for n in e.names:
            self.by_norm[norm_name(n)].add(e.id)

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
