"""What a delete writes: the memories, their graph edges, and every trace of their text in
the sources (messages, passages) they were distilled from.

A source that backs no other memory is deleted with them. A source that still backs others
is kept for those, with the deleted memories' sentences cut out where it quotes them word for
word (re-embedded without them), so that no read returns a deleted memory's text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from .models import FactRecord, GraphBatch, Scope, Source, iso, new_id, searchable
from .plan import Plan
from .protocols import Embedder, GraphStore
from .write import source_record

_SPACES = re.compile(r"[ \t]{2,}")


def deletion(
    graph: GraphStore, embedder: Embedder, gone: Sequence[FactRecord], at: datetime
) -> Plan:
    """The plan that deletes ``gone`` (memories of one scope) and their text everywhere."""
    ids = {r.id for r in gone}
    backing = graph.fact_sources(sorted(ids))
    sources = sorted({s for r in gone for s in (*r.source_ids, *backing.get(r.id, ()))})
    facts = {s: set(f) - ids for s, f in graph.source_facts(sources).items()}
    orphans = [s for s in sources if not facts.get(s)]
    cut: list[Source] = []
    scope = gone[0].scope if gone else None
    kept = [s for s in sources if facts.get(s)]
    for s in graph.sources(scope, kept) if scope is not None and kept else []:
        content = _without(s.content, [r.text for r in gone])
        if not content:
            orphans.append(s.id)
        elif content != s.content:
            cut.append(replace(s, content=content, context=()))
    records = [source_record(s, sorted(facts[s.id])) for s in cut]
    vectors = embedder.embed([searchable(r.text, r.metadata) for r in records]) if cut else None
    return Plan(
        new_id(),
        iso(at) or "",
        delete_facts=sorted(ids),
        delete_sources=sorted(orphans),
        source_records=records,
        source_embeddings=vectors.tolist() if vectors is not None else [],
        graph=GraphBatch(sources=tuple(cut)),
        history=[deleted(r, at) for r in gone],
    )


def scope_deletion(
    scope: Scope, records: Sequence[FactRecord], at: datetime, keep_history: bool
) -> Plan:
    """What ``delete_all`` (``keep_history``) and ``erase`` write: every memory of the scope
    (``records``), and its sources, entities and relations with them."""
    return Plan(
        new_id(),
        iso(at) or "",
        delete_facts=[r.id for r in records],
        delete_scope=scope.as_dict(),
        graph=GraphBatch(),
        history=[deleted(r, at) for r in records] if keep_history else [],
    )


def _without(content: str, texts: Sequence[str]) -> str:
    for t in texts:
        if t.strip():
            content = content.replace(t.strip(), " ")
    return _SPACES.sub(" ", content).strip()


def deleted(rec: FactRecord, at: datetime) -> dict[str, object]:
    """The history event of a memory's deletion."""
    return {
        "id": new_id(),
        "memory_id": rec.id,
        "event": "DELETE",
        "old_memory": rec.text,
        "new_memory": None,
        "created_at": iso(at),
        "scope": rec.scope.key,
    }
