"""The records of an export file, as JSON objects and back (``docs/export.md`` is the schema).

Every line is one JSON object whose ``kind`` says what it is: a ``header`` first, then
``source``, ``entity``, ``memory``, ``relation`` and ``history`` records, and an ``end``
record with the counts last (a file without it was cut short). Reading a record checks it
whole: what an import would refuse to store fails here, with its line number, before
anything is written.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from typing import Any

import numpy as np

from ..errors import ExportFileError, InvalidInputError
from ..models import (
    LABEL,
    RELATION_TYPE,
    Entity,
    FactRecord,
    Relation,
    Scope,
    Source,
    check_id,
    iso,
    parse_ts,
    partition,
)
from ..plan import fact_from_dict, fact_to_dict, relation_to_dict, source_to_dict
from ..protocols import Vector

FORMAT = "graphmem-export"
#: the format version this code writes; ``READS`` are the versions it can import
VERSION = 1
READS = (1,)
#: record kinds in the order each scope's records are written (a record refers only to
#: records before it, or of its own scope)
KINDS = ("source", "entity", "memory", "relation", "history")
EVENTS = ("ADD", "UPDATE", "DELETE", "NONE")
_TUPLE = re.compile(r"^tuple\b")


@dataclass(frozen=True)
class Header:
    """The first line: what wrote the file, and the embedding model of its vectors."""

    model: str  # the embedder's family: vectors of one family are comparable
    dim: int
    vectors: bool
    scope: Scope | None  # None: the whole store
    created_at: datetime
    graphmem: str
    version: int = VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "header",
            "format": FORMAT,
            "version": self.version,
            "graphmem": self.graphmem,
            "created_at": iso(self.created_at),
            "scope": self.scope.as_dict() if self.scope else None,
            "embedding": {"model": self.model, "dim": self.dim},
            "vectors": self.vectors,
        }


def header(d: dict[str, Any]) -> Header:
    if d.get("kind") != "header" or d.get("format") != FORMAT:
        raise ExportFileError("not a graphmem export file (its first line is no header)")
    if d.get("version") not in READS:
        raise ExportFileError(
            f"export format version {d.get('version')!r} is not one this graphmem reads "
            f"({', '.join(map(str, READS))}): import it with the version that wrote it "
            f"({d.get('graphmem')!r}) or a later one"
        )
    emb = _dict(d, "embedding")
    dim = emb.get("dim")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise InvalidInputError(f"embedding dim must be a positive integer: {dim!r:.40}")
    scope = d.get("scope")
    return Header(
        _str(emb, "model"),
        dim,
        _bool(d, "vectors"),
        _scope(d) if scope is not None else None,
        _time(d, "created_at"),
        _str(d, "graphmem"),
        d["version"],
    )


# -- records ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceRow:
    """A source (message, passage) and the ids of the memories its search record lists."""

    source: Source
    facts: tuple[str, ...]
    vector: Vector | None = None


@dataclass(frozen=True)
class EntityRow:
    """An entity; ``embedded``: its name is in the entity-name index (plain nouns are not)."""

    entity: Entity
    embedded: bool
    vector: Vector | None = None


@dataclass(frozen=True)
class MemoryRow:
    """A memory and the entities it mentions."""

    record: FactRecord
    entities: tuple[str, ...]
    vector: Vector | None = None


Row = SourceRow | EntityRow | MemoryRow | Relation | dict[str, Any]


def source_json(row: SourceRow) -> dict[str, Any]:
    out = {"kind": "source", **source_to_dict(row.source), "facts": list(row.facts)}
    return _with_vector(out, row.vector)


def entity_json(row: EntityRow) -> dict[str, Any]:
    """Every field of ``Entity`` (so fields it gains are exported too)."""
    out: dict[str, Any] = {"kind": "entity"}
    for f in fields(Entity):
        out[f.name] = _plain(getattr(row.entity, f.name))
    out["embedded"] = row.embedded
    return _with_vector(out, row.vector)


def memory_json(row: MemoryRow) -> dict[str, Any]:
    out = {"kind": "memory", **fact_to_dict(row.record), "entities": list(row.entities)}
    return _with_vector(out, row.vector)


def relation_json(r: Relation) -> dict[str, Any]:
    return {"kind": "relation", **relation_to_dict(r)}


def history_json(event: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """A history event (a row of the history store) with its scope."""
    keep = ("id", "memory_id", "event", "old_memory", "new_memory", "created_at", "actor")
    out = {"kind": "history", **{k: event.get(k) for k in keep}}
    out.update(
        role=event.get("role"),
        superseded_by=event.get("superseded_by"),
        seq=event.get("seq"),
        scope=scope.as_dict(),
    )
    return out


def parse(d: dict[str, Any], head: Header) -> Row:
    """A record (not the header nor the end) as the value an import writes."""
    kind = d.get("kind")
    try:
        if kind == "source":
            return _source(d, head)
        if kind == "entity":
            return _entity(d, head)
        if kind == "memory":
            return _memory(d, head)
        if kind == "relation":
            return _relation(d)
        if kind == "history":
            return _history(d)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        what = f"missing {e}" if isinstance(e, KeyError) else str(e)
        raise InvalidInputError(f"bad {kind} record: {what}") from e
    raise InvalidInputError(f"unknown record kind {kind!r:.40}")


def scope_of(row: Row) -> Scope:
    if isinstance(row, SourceRow):
        return row.source.scope
    if isinstance(row, EntityRow):
        return row.entity.scope
    if isinstance(row, MemoryRow):
        return row.record.scope
    if isinstance(row, Relation):
        return row.scope
    return Scope.from_key(row["scope"])


def kind_of(row: Row) -> str:
    kinds = {SourceRow: "source", EntityRow: "entity", MemoryRow: "memory", Relation: "relation"}
    return kinds.get(type(row), "history")


def _source(d: dict[str, Any], head: Header) -> SourceRow:
    title = d.get("title")
    source = Source(
        check_id(d["id"], "source id"),
        _scope(d),
        _str(d, "content"),
        _str(d, "role"),
        _str(d, "title") if title is not None else None,
        _time(d, "created_at"),
        _dict(d, "metadata"),
    )
    return SourceRow(source, _ids(d, "facts"), _vector(d, head))


def _entity(d: dict[str, Any], head: Header) -> EntityRow:
    """Every field of ``Entity`` the record has (one it lacks takes its default)."""
    values: dict[str, Any] = {}
    for f in fields(Entity):
        if f.name in d:
            value = d[f.name]
            values[f.name] = tuple(value) if _TUPLE.match(str(f.type)) else value
        elif f.default is MISSING and f.default_factory is MISSING:
            raise KeyError(f.name)
    values.update(
        id=check_id(d["id"], "entity id"),
        name=_str(d, "name"),
        scope=_scope(d),
        aliases=_ids(d, "aliases") if "aliases" in d else (),
    )
    if "created_at" in d:
        values["created_at"] = _time(d, "created_at")
    if not isinstance(d["type"], str) or not LABEL.match(d["type"]):
        raise ValueError(f"entity type {d['type']!r:.80} is not a label (CamelCase)")
    if not isinstance(values.get("attributes", {}), dict):
        raise ValueError("entity attributes must be an object")
    return EntityRow(Entity(**values), _bool(d, "embedded"), _vector(d, head))


def _memory(d: dict[str, Any], head: Header) -> MemoryRow:
    rec = fact_from_dict(d)
    check_id(rec.id, "memory id")
    _str(d, "text")
    if not isinstance(rec.metadata, dict) or rec.created_at is None:
        raise ValueError("a memory needs metadata (an object) and created_at")
    if "." in rec.id and rec.id.split(".", 1)[0] != partition(rec.scope):
        raise ValueError(f"memory id {rec.id!r:.80} names another scope's partition")
    _ids(d, "source_ids")
    return MemoryRow(rec, _ids(d, "entities"), _vector(d, head))


def _relation(d: dict[str, Any]) -> Relation:
    kind, weight = d["relation"], d["weight"]
    if not isinstance(kind, str) or not RELATION_TYPE.match(kind):
        raise ValueError(f"relation type {kind!r:.80} is not UPPER_SNAKE_CASE")
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
        raise ValueError(f"weight must be a finite number: {weight!r:.40}")
    return Relation(
        check_id(d["id"], "relation id"),
        check_id(d["source_id"], "source_id"),
        kind,
        check_id(d["target_id"], "target_id"),
        check_id(d["fact_id"], "fact_id"),
        _scope(d),
        _time(d, "valid_from", optional=True),
        _time(d, "invalid_at", optional=True),
        _time(d, "created_at"),
        float(weight),
    )


def _history(d: dict[str, Any]) -> dict[str, Any]:
    """The event as the history store records it (its scope as a key)."""
    if d["event"] not in EVENTS:
        raise ValueError(f"unknown event {d['event']!r:.40}")
    _time(d, "created_at")
    out: dict[str, Any] = {
        "id": check_id(d["id"], "event id"),
        "memory_id": check_id(d["memory_id"], "memory id"),
        "event": d["event"],
        "created_at": d["created_at"],  # kept as written: events sort by it
        "scope": _scope(d).key,
    }
    for key in ("old_memory", "new_memory", "actor", "role", "superseded_by"):
        if d.get(key) is not None:
            out[key] = _str(d, key)
    seq = d.get("seq")
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool)):
        raise ValueError(f"seq must be an integer: {seq!r:.40}")
    out["seq"] = seq or 0
    return out


# -- values ----------------------------------------------------------------------------------
def pack(v: Vector) -> str:
    """A vector as base64 of its little-endian float32 bytes (exact and compact)."""
    return base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode()


def unpack(text: str, dim: int) -> Vector:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as e:
        raise ValueError(f"vector is not base64: {e}") from e
    v = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if v.shape != (dim,) or not np.isfinite(v).all():
        raise ValueError(f"vector is not {dim} finite float32 values")
    return v


def _with_vector(out: dict[str, Any], vector: Vector | None) -> dict[str, Any]:
    if vector is not None:
        out["vector"] = pack(vector)
    return out


def _vector(d: dict[str, Any], head: Header) -> Vector | None:
    text = d.get("vector")
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError("vector must be a base64 string")
    return unpack(text, head.dim)


def _plain(value: Any) -> Any:
    """A model value as JSON: scopes as objects, times as ISO strings, tuples as lists."""
    if isinstance(value, Scope):
        return value.as_dict()
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _scope(d: dict[str, Any]) -> Scope:
    s = _dict(d, "scope")
    if set(s) - {"user_id", "agent_id", "run_id"}:
        raise ValueError(f"unknown scope keys {sorted(s)!r:.80}")
    return Scope(s.get("user_id"), s.get("agent_id"), s.get("run_id"))


def _str(d: dict[str, Any], key: str) -> str:
    value = d[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string: {value!r:.40}")
    return value


def _bool(d: dict[str, Any], key: str) -> bool:
    value = d[key]
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false: {value!r:.40}")
    return value


def _dict(d: dict[str, Any], key: str) -> dict[str, Any]:
    value = d[key]
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be an object: {value!r:.40}")
    return value


def _ids(d: dict[str, Any], key: str) -> tuple[str, ...]:
    value = d[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings: {value!r:.80}")
    return tuple(value)


def _time(d: dict[str, Any], key: str, optional: bool = False) -> Any:
    value = d.get(key) if optional else d[key]
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be an ISO-8601 string: {value!r:.40}")
    return parse_ts(value)
