"""The write path: extraction → entity resolution → reconciliation → one journaled plan."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from .config import Config
from .models import (
    FACTS_KEY,
    TITLE_KEY,
    FactRecord,
    GraphBatch,
    Relation,
    Scope,
    Source,
    fact_id,
    iso,
    new_id,
    parse_ts,
    relation_type,
    searchable,
    stable_id,
)
from .plan import Plan
from .prompts import ExtractedEntity, ExtractedFact, Extraction
from .protocols import LLM, Embedder, GraphStore, VectorStore, raw_threshold
from .reconcile import Verdict, contradicted, contradicted_within, decide
from .resolve import Resolution, resolve

log = logging.getLogger("graphmem")
_WORD = re.compile(r"\w+")
Report = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Item:
    """One unit of input (a message list, a passage) with its own provenance."""

    extraction: Extraction
    sources: list[Source]
    metadata: dict[str, Any] = field(default_factory=dict)
    valid_from: datetime | None = None


@dataclass
class _Draft:
    """What a plan accumulates while its facts are decided."""

    scope: Scope
    at: datetime
    plan: Plan
    results: list[dict[str, Any]] = field(default_factory=list)
    report: Report = field(default_factory=lambda: {"added": [], "invalidated": []})
    relations: list[Relation] = field(default_factory=list)
    mentions: list[tuple[str, str]] = field(default_factory=list)
    derived: list[tuple[str, str]] = field(default_factory=list)
    invalidated: dict[str, FactRecord] = field(default_factory=dict)
    superseded: dict[str, str] = field(default_factory=dict)  # invalidated id → new fact id
    taken: dict[str, str] = field(default_factory=dict)  # normalised text → fact id

    def event(
        self,
        memory_id: str,
        event: str,
        old: str | None,
        new: str | None,
        superseded_by: str | None = None,
    ) -> None:
        self.plan.history.append(
            {
                "id": new_id(),
                "memory_id": memory_id,
                "event": event,
                "old_memory": old,
                "new_memory": new,
                "created_at": iso(self.at),
                "superseded_by": superseded_by,
                "scope": self.scope.key,
            }
        )


def _supersede(d: _Draft, old: FactRecord, written: dict[str, FactRecord]) -> None:
    """``old`` stops holding when the memory that contradicts it began to."""
    by = d.superseded.get(old.id)
    end = _ended(old, written.get(by or ""), d.at)
    d.plan.invalidate_facts.append(old.id)
    d.plan.ended[old.id] = iso(end) or ""
    latest = _claim(d, old)  # with the sources a duplicate attached
    d.plan.fact_updates.append(replace(latest, invalid_at=end, updated_at=d.at))
    d.results.append({"id": old.id, "memory": old.text, "event": "DELETE", "superseded_by": by})
    d.event(old.id, "DELETE", old.text, None, superseded_by=by)


def _before(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and b is not None and a < b


def _ended(old: FactRecord, new: FactRecord | None, at: datetime) -> datetime:
    """When ``old`` stopped holding: when the memory that contradicts it began to (the event
    time of its message), else now; never before ``old`` itself began."""
    end = new.valid_from if new is not None and new.valid_from is not None else at
    return max(end, old.valid_from) if old.valid_from is not None else end


def source_record(s: Source, fact_ids: list[str]) -> FactRecord:
    md = {**s.metadata, TITLE_KEY: s.title, "_role": s.role, FACTS_KEY: json.dumps(fact_ids)}
    return FactRecord(
        s.id,
        s.content,
        s.scope,
        {k: v for k, v in md.items() if v is not None},
        s.created_at,
        None,
        s.created_at,
    )


def _entities(items: list[Item]) -> list[ExtractedEntity]:
    """The extracted entities that some fact actually names (mentions or relations), each
    name once, but every mention that gives attributes, in the order said (resolution merges
    them: the later values win)."""
    used = {
        n.lower()
        for it in items
        for f in it.extraction.facts
        for n in (*f.entities, *(x for r in f.relations for x in (r.source, r.target)))
    }
    out: list[ExtractedEntity] = []
    seen: set[str] = set()
    for it in items:
        for e in it.extraction.entities:
            if not {n.lower() for n in (e.name, *e.aliases)} & used:
                continue
            if e.name.lower() not in seen or e.attribute_values():
                out.append(e)
                seen.add(e.name.lower())
    return out


@dataclass
class Writer:
    config: Config
    embedder: Embedder
    vectors: VectorStore
    entity_vectors: VectorStore
    graph: GraphStore
    llm: LLM | None = None

    def plan(
        self,
        scope: Scope,
        items: list[Item],
        at: datetime,
        reconcile: bool = True,
        update_of: FactRecord | None = None,
    ) -> tuple[Plan, list[dict[str, Any]], Report]:
        d = _Draft(scope, at, Plan(id=new_id(), at=iso(at) or ""))
        facts = [(it, f) for it in items for f in it.extraction.facts if f.text.strip()]
        sources = tuple(s for it in items for s in it.sources)
        if not facts:
            d.plan.graph = GraphBatch(sources=sources)
            self._sources(d, sources)
            return d.plan, d.results, d.report
        res = resolve(
            scope,
            _entities(items),
            self.graph,
            self.entity_vectors,
            self.embedder,
            raw_threshold(self.config.entity_merge_threshold, self.embedder.floor),
        )
        if update_of is not None:  # Memory.update: the whole text replaces one memory
            facts = [(facts[0][0], _merge([f for _, f in facts]))]
        texts = [f.text for _, f in facts]
        vecs = self.embedder.embed(texts)
        if update_of is not None:
            verdicts: list[Verdict] = [("UPDATE", update_of, texts[0])]
        elif reconcile:
            verdicts = decide(
                self.config, self.vectors, self.llm, scope, texts, vecs, self.embedder.floor
            )
        else:
            verdicts = [("ADD", None, t) for t in texts]
        changed = [i for i, v in enumerate(verdicts) if v[2] != texts[i]]
        if changed:  # the LLM merged texts: embed what is stored
            vecs[changed] = self.embedder.embed([verdicts[i][2] for i in changed])
        for (item, fact), vec, verdict in zip(facts, vecs, verdicts):
            self._fact(d, res, item, fact, vec.tolist(), verdict)
        self._invalidate(d, res)
        self._finish(d, res, sources)
        return d.plan, d.results, d.report

    def _fact(
        self,
        d: _Draft,
        res: Resolution,
        item: Item,
        fact: ExtractedFact,
        vec: list[float],
        verdict: Verdict,
    ) -> None:
        event, old, text = verdict
        key = " ".join(_WORD.findall(text.lower()))
        source_ids = tuple(s.id for s in item.sources)
        if event == "NONE" or key in d.taken:
            stored = old if event == "NONE" else None
            same = stored.id if stored else d.taken.get(key)
            if same is not None:
                self._attach(d, same, stored, source_ids)
            d.results.append({"id": same, "memory": text, "event": "NONE"})
            return
        if old is not None and old.id in d.taken.values():
            event = "ADD"  # that memory was already rewritten by this batch: keep both
        if event == "UPDATE" and old is not None:
            old = _claim(d, old)
            rec = replace(
                old,
                text=text,
                updated_at=d.at,
                metadata={**old.metadata, **item.metadata},
                source_ids=tuple(dict.fromkeys((*old.source_ids, *source_ids))),
            )
            d.plan.invalidate_facts.append(old.id)
            d.results.append(
                {"id": old.id, "memory": text, "event": "UPDATE", "previous_memory": old.text}
            )
            d.event(old.id, "UPDATE", old.text, text)
        else:
            rec = FactRecord(
                fact_id(d.scope),
                text,
                d.scope,
                dict(item.metadata),
                d.at,
                None,
                item.valid_from,
                None,
                source_ids,
            )
            d.results.append({"id": rec.id, "memory": text, "event": "ADD"})
            d.event(rec.id, "ADD", None, text)
            if event == "DELETE" and old is not None:
                d.invalidated[old.id] = old
                d.superseded[old.id] = rec.id
        d.taken[key] = rec.id
        d.plan.facts.append(rec)
        d.plan.embeddings.append(vec)
        d.derived += [(rec.id, s) for s in source_ids]
        d.mentions += [
            (rec.id, res.by_name[n.lower()].id) for n in fact.entities if n.lower() in res.by_name
        ]
        self._relations(d, res, rec, fact, item.valid_from)

    @staticmethod
    def _attach(
        d: _Draft, fact: str, stored: FactRecord | None, source_ids: tuple[str, ...]
    ) -> None:
        """A duplicate adds nothing but its provenance: the memory it repeats now also comes
        from these sources (so every message that said it can be found)."""
        for records in (d.plan.facts, d.plan.fact_updates):  # already written by this batch
            at = next((i for i, f in enumerate(records) if f.id == fact), None)
            if at is not None:
                records[at] = _with_sources(d, records[at], source_ids)
                return
        if stored is not None:
            d.plan.fact_updates.append(_with_sources(d, stored, source_ids))

    def _relations(
        self,
        d: _Draft,
        res: Resolution,
        rec: FactRecord,
        fact: ExtractedFact,
        valid_from: datetime | None,
    ) -> None:
        for r in fact.relations:
            src, dst = res.by_name.get(r.source.lower()), res.by_name.get(r.target.lower())
            try:
                rel = relation_type(r.relation)
            except ValueError:
                log.warning("skipping relation with invalid type %r", r.relation)
                continue
            if src is None or dst is None or src.id == dst.id:
                continue
            vf = _ts(r.valid_from) or valid_from
            d.relations.append(
                Relation(
                    stable_id(rec.id, src.id, rel, dst.id),
                    src.id,
                    rel,
                    dst.id,
                    rec.id,
                    d.scope,
                    vf,
                    None,
                    d.at,
                    r.weight,
                )
            )
            d.mentions += [(rec.id, src.id), (rec.id, dst.id)]
            d.report["added"].append({"source": src.name, "relationship": rel, "target": dst.name})

    def _invalidate(self, d: _Draft, res: Resolution) -> None:
        stale = contradicted(self.config, self.graph, d.scope, d.relations)
        mine = set(d.taken.values())
        by = {old.fact_id: new.fact_id for old, new in stale}
        for rec in self.vectors.get(list(by), include_invalid=False):
            if rec.id not in mine:
                d.invalidated[rec.id] = rec
                d.superseded.setdefault(rec.id, by[rec.id])
        written = {f.id: f for f in d.plan.facts}
        outdated: dict[str, FactRecord] = {}  # new fact id → the later memory superseding it
        for old in list(d.invalidated.values()):
            new = written.get(d.superseded.get(old.id) or "")
            if new is not None and _before(new.valid_from, old.valid_from):
                del d.invalidated[old.id]  # the news is older than what it contradicts
                outdated.setdefault(new.id, old)
        for early, late in contradicted_within(self.config, d.relations, d.at):
            now, was = written[late.fact_id], outdated.get(early.fact_id)
            if was is None or _before(now.valid_from, was.valid_from):  # the first to end it
                outdated[early.fact_id] = now
        self._outdated(d, outdated)
        for old in d.invalidated.values():
            _supersede(d, old, written)
        gone = self.graph.relations(d.scope, fact_ids=list(d.invalidated))
        gone += [r for r in d.relations if r.fact_id in outdated]
        if gone:
            ids = {r.source_id for r in gone} | {r.target_id for r in gone}
            names = {e.id: e.name for e in self.graph.entities(d.scope) if e.id in ids}
            names.update({e.id: e.name for e in res.touched.values()})
            d.report["invalidated"] += [
                {
                    "source": names.get(r.source_id, r.source_id),
                    "relationship": r.relation,
                    "target": names.get(r.target_id, r.target_id),
                }
                for r in gone
            ]

    @staticmethod
    def _outdated(d: _Draft, outdated: dict[str, FactRecord]) -> None:
        """New facts that began before a memory contradicting them (a message added out of
        order, or an earlier message of the same batch): each is history on arrival, invalid
        from when that memory began (or now), and that memory stays current."""
        ends = {new: old.valid_from or d.at for new, old in outdated.items()}
        for i, f in enumerate(d.plan.facts):
            if f.id in ends:
                d.plan.facts[i] = replace(f, invalid_at=ends[f.id])
        d.relations = [
            replace(r, invalid_at=ends[r.fact_id]) if r.fact_id in ends else r for r in d.relations
        ]
        for r in d.results:
            if r["event"] == "ADD" and r["id"] in ends:
                r["superseded_by"] = later = outdated[r["id"]].id
                d.event(r["id"], "DELETE", r["memory"], None, superseded_by=later)

    def _finish(self, d: _Draft, res: Resolution, sources: tuple[Source, ...]) -> None:
        d.plan.graph = GraphBatch(
            tuple(res.touched.values()),
            tuple(d.relations),
            tuple(dict.fromkeys(d.mentions)),
            sources,
            tuple(dict.fromkeys(d.derived)),
            tuple((f.id, f.text) for f in d.plan.facts),
        )
        self._sources(d, sources)
        new = [res.touched[i] for i in res.new]
        d.plan.entity_records = [
            FactRecord(e.id, e.name, e.scope, {"type": e.type}, d.at) for e in new
        ]
        d.plan.entity_embeddings = [res.new[e.id].tolist() for e in new]

    def _sources(self, d: _Draft, sources: tuple[Source, ...]) -> None:
        """Sources are searchable too (passages, messages); a message that became exactly
        one fact reuses that fact's vector. A source with a context (the messages before it)
        is embedded alone and after each tail of its context (the message before; the two
        before), and keeps the mean of those vectors: its similarity to a query is the mean of
        the similarities (the store ranks by inner product), so "It taught me
        self-acceptance" also answers for the book asked about the turn before. Measured on
        LoCoMo; a normalised mean loses most of the gain."""
        known = {f.text: np.asarray(v) for f, v in zip(d.plan.facts, d.plan.embeddings)}
        by_source: dict[str, list[str]] = {}
        for fid, sid in d.derived:
            by_source.setdefault(sid, []).append(fid)
        records = [source_record(s, by_source.get(s.id, [])) for s in sources]
        texts = {r.id: searchable(r.text, r.metadata) for r in records}
        reads = {
            s.id: [texts[s.id]]
            + ["\n".join((*s.context[i:], texts[s.id])) for i in reversed(range(len(s.context)))]
            for s in sources
        }
        todo = [t for ts in reads.values() for t in ts if t not in known]
        todo = list(dict.fromkeys(todo))  # "Thanks!" twice is embedded once
        fresh = dict(zip(todo, self.embedder.embed(todo))) if todo else {}
        vecs = {**fresh, **known}

        def vector(rid: str) -> list[float]:
            out: list[float] = np.mean([vecs[t] for t in reads[rid]], axis=0).tolist()
            return out

        d.plan.source_records = records
        d.plan.source_embeddings = [vector(r.id) for r in records]


def about(extraction: Extraction, title: str) -> Extraction:
    """A titled passage is about its title: every fact of it mentions the title entity, which
    links an entity to the passages and facts about it (the bridge multi-hop needs)."""
    entities = [*extraction.entities]
    if title.lower() not in {e.name.lower() for e in entities}:
        entities.append(ExtractedEntity(name=title, type="Topic"))
    facts = [
        f.model_copy(update={"entities": sorted({*f.entities, title})}) for f in extraction.facts
    ]
    return Extraction(facts=facts, entities=entities)


def _claim(d: _Draft, old: FactRecord) -> FactRecord:
    """``old`` with what this batch already changed in it (sources a duplicate attached); the
    caller writes it whole, so the pending metadata update is dropped."""
    pending = [f for f in d.plan.fact_updates if f.id == old.id]
    d.plan.fact_updates = [f for f in d.plan.fact_updates if f.id != old.id]
    return pending[-1] if pending else old


def _with_sources(d: _Draft, rec: FactRecord, source_ids: tuple[str, ...]) -> FactRecord:
    new = [s for s in source_ids if s not in rec.source_ids]
    d.derived += [(rec.id, s) for s in new]
    return replace(rec, source_ids=(*rec.source_ids, *new)) if new else rec


def _merge(facts: list[ExtractedFact]) -> ExtractedFact:
    return ExtractedFact(
        text=" ".join(f.text for f in facts),
        entities=sorted({n for f in facts for n in f.entities}),
        relations=[r for f in facts for r in f.relations],
    )


def _ts(value: str | None) -> datetime | None:
    try:
        return parse_ts(value)
    except ValueError:
        return None
