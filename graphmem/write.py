"""The write path: extraction → entity resolution → reconciliation → one journaled plan."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from .config import Config
from .errors import ExtractionError
from .extract.llm import fence
from .extract.offline import OPPOSITES
from .models import (
    USER_ENTITY,
    Entity,
    FactRecord,
    GraphBatch,
    Relation,
    Scope,
    Source,
    entity_label,
    fact_id,
    iso,
    new_id,
    norm_name,
    relation_type,
    stable_id,
)
from .plan import Plan
from .prompts import RECONCILE_SYSTEM, Decisions, Extraction
from .protocols import LLM, Embedder, GraphStore, VectorStore

log = logging.getLogger("graphmem")
_WORD = re.compile(r"\w+")
_STOP = {"the", "a", "an", "i", "my", "is", "am", "are", "was", "to", "of", "and", "in", "at", "on"}


def user_entity(scope: Scope) -> Entity:
    """The one canonical node that stands for the owner of a scope."""
    name = scope.user_id or scope.agent_id or scope.run_id or USER_ENTITY
    return Entity(stable_id(scope.key, "__user__"), name, "Person", scope, (USER_ENTITY, "I", "me"))


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


@dataclass
class Writer:
    config: Config
    embedder: Embedder
    vectors: VectorStore
    entity_vectors: VectorStore
    graph: GraphStore
    llm: LLM | None = None
    _new_entities: dict[str, Entity] = field(default_factory=dict)

    # -- entity resolution -----------------------------------------------------------------
    def resolve_entities(self, scope: Scope, extraction: Extraction) -> dict[str, Entity]:
        """Map every extracted name (and alias) to an existing or a new entity of ``scope``."""
        user = user_entity(scope)
        out: dict[str, Entity] = {USER_ENTITY.lower(): user, norm_name(user.name): user}
        self._new_entities[user.id] = user
        todo = [e for e in extraction.entities if e.name.lower() != USER_ENTITY.lower()]
        norms = [norm_name(n) for e in todo for n in (e.name, *e.aliases)]
        existing = [e for e in self.graph.find_entities(scope, norms) if e.scope == scope]
        by_norm = {norm_name(n): e for e in existing for n in e.names}
        unresolved = []
        for ext in todo:
            hit = next(
                (
                    by_norm[norm_name(n)]
                    for n in (ext.name, *ext.aliases)
                    if norm_name(n) in by_norm
                ),
                None,
            )
            if hit is None:
                unresolved.append(ext)
                continue
            merged = replace(hit, aliases=_merge_aliases(hit, [ext.name, *ext.aliases]))
            for n in (ext.name, *ext.aliases):
                out[n.lower()] = merged
            self._new_entities[merged.id] = merged
        if unresolved:
            vecs = self.embedder.embed([e.name for e in unresolved])
            for ext, vec in zip(unresolved, vecs):
                hits = self.entity_vectors.query(scope, vec, 1)
                if (
                    hits
                    and hits[0][1] >= self.config.entity_merge_threshold
                    and hits[0][0].scope == scope
                ):
                    found = self.graph.find_entities(scope, [norm_name(hits[0][0].text)])
                    target = next((e for e in found if e.id == hits[0][0].id), None)
                    if target is not None:
                        merged = replace(
                            target, aliases=_merge_aliases(target, [ext.name, *ext.aliases])
                        )
                        self._new_entities[merged.id] = merged
                        for n in (ext.name, *ext.aliases):
                            out[n.lower()] = merged
                        continue
                ent = Entity(
                    stable_id(scope.key, norm_name(ext.name)),
                    ext.name,
                    entity_label(ext.type),
                    scope,
                    tuple(a for a in ext.aliases if a != ext.name),
                )
                self._new_entities[ent.id] = ent
                for n in (ext.name, *ext.aliases):
                    out.setdefault(n.lower(), ent)
        return out

    # -- plan ------------------------------------------------------------------------------
    def plan(
        self,
        scope: Scope,
        extraction: Extraction,
        sources: list[Source],
        metadata: dict[str, Any],
        at: datetime,
        valid_from: datetime | None,
        reconcile: bool = True,
        update_of: FactRecord | None = None,
    ) -> tuple[Plan, list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        self._new_entities = {}
        plan = Plan(id=new_id(), at=iso(at) or "")
        results: list[dict[str, Any]] = []
        rel_report: dict[str, list[dict[str, Any]]] = {"added": [], "invalidated": []}
        facts = [f for f in extraction.facts if f.text.strip()]
        if not facts:
            plan.graph = GraphBatch(sources=tuple(sources))
            return plan, results, rel_report
        names = self.resolve_entities(scope, extraction)
        texts = [f.text for f in facts]
        vecs = self.embedder.embed(texts)
        if update_of is not None:  # Memory.update: the whole text replaces one memory
            texts, vecs = [" ".join(texts)], self.embedder.embed([" ".join(texts)])
            facts = [
                facts[0].model_copy(
                    update={
                        "entities": sorted({n for f in facts for n in f.entities}),
                        "relations": [r for f in facts for r in f.relations],
                    }
                )
            ]
            decisions: list[tuple[str, FactRecord | None]] = [("UPDATE", update_of)]
        elif reconcile:  # may rewrite texts (LLM UPDATE merges)
            decisions = self._decide(scope, texts, vecs)
        else:
            decisions = [("ADD", None)] * len(texts)
        changed = [i for i, f in enumerate(facts) if texts[i] != f.text]
        if changed:
            vecs[changed] = self.embedder.embed([texts[i] for i in changed])
        facts = [f.model_copy(update={"text": t}) for f, t in zip(facts, texts)]
        source_ids = tuple(s.id for s in sources)
        relations: list[Relation] = []
        mentions: list[tuple[str, str]] = []
        invalidated: dict[str, FactRecord] = {}
        taken: dict[str, str] = {}  # normalised text → fact id, duplicates within this add
        for fact, vec, (event, old) in zip(facts, vecs, decisions):
            key = " ".join(_WORD.findall(fact.text.lower()))
            if event == "NONE" or key in taken:
                results.append(
                    {"id": old.id if old else taken[key], "memory": fact.text, "event": "NONE"}
                )
                continue
            if event == "UPDATE" and old is not None:
                rec = replace(
                    old,
                    text=fact.text,
                    updated_at=at,
                    metadata={**old.metadata, **metadata},
                    source_ids=tuple(dict.fromkeys((*old.source_ids, *source_ids))),
                )
                plan.invalidate_facts.append(old.id)
                results.append(
                    {
                        "id": old.id,
                        "memory": fact.text,
                        "event": "UPDATE",
                        "previous_memory": old.text,
                    }
                )
                plan.history.append(self._event(old.id, "UPDATE", old.text, fact.text, at))
            else:
                rec = FactRecord(
                    fact_id(scope),
                    fact.text,
                    scope,
                    dict(metadata),
                    at,
                    None,
                    valid_from,
                    None,
                    source_ids,
                )
                results.append({"id": rec.id, "memory": fact.text, "event": "ADD"})
                plan.history.append(self._event(rec.id, "ADD", None, fact.text, at))
                if event == "DELETE" and old is not None:
                    invalidated[old.id] = old
            taken[key] = rec.id
            plan.facts.append(rec)
            plan.embeddings.append(vec.tolist())
            for name in fact.entities:
                if name.lower() in names:
                    mentions.append((rec.id, names[name.lower()].id))
            for r in fact.relations:
                src, dst = names.get(r.source.lower()), names.get(r.target.lower())
                try:
                    rel = relation_type(r.relation)
                except ValueError:
                    log.warning("skipping relation with invalid type %r", r.relation)
                    continue
                if src is None or dst is None or src.id == dst.id:
                    continue
                vf = _parse_valid_from(r.valid_from) or valid_from
                relations.append(
                    Relation(
                        stable_id(rec.id, src.id, rel, dst.id),
                        src.id,
                        rel,
                        dst.id,
                        rec.id,
                        scope,
                        vf,
                        None,
                        at,
                        r.weight,
                    )
                )
                mentions += [(rec.id, src.id), (rec.id, dst.id)]
                rel_report["added"].append(
                    {"source": src.name, "relationship": rel, "target": dst.name}
                )
        for old_rel in self._contradicted(scope, relations):
            fact_old = self.vectors.get([old_rel.fact_id])
            if fact_old and fact_old[0].invalid_at is None and fact_old[0].id not in taken.values():
                invalidated[fact_old[0].id] = fact_old[0]
        for old in invalidated.values():
            plan.invalidate_facts.append(old.id)
            plan.fact_updates.append(replace(old, invalid_at=at, updated_at=at))
            results.append({"id": old.id, "memory": old.text, "event": "DELETE"})
            plan.history.append(self._event(old.id, "DELETE", old.text, None, at))
        for stale in self.graph.relations(scope, fact_ids=list(invalidated)):
            rel_report["invalidated"].append(self._describe(stale))
        entities = {**self._new_entities}
        plan.graph = GraphBatch(
            tuple(entities.values()),
            tuple(relations),
            tuple(dict.fromkeys(mentions)),
            tuple(sources),
            tuple((f.id, s) for f in plan.facts for s in source_ids),
            tuple((f.id, f.text) for f in plan.facts),
        )
        new_ents = list(entities.values())
        if new_ents:
            plan.entity_records = [
                FactRecord(e.id, e.name, e.scope, {"type": e.type}, at) for e in new_ents
            ]
            plan.entity_embeddings = self.embedder.embed([e.name for e in new_ents]).tolist()
        return plan, results, rel_report

    def _describe(self, rel: Relation) -> dict[str, Any]:
        names = {e.id: e.name for e in self.graph.entities(rel.scope)}
        ents = {**names, **{e.id: e.name for e in self._new_entities.values()}}
        return {
            "source": ents.get(rel.source_id, rel.source_id),
            "relationship": rel.relation,
            "target": ents.get(rel.target_id, rel.target_id),
        }

    def _contradicted(self, scope: Scope, new: list[Relation]) -> list[Relation]:
        """Current relations that a new one contradicts: a single-valued relation from the same
        source to another target, or the opposite relation (LIKES/DISLIKES) to the same target."""
        single = set(self.config.single_valued_relations)
        relevant = [
            r
            for r in new
            if r.relation in single
            or r.relation.startswith("HAS_FAVORITE")
            or r.relation in OPPOSITES
        ]
        if not relevant:
            return []
        existing = self.graph.relations(scope, entity_ids=list({r.source_id for r in relevant}))
        new_facts = {r.fact_id for r in new}
        out = []
        for r in relevant:
            for old in existing:
                if old.fact_id in new_facts or old.source_id != r.source_id:
                    continue
                if (
                    old.relation == r.relation
                    and old.target_id != r.target_id
                    and r.relation not in OPPOSITES
                ) or (OPPOSITES.get(r.relation) == old.relation and old.target_id == r.target_id):
                    out.append(old)
        return out

    def _event(
        self, memory_id: str, event: str, old: str | None, new: str | None, at: datetime
    ) -> dict[str, Any]:
        return {
            "id": new_id(),
            "memory_id": memory_id,
            "event": event,
            "old_memory": old,
            "new_memory": new,
            "created_at": iso(at),
        }

    # -- reconciliation --------------------------------------------------------------------
    def _decide(
        self, scope: Scope, texts: list[str], vecs: np.ndarray[Any, Any]
    ) -> list[tuple[str, FactRecord | None]]:
        cands = [self.vectors.query(scope, v, self.config.reconcile_candidates) for v in vecs]
        if self.llm is not None and any(cands):
            return self._decide_llm(texts, cands)
        out: list[tuple[str, FactRecord | None]] = []
        for text, hits in zip(texts, cands):
            if not hits:
                out.append(("ADD", None))
                continue
            best, sim = hits[0]
            if sim >= self.config.dedup_threshold or _words(best.text) == _words(text):
                out.append(("NONE", best))
            elif sim >= self.config.update_threshold and _words(best.text) < _words(text):
                out.append(("UPDATE", best))
            else:
                out.append(("ADD", None))
        return out

    def _decide_llm(
        self, texts: list[str], cands: list[list[tuple[FactRecord, float]]]
    ) -> list[tuple[str, FactRecord | None]]:
        assert self.llm is not None
        existing: dict[str, FactRecord] = {}
        for hits in cands:
            for rec, _ in hits:
                if rec.id not in {r.id for r in existing.values()}:
                    existing[str(len(existing))] = rec
        body = "EXISTING:\n" + "\n".join(f"{k}: {r.text}" for k, r in existing.items())
        body += "\nNEW:\n" + "\n".join(f"N{i}: {t}" for i, t in enumerate(texts))
        user = fence("memory-data", body)
        reply = self.llm.complete(RECONCILE_SYSTEM, user, Decisions)
        by_new = {d.new_id: d for d in reply.decisions}
        out: list[tuple[str, FactRecord | None]] = []
        for i in range(len(texts)):
            d = by_new.get(f"N{i}")
            if d is None:
                raise ExtractionError(f"reconciliation reply has no decision for N{i}")
            if d.event != "ADD" and d.existing_id not in existing:
                raise ExtractionError(
                    f"reconciliation reply names unknown memory id {d.existing_id!r}"
                )
            old = existing.get(d.existing_id or "")
            if d.event == "UPDATE" and d.text:
                texts[i] = d.text
            out.append((d.event, old))
        return out


def _merge_aliases(entity: Entity, names: list[str]) -> tuple[str, ...]:
    seen = {norm_name(n) for n in entity.names}
    extra = [n for n in names if norm_name(n) not in seen]
    return tuple(dict.fromkeys([*entity.aliases, *extra]))


def _parse_valid_from(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        from .models import parse_ts

        return parse_ts(value)
    except ValueError:
        return None
