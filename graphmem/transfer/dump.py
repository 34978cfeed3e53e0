"""Export: a scope, or every scope of the store, read through the store protocols and written
as JSON Lines (``schema``), gzip-compressed when the file name ends in ``.gz``.

The whole store is visited owner by owner (a scope's user, else agent, else run: how the
vector store partitions it), each owner's records read at once and written scope by scope in
``schema.KINDS`` order. The file is written beside its destination and renamed into place
when complete: a failed export leaves no partial file behind.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import InvalidInputError
from ..ingest import Bar
from ..models import FACTS_KEY, TITLE_KEY, FactRecord, Relation, Scope, Source, now
from ..protocols import Vector, VectorStore
from . import schema
from .schema import EntityRow, Header, MemoryRow, SourceRow

if TYPE_CHECKING:
    from ..factory import Parts

ALL = 10**9  # "no limit" for a scan
CHUNK = 1000  # ids per read by id


def dump(
    parts: Parts,
    out: Path,
    scope: Scope | None,
    vectors: bool,
    progress: bool = False,
) -> dict[str, Any]:
    """Write ``scope`` (None: every scope) to ``out``; the counts of what was written."""
    from .. import __version__  # the package is imported by now

    owners = [scope] if scope is not None else _owners(parts)
    emb = parts.embedder
    head = Header(emb.family, emb.dim, vectors, scope, now(), __version__)
    counts: Counter[str] = Counter()
    with _atomic(Path(out)) as f, Bar(len(owners), progress, ("exported",)) as bar:
        _line(f, head.to_json())
        for owner in owners:
            for record in _owner(parts, owner, scope is None, vectors):
                _line(f, record)
                counts[record["kind"]] += 1
            bar.advance("exported", 1)
        _line(f, {"kind": "end", "counts": {k: counts[k] for k in schema.KINDS}})
    return {"file": str(out), **{k: counts[k] for k in schema.KINDS}}


def owner(scope: Scope) -> Scope:
    """The scope's owner: its user, else its agent, else its run."""
    kind, value = next(iter(scope.items().items()))
    return Scope(**{kind: value})


def _owners(parts: Parts) -> list[Scope]:
    """The owners of every scope the graph or the history knows."""
    keys = {s.key for s in parts.graph.scopes()} | set(parts.history.scopes())
    scopes = []
    for key in keys:
        try:
            scopes.append(owner(Scope.from_key(key)))
        except InvalidInputError:  # not a key this version writes
            continue
    return sorted(set(scopes), key=lambda s: s.key)


@dataclass
class _Scoped:
    """One exact scope's records, by kind."""

    sources: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)
    memories: list[dict[str, Any]] = field(default_factory=list)
    relations: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def records(self) -> Iterator[dict[str, Any]]:
        for group in (self.sources, self.entities, self.memories, self.relations, self.history):
            yield from group


def _owner(parts: Parts, query: Scope, only_own: bool, vectors: bool) -> Iterator[dict[str, Any]]:
    """The records of ``query`` (with ``only_own``: those ``query`` owns, not those of a
    user that ``query``'s agent or run also serves), scope by scope."""

    def mine(scope: Scope) -> bool:
        return not only_own or owner(scope) == query

    out: dict[str, _Scoped] = defaultdict(_Scoped)
    facts = [r for r in parts.vectors.scan(query, None, ALL, True) if mine(r.scope)]
    ids = [r.id for r in facts]
    for row in _memories(parts, query, facts, vectors):
        out[row.record.scope.key].memories.append(schema.memory_json(row))
    for s in _sources(parts, query, mine, vectors):
        out[s.source.scope.key].sources.append(schema.source_json(s))
    for e in _entities(parts, query, mine, vectors):
        out[e.entity.scope.key].entities.append(schema.entity_json(e))
    for r in _sorted(parts.graph.relations(query, include_invalid=True), mine):
        out[r.scope.key].relations.append(schema.relation_json(r))
    keys = [k for k in parts.history.scopes() if _within(query, k, mine)]
    scopes = {r.id: r.scope for r in facts}
    for event in parts.history.events(keys, ids):
        scope = _event_scope(event, scopes)
        if scope is not None and query.contains(scope) and mine(scope):
            out[scope.key].history.append(schema.history_json(event, scope))
    for key in sorted(out):
        yield from out[key].records()


def _memories(
    parts: Parts, query: Scope, facts: list[FactRecord], vectors: bool
) -> list[MemoryRow]:
    ids = [r.id for r in facts]
    mentions: dict[str, list[str]] = defaultdict(list)
    for chunk in _chunks(ids):
        for f, e in parts.graph.mentions(query, chunk):
            mentions[f].append(e)
    vecs = _vectors(parts.vectors, query, ids) if vectors else {}
    rows = [MemoryRow(r, tuple(sorted(mentions[r.id])), vecs.get(r.id)) for r in facts]
    return sorted(rows, key=lambda m: (m.record.created_at, m.record.id))


def _sources(
    parts: Parts, query: Scope, mine: Callable[[Scope], bool], vectors: bool
) -> list[SourceRow]:
    """Sources from their search records (every source has one), with what the graph holds
    of each (its metadata as given)."""
    records = [r for r in parts.source_vectors.scan(query, None, ALL, True) if mine(r.scope)]
    ids = [r.id for r in records]
    graph = {s.id: s for chunk in _chunks(ids) for s in parts.graph.sources(query, chunk)}
    vecs = _vectors(parts.source_vectors, query, ids) if vectors else {}
    rows = []
    for r in records:
        facts = tuple(json.loads(r.metadata.get(FACTS_KEY, "[]")))
        rows.append(SourceRow(graph.get(r.id) or _source(r), facts, vecs.get(r.id)))
    return sorted(rows, key=lambda s: (s.source.created_at, s.source.id))


def _source(rec: FactRecord) -> Source:
    """A source as its search record holds it (for one the graph lacks)."""
    md = dict(rec.metadata)
    title, role = md.pop(TITLE_KEY, None), md.pop("_role", "user")
    md.pop(FACTS_KEY, None)
    return Source(rec.id, rec.scope, rec.text, role, title, rec.created_at, md)


def _entities(
    parts: Parts, query: Scope, mine: Callable[[Scope], bool], vectors: bool
) -> list[EntityRow]:
    entities = [e for e in parts.graph.entities(query) if mine(e.scope)]
    ids = [e.id for e in entities]
    store = parts.entity_vectors
    if vectors:
        vecs = _vectors(store, query, ids)
        named = set(vecs)
    else:
        vecs = {}
        named = {r.id for chunk in _chunks(ids) for r in store.get(chunk, query)}
    rows = [EntityRow(e, e.id in named, vecs.get(e.id)) for e in entities]
    return sorted(rows, key=lambda e: (e.entity.created_at, e.entity.id))


def _vectors(store: VectorStore, query: Scope, ids: Sequence[str]) -> dict[str, Vector]:
    return {
        rec.id: v
        for chunk in _chunks(ids)
        for rec, v in store.fetch(chunk, query, include_invalid=True)
    }


def _sorted(relations: list[Relation], mine: Callable[[Scope], bool]) -> list[Relation]:
    return sorted((r for r in relations if mine(r.scope)), key=lambda r: (r.created_at, r.id))


def _within(query: Scope, key: str, mine: Callable[[Scope], bool]) -> bool:
    try:
        scope = Scope.from_key(key)
    except InvalidInputError:
        return False
    return query.contains(scope) and mine(scope)


def _event_scope(event: dict[str, Any], memories: dict[str, Scope]) -> Scope | None:
    """The scope an event was written in (recorded since it was; else its memory's)."""
    key = event.get("scope")
    if key:
        try:
            return Scope.from_key(key)
        except InvalidInputError:
            return None
    return memories.get(event["memory_id"])


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def _line(f: IO[str], record: dict[str, Any]) -> None:
    f.write(json.dumps(record, ensure_ascii=False, allow_nan=False, default=str) + "\n")


@contextmanager
def _atomic(path: Path) -> Iterator[IO[str]]:
    """A text file written beside ``path`` and renamed to it once complete (gzip when the
    name ends in ``.gz``); removed if writing fails."""
    part = path.with_name(f".{path.name}.partial")
    try:
        f = _create(part, compress=path.suffix == ".gz")
    except OSError as e:
        raise InvalidInputError(f"cannot write {path}: {e}") from e
    try:
        with f:
            yield f
        os.replace(part, path)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise InvalidInputError(f"cannot write {path}: {e}") from e
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _create(path: Path, compress: bool) -> IO[str]:
    if compress:
        return gzip.open(path, "wt", encoding="utf-8")
    return path.open("w", encoding="utf-8")
