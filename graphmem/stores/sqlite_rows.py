"""The embedded graph store's SQLite tables, and its rows as model values."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..models import Entity, GraphBatch, Relation, Scope, Source, norm_name

#: the tables of small rows keyed by their primary key (WITHOUT ROWID: no second index of
#: the key beside the table, a third of their size); sources keep a rowid (passages are long)
KEYED = {
    "entities": """entities(id TEXT PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL,
  type TEXT NOT NULL, aliases TEXT NOT NULL, created_at REAL NOT NULL,
  attributes TEXT NOT NULL DEFAULT '{}') WITHOUT ROWID""",
    "relations": """relations(id TEXT PRIMARY KEY, scope TEXT NOT NULL,
  source_id TEXT NOT NULL, relation TEXT NOT NULL, target_id TEXT NOT NULL, fact_id TEXT NOT NULL,
  valid_from REAL, invalid_at REAL, created_at REAL NOT NULL, weight REAL NOT NULL)
  WITHOUT ROWID""",
    "mentions": """mentions(fact_id TEXT NOT NULL, entity_id TEXT NOT NULL,
  scope TEXT NOT NULL, PRIMARY KEY(fact_id, entity_id)) WITHOUT ROWID""",
    "derived": """derived(fact_id TEXT NOT NULL, source_id TEXT NOT NULL,
  PRIMARY KEY(fact_id, source_id)) WITHOUT ROWID""",
}
SCHEMA = (
    "".join(f"CREATE TABLE IF NOT EXISTS {t};\n" for t in KEYED.values())
    + """
CREATE INDEX IF NOT EXISTS relations_fact ON relations(fact_id);
CREATE INDEX IF NOT EXISTS relations_source ON relations(source_id);
CREATE INDEX IF NOT EXISTS relations_target ON relations(target_id);
CREATE INDEX IF NOT EXISTS mentions_entity ON mentions(entity_id);
CREATE TABLE IF NOT EXISTS sources(id TEXT PRIMARY KEY, scope TEXT NOT NULL, content TEXT NOT NULL,
  role TEXT NOT NULL, title TEXT, created_at REAL NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scopes(key TEXT PRIMARY KEY, user_id TEXT, agent_id TEXT, run_id TEXT);
CREATE INDEX IF NOT EXISTS scopes_user ON scopes(user_id);
CREATE INDEX IF NOT EXISTS scopes_agent ON scopes(agent_id);
CREATE INDEX IF NOT EXISTS scopes_run ON scopes(run_id);
CREATE INDEX IF NOT EXISTS entities_scope ON entities(scope);
CREATE INDEX IF NOT EXISTS relations_scope ON relations(scope);
DROP INDEX IF EXISTS mentions_scope;
CREATE INDEX IF NOT EXISTS sources_scope ON sources(scope);
CREATE INDEX IF NOT EXISTS derived_source ON derived(source_id);
CREATE TABLE IF NOT EXISTS names(scope TEXT NOT NULL, norm TEXT NOT NULL, entity_id TEXT NOT NULL,
  PRIMARY KEY(scope, norm, entity_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS names_entity ON names(entity_id);
CREATE TABLE IF NOT EXISTS titles(scope TEXT NOT NULL, norm TEXT NOT NULL, source_id TEXT NOT NULL,
  PRIMARY KEY(scope, norm, source_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS titles_source ON titles(source_id);
CREATE TABLE IF NOT EXISTS name_vectors(id TEXT PRIMARY KEY, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
)
#: ``name_vectors``: the name embedding of an entity (``name_vectors.py``), float16, by entity
#: id (an entity's scope is its row's). With a rowid, like ``sources``: rows are long, and
#: appended in rowid order they fill their pages (keyed by the random ids they filled 70 %:
#: 973 against 871 bytes a name, measured). ``meta``: what the file says of itself (the family
#: of those embeddings). Both created on open like every table: a file of an older layout
#: gains them empty (``name_move.py`` fills the first from an older data dir's Chroma store)
#: ``PRAGMA user_version``: 1 once ``scopes``, ``names`` and ``titles`` index the other tables,
#: 2 once the ``KEYED`` tables are WITHOUT ROWID, 3 once entities have ``attributes`` (JSON)
SCHEMA_VERSION = 3
#: an entity row's columns, in the order :func:`entity` reads them
ENTITY_COLUMNS = ("id", "scope", "name", "type", "aliases", "created_at", "attributes")
#: the column added by version 3 (a file of an older version has every entity without any)
ATTRIBUTES_COLUMN = "ALTER TABLE entities ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}'"


def entity_columns(table: str) -> str:
    """The ``SELECT`` list of an entity row of ``table`` (an alias in a constant query)."""
    return ", ".join(f"{table}.{c}" for c in ENTITY_COLUMNS)


#: ``scopes``, ``names`` and ``titles`` of a file written before they existed. A scope key
#: ``user␟agent␟run`` is split at its two separators (char 31), an empty id stored as NULL;
#: ``norm_name`` is the Python function (registered on the connection)
BACKFILL = (
    """
INSERT OR IGNORE INTO scopes(key, user_id, agent_id, run_id)
SELECT key, nullif(substr(key, 1, a - 1), ''), nullif(substr(key, a + 1, b - a - 1), ''),
  nullif(substr(key, b + 1), '')
FROM (SELECT key, a, a + instr(substr(key, a + 1), char(31)) AS b
  FROM (SELECT key, instr(key, char(31)) AS a
    FROM (SELECT scope AS key FROM entities UNION SELECT scope FROM relations
      UNION SELECT scope FROM mentions UNION SELECT scope FROM sources)))
""",
    "INSERT OR IGNORE INTO names SELECT scope, norm_name(name), id FROM entities",
    """INSERT OR IGNORE INTO names SELECT e.scope, norm_name(j.value), e.id
FROM entities e, json_each(e.aliases) j""",
    """INSERT OR IGNORE INTO titles SELECT scope, norm_name(title), id FROM sources
WHERE title IS NOT NULL AND title != ''""",
)


def upgrade(db: sqlite3.Connection) -> None:
    """Bring a file of an older layout to this one: list the scopes, names and titles of a
    file written before those tables existed, give the entities of a file written before
    attributes an empty set of them, and rebuild the ``KEYED`` tables of one written with
    rowids. Once, in one transaction with the version mark, so a crash midway leaves it to
    the next open; every row is kept."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version >= SCHEMA_VERSION:
        return
    db.create_function("norm_name", 1, norm_name, deterministic=True)
    db.execute("BEGIN IMMEDIATE")
    try:
        if version < 1:
            for statement in BACKFILL:
                db.execute(statement)
        columns = {row[1] for row in db.execute("PRAGMA table_info(entities)")}
        if "attributes" not in columns:  # before the rebuild: it copies every column
            db.execute(ATTRIBUTES_COLUMN)
        for table, ddl in KEYED.items():
            _without_rowid(db, table, ddl)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")  # an int constant
        db.execute("COMMIT")
    except sqlite3.Error:
        db.execute("ROLLBACK")
        raise
    for statement in SCHEMA.split(";"):  # the indexes of the rebuilt tables
        db.execute(statement)


def _without_rowid(db: sqlite3.Connection, table: str, ddl: str) -> None:
    """Copy ``table`` (a constant) into its WITHOUT ROWID form, unless it is in it."""
    (sql,) = db.execute("SELECT sql FROM sqlite_schema WHERE name=?", (table,)).fetchone()
    if "WITHOUT ROWID" in sql.upper():
        return
    db.execute(f"CREATE TABLE {ddl.replace(table, f'{table}_keyed', 1)}")
    db.execute(f"INSERT INTO {table}_keyed SELECT * FROM {table}")
    db.execute(f"DROP TABLE {table}")
    db.execute(f"ALTER TABLE {table}_keyed RENAME TO {table}")


Statements = list[tuple[str, list[tuple[Any, ...]]]]
_ENTITY_UPSERT = (
    f"INSERT OR REPLACE INTO entities({', '.join(ENTITY_COLUMNS)})"
    f" VALUES ({','.join('?' * len(ENTITY_COLUMNS))})"
)


def write_statements(
    batch: GraphBatch, stale: Sequence[Relation], scope_of: dict[str, str]
) -> Statements:
    """What one write runs: mark ``stale`` relations invalid, then upsert ``batch`` (each
    mention in the scope of its entity, ``scope_of``) and list its scopes."""
    scopes = {e.scope for e in batch.entities}
    scopes.update(r.scope for r in batch.relations)
    scopes.update(s.scope for s in batch.sources)
    entities, sources = batch.entities, batch.sources
    return [
        (
            "INSERT OR IGNORE INTO scopes VALUES (?,?,?,?)",
            [(s.key, s.user_id, s.agent_id, s.run_id) for s in scopes],
        ),
        (
            "UPDATE relations SET invalid_at=? WHERE id=?",
            [(num(r.invalid_at), r.id) for r in stale],
        ),
        (
            _ENTITY_UPSERT,
            [
                (
                    e.id,
                    e.scope.key,
                    e.name,
                    e.type,
                    json.dumps(list(e.aliases)),
                    num(e.created_at),
                    json.dumps(e.attributes, default=str),
                )
                for e in batch.entities
            ],
        ),
        (
            "INSERT OR REPLACE INTO relations VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    r.id,
                    r.scope.key,
                    r.source_id,
                    r.relation,
                    r.target_id,
                    r.fact_id,
                    num(r.valid_from),
                    num(r.invalid_at),
                    num(r.created_at),
                    r.weight,
                )
                for r in batch.relations
            ],
        ),
        ("DELETE FROM names WHERE entity_id=?", [(e.id,) for e in entities]),
        (
            "INSERT OR IGNORE INTO names VALUES (?,?,?)",
            [(e.scope.key, norm_name(n), e.id) for e in entities for n in e.names],
        ),
        (
            "INSERT OR IGNORE INTO mentions VALUES (?,?,?)",
            [(f, e, scope_of[e]) for f, e in batch.mentions],
        ),
        (
            "INSERT OR REPLACE INTO sources VALUES (?,?,?,?,?,?,?)",
            [
                (
                    s.id,
                    s.scope.key,
                    s.content,
                    s.role,
                    s.title,
                    num(s.created_at),
                    json.dumps(s.metadata, default=str),
                )
                for s in batch.sources
            ],
        ),
        ("DELETE FROM titles WHERE source_id=?", [(s.id,) for s in sources]),
        (
            "INSERT INTO titles VALUES (?,?,?)",
            [(s.scope.key, norm_name(s.title), s.id) for s in sources if s.title],
        ),
        ("INSERT OR IGNORE INTO derived VALUES (?,?)", list(batch.derived)),
    ]


def ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def num(ts: datetime | None) -> float | None:
    return ts.timestamp() if ts else None


#: a stored scope key as a Scope, parsed (and its ids checked) once per key: rows of one
#: scope share it
scope_of_key = functools.lru_cache(maxsize=4096)(Scope.from_key)


def entity(row: Sequence[Any]) -> Entity:
    """An entity from its ``ENTITY_COLUMNS``."""
    id_, scope, name, type_, aliases, created, attributes = row
    return Entity(
        id_,
        name,
        type_,
        scope_of_key(scope),
        tuple(json.loads(aliases)) if aliases != "[]" else (),
        ts(created) or datetime.now(UTC),
        json.loads(attributes) if attributes != "{}" else {},
    )


def relation(row: Sequence[Any]) -> Relation:
    id_, scope, src, rel, dst, fact, vf, inv, created, weight = row
    return Relation(
        id_,
        src,
        rel,
        dst,
        fact,
        scope_of_key(scope),
        ts(vf),
        ts(inv),
        ts(created) or datetime.now(UTC),
        weight,
    )


def source(row: Sequence[Any]) -> Source:
    id_, key, content, role, title, created, md = row
    scope = scope_of_key(key)
    return Source(
        id_, scope, content, role, title, ts(created) or datetime.now(UTC), json.loads(md)
    )
