"""Memory records as Chroma rows: metadata written and read back, scope clauses."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ..models import FACTS_KEY, FactRecord, Scope
from ..protocols import Vector
from .filters import META_PREFIX


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def to_metadata(rec: FactRecord) -> dict[str, Any]:
    """A record's Chroma metadata. Keys without a value are written as None: Chroma merges an
    upsert into the row it replaces, and None is what removes a key there (and stores
    nothing in a new row)."""
    md: dict[str, Any] = {
        **rec.scope.items(),
        "valid": rec.invalid_at is None,
        "created_at": rec.created_at.timestamp(),
        "metadata_json": json.dumps(rec.metadata, default=str) if rec.metadata else None,
        "source_ids": json.dumps(list(rec.source_ids)) if rec.source_ids else None,
    }
    for key, ts in (
        ("updated_at", rec.updated_at),
        ("valid_from", rec.valid_from),
        ("invalid_at", rec.invalid_at),
    ):
        md[key] = ts.timestamp() if ts is not None else None
    for key, value in rec.metadata.items():
        if isinstance(value, str | int | float | bool) and key != FACTS_KEY:  # ids: no filter
            md[META_PREFIX + key] = value
    return md


def from_row(id_: str, text: str, md: dict[str, Any]) -> FactRecord:
    meta, sources = md.get("metadata_json"), md.get("source_ids")
    return FactRecord(
        id=id_,
        text=text,
        scope=_scope(md.get("user_id"), md.get("agent_id"), md.get("run_id")),
        metadata=json.loads(meta) if meta and meta != "{}" else {},
        created_at=_ts(md["created_at"]) or datetime.now(UTC),
        updated_at=_ts(md.get("updated_at")),
        valid_from=_ts(md.get("valid_from")),
        invalid_at=_ts(md.get("invalid_at")),
        source_ids=tuple(json.loads(sources)) if sources and sources != "[]" else (),
    )


@functools.lru_cache(maxsize=4096)
def _scope(user_id: str | None, agent_id: str | None, run_id: str | None) -> Scope:
    """Scopes are frozen values: one per distinct key triple (rows repeat them)."""
    return Scope(user_id, agent_id, run_id)


def scope_where(
    scope: Scope, where: dict[str, Any] | None = None, owner: bool = True
) -> dict[str, Any] | None:
    """The scope keys that the partition does not already imply, plus ``where``."""
    items = scope.items()
    if owner:  # the partition is the owner's: its own key is implied
        items.pop(next(iter(items)))
    clauses: list[dict[str, Any]] = [{k: {"$eq": v}} for k, v in items.items()]
    if where:
        clauses.append(where)
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def rows(res: dict[str, Any]) -> list[FactRecord]:
    return [from_row(i, d, m) for i, d, m in zip(res["ids"], res["documents"], res["metadatas"])]


def query_hits(
    res: dict[str, Any], found: dict[str, Any] | None, records: bool
) -> list[list[tuple[Any, float]]]:
    """One Chroma ``query`` answer as (record, score) rows per query: records taken from
    ``found`` (the record cache's, by id) when given, else read from the answer if
    ``records``, else (id, score)."""
    out: list[list[tuple[Any, float]]] = []
    for n, ids in enumerate(res["ids"]):
        sims = [1.0 - float(d) for d in res["distances"][n]]
        if found is not None:
            out.append([(found[i][0], s) for i, s in zip(ids, sims) if i in found])
        elif records:
            recs = map(from_row, ids, res["documents"][n], res["metadatas"][n])
            out.append(list(zip(recs, sims)))
        else:
            out.append(list(zip(ids, sims)))
    return out


def by_part(ids: Sequence[str]) -> dict[str | None, list[str]]:
    """Ids by the partition they name (``<partition>.<uuid>``; None: a bare id)."""
    out: dict[str | None, list[str]] = {}
    for i in ids:
        out.setdefault(i.split(".", 1)[0] if "." in i else None, []).append(i)
    return out


def space(col: Any) -> str:
    """A collection's distance (``cosine``, ``ip`` or ``l2``)."""
    return str((col.metadata or {}).get("hnsw:space", "l2"))


def compared(col: Any, embedding: Any) -> Vector:
    """A vector as the collection compares it: unit length in a cosine collection, as
    written in an inner-product one. Read-only: the cache shares it with every read."""
    v = np.asarray(embedding, dtype=np.float32)
    if space(col) == "cosine":
        v = v / (np.linalg.norm(v) or 1.0)
    v.setflags(write=False)
    return v
