"""How :meth:`Neo4jGraphStore.write <graphmem.stores.neo4j_store.Neo4jGraphStore.write>` turns
a :class:`~graphmem.models.GraphBatch` into a few UNWIND statements run in one transaction.

Building a :class:`BatchPlan` validates every label and relationship type before any I/O.
Labels and relationship types then travel as parameters like everything else (dynamic labels
and types, ``$(row.label)``, ``$(row.type)``, Neo4j 5.26+): nothing is put into query text.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from neo4j import ManagedTransaction

from ..errors import BackendError, InvalidInputError
from ..models import LABEL, RELATION_TYPE, Entity, GraphBatch, Relation, Scope, Source, norm_name
from . import cypher

Row = dict[str, Any]

#: graphmem's own labels: an entity type with one of these names gets no second label.
RESERVED_LABELS = frozenset({"Entity", "Fact", "Source"})


def checked(value: str, pattern: re.Pattern[str]) -> str:
    """``value`` if it may be used as a Neo4j label / relationship type, else an error."""
    if not isinstance(value, str) or not pattern.match(value):
        raise InvalidInputError(f"refusing to use {value!r} as a Neo4j label or relationship type")
    return value


def run_rows(tx: ManagedTransaction, query: str, **params: Any) -> list[Row]:
    return [dict(rec) for rec in tx.run(query, params)]


@dataclass(frozen=True)
class Step:
    """One UNWIND statement; ``missing`` names what is wrong when fewer rows match."""

    query: str
    rows: list[Row]
    missing: str | None = None

    def run(self, tx: ManagedTransaction) -> None:
        if not self.rows:
            return
        found = run_rows(tx, self.query, rows=self.rows)
        if self.missing and (not found or found[0]["n"] != len(self.rows)):
            raise BackendError(f"neo4j write failed: {self.missing}; nothing was written")


@dataclass(frozen=True)
class Invalidation:
    """Relations and :Fact nodes of the facts in ``rows`` (``{fid, at}``) become invalid at
    that fact's time, except what the batch re-writes (relation ids ``keep``, fact ids
    ``keep_facts``)."""

    rows: list[dict[str, Any]]
    keep: list[str]
    keep_facts: list[str]

    def run(self, tx: ManagedTransaction) -> None:
        if not self.rows:
            return
        run_rows(tx, cypher.load("store/invalidate_facts"), rows=self.rows, keep=self.keep)
        run_rows(
            tx, cypher.load("store/invalidate_fact_nodes"), rows=self.rows, keep=self.keep_facts
        )


@dataclass(frozen=True)
class BatchPlan:
    """A batch turned into UNWIND statements; building it validates every label and type."""

    invalidation: Invalidation
    entities: list[Entity]
    steps: list[Step]

    @classmethod
    def of(
        cls,
        batch: GraphBatch,
        invalidate_facts: Sequence[str],
        at: datetime,
        ended: Mapping[str, datetime],
    ) -> BatchPlan:
        entities = list({e.id: e for e in batch.entities}.values())
        for e in entities:
            checked(e.type, LABEL)
        keep_facts = {f for f, _ in batch.facts} | {r.fact_id for r in batch.relations}
        invalidation = Invalidation(
            [{"fid": f, "at": ended.get(f, at)} for f in dict.fromkeys(invalidate_facts)],
            [r.id for r in batch.relations],
            sorted(keep_facts),
        )
        return cls(invalidation, entities, [*_relation_steps(batch), *_link_steps(batch)])

    def run(self, tx: ManagedTransaction) -> None:
        self.invalidation.run(tx)
        if self.entities:
            rows = [_entity_row(e) for e in self.entities]
            found = run_rows(tx, cypher.load("store/write_entities"), rows=rows)
            _relabel(tx, self.entities, {r["id"]: r["old_type"] for r in found})
        for step in self.steps:
            step.run(tx)


def _relation_steps(batch: GraphBatch) -> list[Step]:
    """One statement for every relation of the batch, whatever their types: each row names
    its (validated) type, a dynamic type in the query. A statement per type, with the type in
    its text, was a round trip and a plan of its own per type (compiled again as the graph's
    statistics change), and 20 short personal facts have 23 types: measured on Neo4j 5.26,
    one statement is 20x faster for such a batch, and faster too for 1,000 relations of 24
    types from an entity of 12,000 relationships (docs/ingest-speed.md)."""
    rows = [_relation_row(r) for r in batch.relations]
    missing = "a relation refers to an entity that does not exist"
    return [Step(cypher.load("store/write_relations"), rows, missing)]


def _link_steps(batch: GraphBatch) -> list[Step]:
    """Mentions, sources, provenance and fact texts (after relations created their facts)."""
    mentions = list(dict.fromkeys(batch.mentions))
    derived = list(dict.fromkeys(batch.derived))
    return [
        Step(
            cypher.load("store/write_mentions"),
            [{"fact_id": f, "entity_id": e} for f, e in mentions],
            "a mention refers to an entity that does not exist",
        ),
        Step(cypher.load("store/write_sources"), [_source_row(s) for s in batch.sources]),
        Step(
            cypher.load("store/write_derived"),
            [{"fact_id": f, "source_id": s} for f, s in derived],
            "a fact is derived from a source that does not exist",
        ),
        Step(cypher.load("store/write_source_mentions"), _source_mentions(mentions, derived)),
        Step(cypher.load("store/write_facts"), _fact_rows(batch)),
    ]


def _relabel(tx: ManagedTransaction, entities: list[Entity], old: Row) -> None:
    """Give each entity its type as a second label, removing the label of a previous type."""
    remove: list[Row] = []
    add: list[Row] = []
    for e in entities:
        before = old.get(e.id)
        if before == e.type:
            continue
        if before and before not in RESERVED_LABELS and LABEL.match(before):
            remove.append({"id": e.id, "label": before})
        if e.type not in RESERVED_LABELS:
            add.append({"id": e.id, "label": checked(e.type, LABEL)})
    for name, rows in (("store/entity_label_remove", remove), ("store/entity_label_add", add)):
        if rows:
            tx.run(cypher.load(name), {"rows": rows}).consume()


def _source_mentions(mentions: list[tuple[str, str]], derived: list[tuple[str, str]]) -> list[Row]:
    by_fact: dict[str, list[str]] = defaultdict(list)
    for f, e in mentions:
        by_fact[f].append(e)
    pairs = dict.fromkeys((s, e) for f, s in derived for e in by_fact.get(f, ()))
    return [{"source_id": s, "entity_id": e} for s, e in pairs]


# -- values -> properties ------------------------------------------------------------------
def _fact_rows(batch: GraphBatch) -> list[Row]:
    """Text of each fact, the earliest ``valid_from`` of its relations in the batch, and their
    ``invalid_at`` when the fact arrives superseded (an older message added later: its
    relations are written invalid)."""
    starts: dict[str, datetime] = {}
    ends = {r.fact_id: r.invalid_at for r in batch.relations if r.invalid_at is not None}
    for r in batch.relations:
        if r.valid_from is not None and (
            r.fact_id not in starts or r.valid_from < starts[r.fact_id]
        ):
            starts[r.fact_id] = r.valid_from
    texts = dict(batch.facts)  # the last text given for an id wins
    return [
        {"id": f, "text": t, "valid_from": _iso(starts.get(f)), "invalid_at": _iso(ends.get(f))}
        for f, t in texts.items()
    ]


def _iso(at: datetime | None) -> str | None:
    """Times travel as ISO strings, made ``datetime``s by the query: the driver packs a
    Python ``datetime`` ~10× slower than the rest of a row."""
    return at.isoformat() if at is not None else None


def _scope_props(scope: Scope) -> Row:
    return {**scope.as_dict(), "scope_key": scope.key}


def _entity_row(e: Entity) -> Row:
    props = {
        "name": e.name,
        "type": e.type,
        "aliases": list(e.aliases),
        "aliases_text": "\n".join(e.aliases),
        "norm": norm_name(e.name),
        "alias_norms": [norm_name(a) for a in e.aliases],
        # one JSON string, readable (none: no property): any JSON value, nested too, and no
        # field name of the user's models can meet graphmem's own properties
        "attributes": (
            json.dumps(e.attributes, ensure_ascii=False, default=str) if e.attributes else None
        ),
        **_scope_props(e.scope),
    }
    return {"id": e.id, "props": props, "created_at": _iso(e.created_at)}


def _relation_row(r: Relation) -> Row:
    props = {
        "fact_id": r.fact_id,
        "weight": float(r.weight),
        **_scope_props(r.scope),
    }
    times = {k: _iso(getattr(r, k)) for k in ("valid_from", "invalid_at", "created_at")}
    ends = {"source_id": r.source_id, "target_id": r.target_id}
    return {"id": r.id, "type": checked(r.relation, RELATION_TYPE), **ends, "props": props, **times}


def _source_row(s: Source) -> Row:
    props = {
        "content": s.content,
        "role": s.role,
        "title": s.title,
        "title_norm": norm_name(s.title) if s.title else None,
        "metadata": json.dumps(s.metadata, default=str),
        **_scope_props(s.scope),
    }
    return {"id": s.id, "props": props, "created_at": _iso(s.created_at)}
