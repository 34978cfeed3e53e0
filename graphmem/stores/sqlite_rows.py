"""The embedded graph store's SQLite tables, and its rows as model values."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..models import Entity, Relation, Scope, Source

SCHEMA = """
CREATE TABLE IF NOT EXISTS entities(id TEXT PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL,
  type TEXT NOT NULL, aliases TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS relations(id TEXT PRIMARY KEY, scope TEXT NOT NULL,
  source_id TEXT NOT NULL, relation TEXT NOT NULL, target_id TEXT NOT NULL, fact_id TEXT NOT NULL,
  valid_from REAL, invalid_at REAL, created_at REAL NOT NULL, weight REAL NOT NULL);
CREATE INDEX IF NOT EXISTS relations_fact ON relations(fact_id);
CREATE TABLE IF NOT EXISTS mentions(fact_id TEXT NOT NULL, entity_id TEXT NOT NULL,
  scope TEXT NOT NULL, PRIMARY KEY(fact_id, entity_id));
CREATE TABLE IF NOT EXISTS sources(id TEXT PRIMARY KEY, scope TEXT NOT NULL, content TEXT NOT NULL,
  role TEXT NOT NULL, title TEXT, created_at REAL NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS derived(fact_id TEXT NOT NULL, source_id TEXT NOT NULL,
  PRIMARY KEY(fact_id, source_id));
"""


def ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def num(ts: datetime | None) -> float | None:
    return ts.timestamp() if ts else None


def entity(row: Sequence[Any]) -> Entity:
    id_, scope, name, type_, aliases, created = row
    return Entity(
        id_,
        name,
        type_,
        Scope.from_key(scope),
        tuple(json.loads(aliases)),
        ts(created) or datetime.now(UTC),
    )


def relation(row: Sequence[Any]) -> Relation:
    id_, scope, src, rel, dst, fact, vf, inv, created, weight = row
    return Relation(
        id_,
        src,
        rel,
        dst,
        fact,
        Scope.from_key(scope),
        ts(vf),
        ts(inv),
        ts(created) or datetime.now(UTC),
        weight,
    )


def source(row: Sequence[Any]) -> Source:
    id_, key, content, role, title, created, md = row
    scope = Scope.from_key(key)
    return Source(
        id_, scope, content, role, title, ts(created) or datetime.now(UTC), json.loads(md)
    )
