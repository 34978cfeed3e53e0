"""A write plan: everything one operation writes to both stores, journaled as JSON first.

Plans carry their own ids, timestamps and embeddings, so applying one twice gives the same
result: that is what makes a crash between the vector store and the graph store heal.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidInputError
from .models import (
    RELATION_TYPE,
    Entity,
    FactRecord,
    GraphBatch,
    Relation,
    Scope,
    Source,
    iso,
    parse_ts,
)


def _scope(d: dict[str, Any]) -> Scope:
    return Scope(d.get("user_id"), d.get("agent_id"), d.get("run_id"))


def _ts(v: Any) -> Any:
    return parse_ts(v)


def fact_to_dict(f: FactRecord) -> dict[str, Any]:
    return {
        "id": f.id,
        "text": f.text,
        "scope": f.scope.as_dict(),
        "metadata": f.metadata,
        "created_at": iso(f.created_at),
        "updated_at": iso(f.updated_at),
        "valid_from": iso(f.valid_from),
        "invalid_at": iso(f.invalid_at),
        "source_ids": list(f.source_ids),
    }


def fact_from_dict(d: dict[str, Any]) -> FactRecord:
    return FactRecord(
        d["id"],
        d["text"],
        _scope(d["scope"]),
        d["metadata"],
        _ts(d["created_at"]),
        _ts(d["updated_at"]),
        _ts(d["valid_from"]),
        _ts(d["invalid_at"]),
        tuple(d["source_ids"]),
    )


def relation_to_dict(r: Relation) -> dict[str, Any]:
    return {
        "id": r.id,
        "source_id": r.source_id,
        "relation": r.relation,
        "target_id": r.target_id,
        "fact_id": r.fact_id,
        "scope": r.scope.as_dict(),
        "valid_from": iso(r.valid_from),
        "invalid_at": iso(r.invalid_at),
        "created_at": iso(r.created_at),
        "weight": r.weight,
    }


def source_to_dict(s: Source) -> dict[str, Any]:
    return {
        "id": s.id,
        "scope": s.scope.as_dict(),
        "content": s.content,
        "role": s.role,
        "title": s.title,
        "created_at": iso(s.created_at),
        "metadata": s.metadata,
    }


def batch_to_dict(b: GraphBatch) -> dict[str, Any]:
    return {
        "entities": [
            {
                "id": e.id,
                "name": e.name,
                "type": e.type,
                "scope": e.scope.as_dict(),
                "aliases": list(e.aliases),
                "created_at": iso(e.created_at),
                "attributes": e.attributes,
            }
            for e in b.entities
        ],
        "relations": [relation_to_dict(r) for r in b.relations],
        "mentions": [list(m) for m in b.mentions],
        "sources": [source_to_dict(s) for s in b.sources],
        "derived": [list(d) for d in b.derived],
        "facts": [list(f) for f in b.facts],
    }


def batch_from_dict(d: dict[str, Any]) -> GraphBatch:
    return GraphBatch(
        entities=tuple(
            Entity(
                e["id"],
                e["name"],
                e["type"],
                _scope(e["scope"]),
                tuple(e["aliases"]),
                _ts(e["created_at"]),
                e.get("attributes", {}),  # none in a plan journaled before attributes
            )
            for e in d["entities"]
        ),
        relations=tuple(
            Relation(
                r["id"],
                r["source_id"],
                r["relation"],
                r["target_id"],
                r["fact_id"],
                _scope(r["scope"]),
                _ts(r["valid_from"]),
                _ts(r["invalid_at"]),
                _ts(r["created_at"]),
                r["weight"],
            )
            for r in d["relations"]
        ),
        mentions=tuple((m[0], m[1]) for m in d["mentions"]),
        sources=tuple(
            Source(
                s["id"],
                _scope(s["scope"]),
                s["content"],
                s["role"],
                s["title"],
                _ts(s["created_at"]),
                s["metadata"],
            )
            for s in d["sources"]
        ),
        derived=tuple((x[0], x[1]) for x in d["derived"]),
        facts=tuple((x[0], x[1]) for x in d.get("facts", [])),
    )


@dataclass
class Plan:
    id: str
    at: str
    facts: list[FactRecord] = field(default_factory=list)  # upserted with embeddings
    embeddings: list[list[float]] = field(default_factory=list)
    delete_scope: dict[str, Any] | None = None
    fact_updates: list[FactRecord] = field(default_factory=list)  # metadata-only updates
    entity_records: list[FactRecord] = field(default_factory=list)  # entity-name vectors
    entity_embeddings: list[list[float]] = field(default_factory=list)
    source_records: list[FactRecord] = field(default_factory=list)  # passages / messages
    source_embeddings: list[list[float]] = field(default_factory=list)
    graph: GraphBatch = field(default_factory=GraphBatch)
    invalidate_facts: list[str] = field(default_factory=list)
    ended: dict[str, str] = field(default_factory=dict)  # fact id → when it stopped holding
    delete_facts: list[str] = field(default_factory=list)
    #: sources (messages, passages) that back no memory once ``delete_facts`` are gone
    delete_sources: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        """The plan as strict JSON (UTF-8, no NaN): what the journal stores. Raises
        ``InvalidInputError`` for anything a store could not hold, before it is journaled."""
        bad = [r.relation for r in self.graph.relations if not RELATION_TYPE.match(r.relation)]
        if bad:
            raise InvalidInputError(f"write refused, nothing stored: relation types {bad!r:.200}")
        try:
            text = json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)
            text.encode("utf-8")
        except (TypeError, ValueError) as e:  # UnicodeEncodeError is a ValueError
            raise InvalidInputError(f"write refused, nothing stored: {e}") from e
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "facts": [fact_to_dict(f) for f in self.facts],
            "embeddings": _pack(self.embeddings),
            "fact_updates": [fact_to_dict(f) for f in self.fact_updates],
            "entity_records": [fact_to_dict(f) for f in self.entity_records],
            "entity_embeddings": _pack(self.entity_embeddings),
            "source_records": [fact_to_dict(f) for f in self.source_records],
            "source_embeddings": _pack(self.source_embeddings),
            "graph": batch_to_dict(self.graph),
            "invalidate_facts": self.invalidate_facts,
            "ended": self.ended,
            "delete_facts": self.delete_facts,
            "delete_sources": self.delete_sources,
            "history": self.history,
            "delete_scope": self.delete_scope,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        return cls(
            id=d["id"],
            at=d["at"],
            facts=[fact_from_dict(f) for f in d["facts"]],
            embeddings=_unpack(d["embeddings"]),
            fact_updates=[fact_from_dict(f) for f in d["fact_updates"]],
            entity_records=[fact_from_dict(f) for f in d["entity_records"]],
            entity_embeddings=_unpack(d["entity_embeddings"]),
            source_records=[fact_from_dict(f) for f in d["source_records"]],
            source_embeddings=_unpack(d["source_embeddings"]),
            graph=batch_from_dict(d["graph"]),
            invalidate_facts=d["invalidate_facts"],
            ended=d.get("ended", {}),
            delete_facts=d["delete_facts"],
            delete_sources=d.get("delete_sources", []),
            history=d["history"],
            delete_scope=d.get("delete_scope"),
        )

    @staticmethod
    def vectors(rows: list[list[float]]) -> Any:
        return np.asarray(rows, dtype=np.float32) if rows else None


def _pack(rows: list[list[float]]) -> dict[str, Any]:
    """Embeddings as base64 float32 (compact and exact) in the JSON journal."""
    arr = np.asarray(rows, dtype=np.float32)
    return {"shape": list(arr.shape), "f32": base64.b64encode(arr.tobytes()).decode()}


def _unpack(packed: dict[str, Any]) -> list[list[float]]:
    arr = np.frombuffer(base64.b64decode(packed["f32"]), dtype=np.float32)
    rows: list[list[float]] = arr.reshape(packed["shape"]).tolist()
    return rows
