"""Entity resolution: extracted names → existing or new entities of one scope.

By normalised name and aliases first (an index lookup), then by name-embedding similarity
against the scope's entity vectors; the user is one canonical node per scope.

A mention resolved onto an entity (stored, or met earlier in the same write) adds its names
as aliases and merges its attributes: per key, a value the mention gives (not null) replaces
the one known; keys it does not give keep theirs. The entity's name and type stay those it
was created with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .models import USER_ENTITY, Entity, Scope, entity_label, norm_name, stable_id
from .prompts import ExtractedEntity
from .protocols import Embedder, GraphStore, Vector, VectorStore

UNNAMED = {"Concept"}  # entity types resolved by normalised name only


def user_entity(scope: Scope) -> Entity:
    """The one canonical node that stands for the owner of a scope."""
    name = scope.user_id or scope.agent_id or scope.run_id or USER_ENTITY
    return Entity(stable_id(scope.key, "__user__"), name, "Person", scope, (USER_ENTITY, "I", "me"))


def merge_aliases(entity: Entity, extra: list[str]) -> Entity:
    seen = {norm_name(n) for n in entity.names}
    new = [n for n in extra if norm_name(n) not in seen]
    return replace(entity, aliases=tuple(dict.fromkeys([*entity.aliases, *new]))) if new else entity


def merge_attributes(entity: Entity, values: Mapping[str, Any]) -> Entity:
    """``entity`` with ``values`` over its attributes: a value that is not null replaces the
    one of its key, the other keys stay (``entity`` itself when that changes nothing)."""
    known = {k: v for k, v in values.items() if v is not None}
    if all(k in entity.attributes and entity.attributes[k] == v for k, v in known.items()):
        return entity
    return replace(entity, attributes={**entity.attributes, **known})


def merged(entity: Entity, ext: ExtractedEntity) -> Entity:
    """``entity`` with what one more mention of it says: its names and attributes."""
    with_names = merge_aliases(entity, [ext.name, *ext.aliases])
    return merge_attributes(with_names, ext.attribute_values())


@dataclass
class Resolution:
    by_name: dict[str, Entity] = field(default_factory=dict)  # lower-cased name → entity
    touched: dict[str, Entity] = field(default_factory=dict)  # entities to (re)write
    new: dict[str, Vector] = field(default_factory=dict)  # brand-new entity id → name vector

    def bind(self, ext: ExtractedEntity, entity: Entity) -> None:
        for n in (ext.name, *ext.aliases):
            self.by_name.setdefault(n.lower(), entity)


def resolve(
    scope: Scope,
    extracted: list[ExtractedEntity],
    graph: GraphStore,
    entity_vectors: VectorStore,
    embedder: Embedder,
    merge_threshold: float,
) -> Resolution:
    res = Resolution()
    user = user_entity(scope)
    res.by_name[USER_ENTITY.lower()] = res.by_name[norm_name(user.name)] = user
    mine = [e for e in extracted if e.name.lower() == USER_ENTITY.lower()]
    todo = [e for e in extracted if e.name.lower() != USER_ENTITY.lower()]
    norms = [norm_name(user.name)] + [norm_name(n) for e in todo for n in (e.name, *e.aliases)]
    existing = [e for e in graph.find_entities(scope, norms) if e.scope == scope]
    _user(user, mine, existing, res, embedder)
    by_norm = {norm_name(n): e for e in existing for n in e.names}
    unresolved = []
    for ext in todo:
        hit = next(
            (by_norm[norm_name(n)] for n in (ext.name, *ext.aliases) if norm_name(n) in by_norm),
            None,
        )
        if hit is None and ext.type in UNNAMED:  # plain nouns: by name only, never embedded
            _new(scope, ext, res, None)
            continue
        if hit is None:
            unresolved.append(ext)
            continue
        known = res.touched.get(hit.id, hit)
        if (told := merged(known, ext)) is not hit:
            res.touched[hit.id] = told
        res.bind(ext, told)
    if unresolved:
        _by_embedding(scope, unresolved, res, graph, entity_vectors, embedder, merge_threshold)
    return res


def _user(
    user: Entity,
    mentions: list[ExtractedEntity],
    existing: list[Entity],
    res: Resolution,
    embedder: Embedder,
) -> None:
    """The user's node: written (with its name vector) unless stored, and rewritten when
    their own mentions (``USER``) tell new attributes of them."""
    stored = next((e for e in existing if e.id == user.id), None)
    if stored is None:
        res.touched[user.id] = user
        res.new[user.id] = embedder.embed([user.name], query=True)[0]
    for ext in mentions:
        known = res.touched.get(user.id, stored or user)
        if (told := merge_attributes(known, ext.attribute_values())) is not known:
            res.touched[user.id] = told


def _by_embedding(
    scope: Scope,
    unresolved: list[ExtractedEntity],
    res: Resolution,
    graph: GraphStore,
    entity_vectors: VectorStore,
    embedder: Embedder,
    threshold: float,
) -> None:
    vecs = embedder.embed([e.name for e in unresolved], query=True)
    hits = entity_vectors.query_batch(scope, vecs, 1)
    close = {h[0][0].text for h in hits if h and h[0][1] >= threshold and h[0][0].scope == scope}
    found = {e.id: e for e in graph.find_entities(scope, [norm_name(n) for n in close])}
    for ext, vec, hit in zip(unresolved, vecs, hits):
        target = None
        if hit and hit[0][1] >= threshold and hit[0][0].scope == scope:
            target = found.get(hit[0][0].id)
        if target is not None:
            told = merged(res.touched.get(target.id, target), ext)
            res.touched[target.id] = told
            res.bind(ext, told)
            continue
        _new(scope, ext, res, np.asarray(vec, dtype=np.float32))


def _new(scope: Scope, ext: ExtractedEntity, res: Resolution, vec: Vector | None) -> None:
    """A new entity (ids are stable per scope and name, so the same name in one batch is one
    entity); only named entities carry a name vector for later resolution."""
    ent = Entity(
        stable_id(scope.key, norm_name(ext.name)),
        ext.name,
        entity_label(ext.type),
        scope,
        tuple(a for a in ext.aliases if a != ext.name),
    )
    ent = merged(res.touched.get(ent.id, ent), ext)
    res.touched[ent.id] = ent
    if vec is not None:
        res.new[ent.id] = vec
    res.bind(ext, ent)
