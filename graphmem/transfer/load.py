"""Import: an export file read twice. The first pass checks every record (``schema``) and
every reference (a mention or relation names an entity written before it, or in its own
scope's records), so a file that is corrupt, cut short or of an unknown version raises
``ExportFileError`` before anything is written. The second pass writes it scope by scope as
journaled plans (``journal``), through the store protocols: the same ids, so importing a file
twice writes the same state again.

Vectors in the file are used when they come from the embedder's model family (``header``);
else, and for records without one, the texts are embedded again as the write path embeds
them. A source embedded with the messages before it (its context, which is not stored)
gets the vector of its own text then.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..errors import ExportFileError, GraphMemError
from ..ingest import Bar
from ..models import FactRecord, GraphBatch, Relation, Scope, iso, new_id, now, searchable
from ..plan import Plan
from ..protocols import Embedder
from ..write import source_record
from . import schema
from .schema import EntityRow, Header, MemoryRow, Row, SourceRow

if TYPE_CHECKING:
    from ..factory import Parts

T = TypeVar("T")
#: the write lock of a scope, and how a plan of it is journaled and applied (``Memory``'s)
Lock = Callable[[Scope], AbstractContextManager[None]]
Apply = Callable[[Plan, Scope], None]
#: records written in one plan
BATCH = 256


@dataclass
class Block:
    """The records of one exact scope that follow each other in the file."""

    scope: Scope
    sources: list[SourceRow] = field(default_factory=list)
    entities: list[EntityRow] = field(default_factory=list)
    memories: list[MemoryRow] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: Row) -> None:
        if isinstance(row, SourceRow):
            self.sources.append(row)
        elif isinstance(row, EntityRow):
            self.entities.append(row)
        elif isinstance(row, MemoryRow):
            self.memories.append(row)
        elif isinstance(row, Relation):
            self.relations.append(row)
        else:
            self.history.append(row)

    @property
    def size(self) -> int:
        kinds = (self.sources, self.entities, self.memories, self.relations, self.history)
        return sum(len(k) for k in kinds)


class Reader:
    """The blocks of a file, each checked before it is yielded; ``entities`` and ``sources``
    are the ids read so far (those of the blocks yielded, and of the one being read)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entities: set[str] = set()
        self.sources: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.header: Header | None = None

    def blocks(self) -> Iterator[Block]:
        self.entities, self.sources, self.counts = set(), set(), Counter()
        block: Block | None = None
        end: dict[str, Any] | None = None
        for n, d in self._lines():
            try:
                if n == 1:
                    self.header = schema.header(d)
                    continue
                if end is not None:
                    raise ValueError("a record after the end record")
                if d.get("kind") == "end":
                    end = d
                    continue
                assert self.header is not None
                row = schema.parse(d, self.header)
                scope = schema.scope_of(row)
                if block is None or block.scope != scope:
                    if block is not None:
                        yield block
                    block = Block(scope)
                block.add(row)
                self._known(row)
                self.counts[schema.kind_of(row)] += 1
            except (GraphMemError, ValueError) as e:
                raise ExportFileError(f"{self.path}, line {n}: {e}") from e
        if self.header is None:
            raise ExportFileError(f"{self.path} is empty: not a graphmem export file")
        if end is None:
            raise ExportFileError(f"{self.path} was cut short: it has no end record")
        if end.get("counts") != {k: self.counts[k] for k in schema.KINDS}:
            raise ExportFileError(f"{self.path}: the records do not add up to the end's counts")
        if block is not None:
            yield block

    def _known(self, row: Row) -> None:
        """Note what the row adds; refuse references to entities not read yet."""
        if isinstance(row, EntityRow):
            self.entities.add(row.entity.id)
        elif isinstance(row, SourceRow):
            self.sources.add(row.source.id)
        elif isinstance(row, MemoryRow):
            self._named(row.entities, f"memory {row.record.id}")
        elif isinstance(row, Relation):
            self._named((row.source_id, row.target_id), f"relation {row.id}")

    def _named(self, ids: Iterable[str], what: str) -> None:
        missing = [i for i in ids if i not in self.entities]
        if missing:
            raise ValueError(f"{what} names entity {missing[0]!r}, which no record before it is")

    def _lines(self) -> Iterator[tuple[int, dict[str, Any]]]:
        n = 0
        try:
            with _open(self.path) as f:
                for n, line in enumerate(f, 1):
                    yield n, self._object(line, n)
        except ExportFileError:
            raise
        except (OSError, EOFError, zlib.error, ValueError) as e:  # UTF-8 and gzip errors too
            raise ExportFileError(f"{self.path}, line {n + 1}: cannot read it: {e}") from e

    def _object(self, line: str, n: int) -> dict[str, Any]:
        try:
            d = json.loads(line)
            if not isinstance(d, dict):
                raise ValueError("not a JSON object")
            json.dumps(d, ensure_ascii=False).encode("utf-8")  # no lone surrogates
        except ValueError as e:
            raise ExportFileError(f"{self.path}, line {n}: {e}") from e
        return d


def check(path: Path, progress: bool = False) -> Reader:
    """Read the whole file once, checking it; nothing is written."""
    reader = Reader(path)
    with Bar(None, progress, ("checked",)) as bar:
        for block in reader.blocks():
            bar.advance("checked", block.size)
    return reader


def load(
    parts: Parts, path: Path, lock: Lock, apply: Apply, progress: bool = False
) -> dict[str, Any]:
    """Check ``path``, then write it scope by scope, each scope's plans under its lock; the
    counts of what was imported."""
    reader = check(path, progress)
    head = reader.header
    assert head is not None
    emb = parts.embedder
    reuse = head.vectors and (head.model, head.dim) == (emb.family, emb.dim)
    scopes = set()
    with Bar(sum(reader.counts.values()), progress, ("imported",)) as bar:
        writer = _Plans(emb, reuse, BATCH, lambda n: bar.advance("imported", n))
        for block in reader.blocks():
            scopes.add(block.scope.key)
            with lock(block.scope):
                for plan in writer.plans(block, reader.sources):
                    apply(plan, block.scope)
    return {
        "file": str(path),
        "scopes": len(scopes),
        **{k: reader.counts[k] for k in schema.KINDS},
        "embedded": writer.embedded,
    }


@dataclass
class _Plans:
    """What a block writes, as plans in the order their references need: sources, entities,
    memories with their relations and links, history."""

    embedder: Embedder
    reuse: bool  # the file's vectors are of this embedder's family
    batch: int
    done: Callable[[int], None]  # counts the records written
    embedded: int = 0  # texts embedded (not taken from the file)

    def plans(self, b: Block, sources: set[str]) -> Iterator[Plan]:
        for ss in _chunks(b.sources, self.batch):
            records = [source_record(s.source, list(s.facts)) for s in ss]
            texts = [searchable(r.text, r.metadata) for r in records]
            yield _plan(
                graph=GraphBatch(sources=tuple(s.source for s in ss)),
                source_records=records,
                source_embeddings=self._vectors([s.vector for s in ss], texts),
            )
            self.done(len(ss))
        for es in _chunks(b.entities, self.batch):
            named = [e for e in es if e.embedded]
            names = [e.entity.name for e in named]
            yield _plan(
                graph=GraphBatch(entities=tuple(e.entity for e in es)),
                entity_records=[_name_record(e) for e in named],
                entity_embeddings=self._vectors([e.vector for e in named], names, query=True),
            )
            self.done(len(es))
        by_fact: dict[str, list[Relation]] = defaultdict(list)
        for r in b.relations:
            by_fact[r.fact_id].append(r)
        for ms in _chunks(b.memories, self.batch):
            yield from self._memories(ms, by_fact, sources)
        for rs in _chunks([r for left in by_fact.values() for r in left], self.batch):
            yield _plan(graph=GraphBatch(relations=tuple(rs)))  # of no memory in the file
            self.done(len(rs))
        for hs in _chunks(b.history, self.batch):
            yield _plan(history=hs)
            self.done(len(hs))

    def _memories(
        self, ms: list[MemoryRow], by_fact: dict[str, list[Relation]], sources: set[str]
    ) -> Iterator[Plan]:
        """The memories with their mentions, provenance and relations: those that held until
        their memory was superseded written apart, so that a memory still current is not
        taken for superseded (a Neo4j ``:Fact`` node's ``invalid_at``); a superseded memory
        without relations is marked so on its own."""
        records = [m.record for m in ms]
        rels = [r for m in records for r in by_fact.pop(m.id, [])]
        current = {m.id for m in records if m.invalid_at is None}
        ended = [r for r in rels if r.invalid_at is not None and r.fact_id in current]
        apart = {r.id for r in ended}
        held = {r.fact_id for r in rels if r.invalid_at is None}
        gone = [m for m in records if m.invalid_at is not None and m.id not in held]
        yield _plan(
            facts=records,
            embeddings=self._vectors([m.vector for m in ms], [m.text for m in records]),
            graph=GraphBatch(
                relations=tuple(r for r in rels if r.id not in apart),
                mentions=tuple((m.record.id, e) for m in ms for e in m.entities),
                derived=tuple((m.id, s) for m in records for s in m.source_ids if s in sources),
                facts=tuple((m.id, m.text) for m in records),
            ),
        )
        if ended:
            yield _plan(graph=GraphBatch(relations=tuple(ended)))
        if gone:
            yield _plan(
                invalidate_facts=[m.id for m in gone],
                ended={m.id: iso(m.invalid_at) or "" for m in gone},
            )
        self.done(len(ms) + len(rels))

    def _vectors(
        self, given: Sequence[Any], texts: list[str], query: bool = False
    ) -> list[list[float]]:
        """The file's vectors where usable, the others embedded (in one call)."""
        todo = [i for i, v in enumerate(given) if v is None or not self.reuse]
        fresh: Any = self.embedder.embed([texts[i] for i in todo], query=query) if todo else []
        out = [None if v is None or not self.reuse else v for v in given]
        for i, v in zip(todo, fresh):
            out[i] = v
        self.embedded += len(todo)
        return [np.asarray(v, dtype=np.float32).tolist() for v in out]


def _name_record(e: EntityRow) -> FactRecord:
    """An entity's record in the entity-name index, as the write path makes it."""
    ent = e.entity
    return FactRecord(ent.id, ent.name, ent.scope, {"type": ent.type}, ent.created_at)


def _plan(**parts: Any) -> Plan:
    return Plan(new_id(), iso(now()) or "", **parts)


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _open(path: Path) -> IO[str]:
    """The file as text, gunzipped when it is gzip (by its first bytes, whatever its name)."""
    with path.open("rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")
