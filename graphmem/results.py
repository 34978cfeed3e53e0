"""How memories and sources are shaped in results, and argument checks shared by the facade."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import InvalidInputError
from .models import FACTS_KEY, TITLE_KEY, FactRecord, Scope, Source, iso
from .retrieve import PRESETS, SearchConfig
from .retrieve.scoring import Hit
from .retrieve.search import Ranking


def limit(limit: Any) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100_000:
        raise InvalidInputError(f"limit must be an integer in 1..100000: {limit!r}")
    return limit


def search_config(config: str | SearchConfig) -> SearchConfig:
    if isinstance(config, SearchConfig):
        return config
    if config not in PRESETS:
        raise InvalidInputError(f"unknown search config {config!r}; presets: {sorted(PRESETS)}")
    return PRESETS[config]


def source_result(rec: FactRecord) -> dict[str, Any]:
    """A source (passage / message) as stored in the source vector store."""
    md = dict(rec.metadata)
    title, role = md.pop(TITLE_KEY, None), md.pop("_role", "user")
    md.pop(FACTS_KEY, None)
    return {
        "id": rec.id,
        "title": title,
        "role": role,
        "content": rec.text,
        "metadata": md,
        "created_at": iso(rec.created_at),
        "valid_from": iso(rec.valid_from),
        **rec.scope.items(),
    }


def explained(score: float, parts: dict[str, float], paths: list[str]) -> dict[str, Any]:
    """How a result explains itself: its score, the parts it is the sum of, and the relation
    paths that connect it to the query's entities."""
    return {"score": round(score, 6), "score_parts": parts, "paths": paths}


def source(s: Source) -> dict[str, Any]:
    return {
        "id": s.id,
        "role": s.role,
        "title": s.title,
        "content": s.content,
        "created_at": iso(s.created_at),
        "metadata": s.metadata,
    }


def found(
    ranking: Ranking, keep: list[Hit], sources: Sequence[Source], threshold: float | None
) -> dict[str, Any]:
    """A search's answer: the memories ``keep`` (with the sources they came from, of
    ``sources``), the relations that explain them, and the passages ranked at or above
    ``threshold``."""
    by_id = {s.id: s for s in sources}
    results = [
        {
            **h.record.to_result(),
            **explained(h.score, h.parts, h.paths),
            "sources": [source(by_id[i]) for i in h.record.source_ids if i in by_id],
        }
        for h in keep
    ]
    passages = [
        {**source_result(h.record), **explained(h.score, h.parts, h.paths)}
        for h in ranking.sources
        if threshold is None or h.score >= threshold
    ]
    return {"results": results, "relations": ranking.relations, "sources": passages}


def scope_dict(key: str | None) -> dict[str, str] | None:
    """The ids of a stored scope key (None: none, or not a key this version writes)."""
    try:
        return Scope.from_key(key).items() if key else None
    except InvalidInputError:
        return None


def within(scope: Scope, key: str) -> bool:
    """Whether ``scope`` contains the stored scope key ``key``."""
    try:
        return scope.contains(Scope.from_key(key))
    except InvalidInputError:  # not a key this version writes
        return False
