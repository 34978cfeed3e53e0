"""The neighbourhood walk of the embedded graph store, over either of two views of the scopes
that hold its entities: their graphs loaded in memory (a user's scopes, which the next
searches read again), or the file itself, read for the entities walked only (a query across
many scopes, an agent's or a run's, whose few dozen start entities lie in as many users'
scopes: loading each would read every row of each, and push out of the cache the scopes that
users' searches keep there).

The caller holds the store's lock (one connection, one thread at a time)."""

from __future__ import annotations

import heapq
import itertools
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from ..models import Entity, Relation, Subgraph
from .scope_graph import ScopeGraph
from .scope_index import rows_by_id
from .sqlite_rows import entity, entity_columns, relation

#: by entity id, through the indexes of relations by their ends and of mentions by entity
_EDGES = "SELECT * FROM relations WHERE source_id IN {marks} OR target_id IN {marks}"
_ENTITIES = f"SELECT {entity_columns('entities')} FROM entities WHERE id IN {{marks}}"
_FACTS = "SELECT fact_id, entity_id, scope FROM mentions WHERE entity_id IN {marks}"


class View(Protocol):
    """What the walk reads of the scopes: ``home`` maps an entity id to its scope's key."""

    def prepare(self, home: Mapping[str, str]) -> None:
        """Called with the entities of a hop before their ``edges`` are asked for."""

    def edges(self, node: str, key: str) -> list[Relation]:
        """The relations of the scope ``key`` from, then to, ``node``."""

    def entities(self, home: Mapping[str, str]) -> dict[str, Entity]: ...

    def facts(self, home: Mapping[str, str]) -> dict[str, set[str]]:
        """Entity id → the facts that mention it (in its scope)."""


class Loaded:
    """The scopes' graphs, loaded."""

    def __init__(self, graphs: Mapping[str, ScopeGraph]) -> None:
        self.graphs = graphs

    def prepare(self, home: Mapping[str, str]) -> None:
        return None

    def edges(self, node: str, key: str) -> list[Relation]:
        g = self.graphs[key].graph
        edges = itertools.chain(g.out_edges(node, data="rel"), g.in_edges(node, data="rel"))
        return [r for *_, r in edges]

    def entities(self, home: Mapping[str, str]) -> dict[str, Entity]:
        return {e: self.graphs[key].graph.nodes[e]["entity"] for e, key in home.items()}

    def facts(self, home: Mapping[str, str]) -> dict[str, set[str]]:
        return {e: self.graphs[key].entity_facts.get(e, set()) for e, key in home.items()}


class Filed:
    """The file, read by entity id (relations by their ends, mentions by entity: indexed),
    the rows of each entity's own scope kept. The caller reads it in one transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._edges: dict[str, list[Relation]] = {}

    def prepare(self, home: Mapping[str, str]) -> None:
        todo = {e: key for e, key in home.items() if e not in self._edges}
        out: dict[str, list[Relation]] = defaultdict(list)
        into: dict[str, list[Relation]] = defaultdict(list)
        for rel in map(relation, self._rows(_EDGES, todo)):
            if todo.get(rel.source_id) == rel.scope.key:
                out[rel.source_id].append(rel)
            if todo.get(rel.target_id) == rel.scope.key:
                into[rel.target_id].append(rel)
        for e in todo:
            self._edges[e] = out[e] + into[e]

    def edges(self, node: str, key: str) -> list[Relation]:
        return self._edges[node]

    def entities(self, home: Mapping[str, str]) -> dict[str, Entity]:
        found = {e.id: e for e in map(entity, self._rows(_ENTITIES, home))}
        return {e: found[e] for e in home if e in found}

    def facts(self, home: Mapping[str, str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {e: set() for e in home}
        for fact_id, entity_id, key in self._rows(_FACTS, home):
            if home.get(entity_id) == key:
                out[entity_id].add(fact_id)
        return out

    def _rows(self, select: str, home: Mapping[str, str]) -> list[Any]:
        return rows_by_id(self.db, select, list(home))


def walk(
    view: View,
    home: dict[str, str],
    entity_ids: Sequence[str],
    hops: int,
    limit: int,
    mention_cap: int | None,
    held: Callable[[Relation], bool],
) -> Subgraph:
    """From the entities (``home``: each start entity's scope key), ``hops`` relations out,
    at most ``limit`` of them: the budget goes to the first entities first, and an entity's
    oldest relations first. Each relation reached leads into the scope of the entity it left
    from."""
    frontier = [e for e in entity_ids if e in home]
    rels: dict[str, Relation] = {}
    for _ in range(hops):
        view.prepare({e: home[e] for e in frontier})
        nxt: list[str] = []
        for node in frontier:
            if len(rels) >= limit:
                break
            fresh = [r for r in view.edges(node, home[node]) if held(r) and r.id not in rels]
            for r in heapq.nsmallest(limit - len(rels), fresh, key=_oldest):
                rels[r.id] = r
                for end in (r.source_id, r.target_id):
                    if end not in home:
                        home[end] = home[node]
                        nxt.append(end)
        frontier = nxt
    ents = view.entities(home)
    facts = view.facts(home)
    mentions: list[tuple[str, str]] = []
    degree: dict[str, int] = {}
    for eid in home:
        degree[eid] = len(facts[eid])
        if mention_cap is None or len(facts[eid]) <= mention_cap:
            mentions.extend((f, eid) for f in facts[eid])
    return Subgraph(ents, list(rels.values()), mentions, degree)


def _oldest(r: Relation) -> tuple[datetime, str]:
    return r.created_at, r.id
