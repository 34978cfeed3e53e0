"""The small protocols every backend implements. Domain code depends on these only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel

from .models import Entity, FactRecord, GraphBatch, Relation, Scope, Source, Subgraph
from .prompts import Extraction

T = TypeVar("T", bound=BaseModel)
Vector = np.ndarray[Any, np.dtype[np.float32]]
#: what a keyword search reads: the facts (memories) or the sources they came from
Corpus = Literal["facts", "sources"]


class Embedder(Protocol):
    """Text → L2-normalised vectors, in batches. ``query=True`` embeds search queries (and
    other short texts compared with each other), for models trained with a query prefix."""

    @property
    def dim(self) -> int: ...

    @property
    def family(self) -> str:
        """Vectors of one family are comparable (a model and its quantisation)."""
        ...

    @property
    def floor(self) -> float:
        """The cosine of unrelated texts under this model: similarities are rescaled from
        ``[floor, 1]`` to ``[0, 1]`` (see ``rescale``) so thresholds and score weights mean the
        same for every model."""
        ...

    def embed(self, texts: Sequence[str], *, query: bool = False) -> Vector: ...


def rescale(sim: float, floor: float) -> float:
    """A raw cosine on the common scale: 0 for unrelated texts, 1 for identical ones."""
    return (sim - floor) / (1.0 - floor)


def raw_threshold(threshold: float, floor: float) -> float:
    """The raw cosine that a threshold on the common scale stands for."""
    return floor + threshold * (1.0 - floor)


class LLM(Protocol):
    """One structured-output call: the reply is parsed and validated into ``schema``."""

    def complete(
        self, system: str, user: str, schema: type[T], context: dict[str, Any] | None = None
    ) -> T:
        """``context`` is passed to pydantic validation (e.g. the ids a reply may name)."""


class Extractor(Protocol):
    """Messages → standalone facts with their entities and relations."""

    def extract(self, messages: Sequence[dict[str, str]]) -> Extraction: ...

    def extract_many(self, batches: Sequence[Sequence[dict[str, str]]]) -> list[Extraction]:
        """One extraction per message list (implementations may batch the work)."""


class VectorStore(Protocol):
    """Facts with embeddings; every read is scoped."""

    def setup(self) -> None: ...

    def upsert(self, records: Sequence[FactRecord], embeddings: Vector | None) -> None:
        """Insert or replace. ``embeddings=None`` updates only the metadata of existing rows."""

    def query(
        self,
        scope: Scope,
        embedding: Vector,
        k: int,
        where: dict[str, Any] | None = None,
        include_invalid: bool = False,
    ) -> list[tuple[FactRecord, float]]: ...

    def query_batch(
        self, scope: Scope, embeddings: Vector, k: int
    ) -> list[list[tuple[FactRecord, float]]]:
        """``query`` for many embeddings at once (current records only)."""

    def nearest(self, scope: Scope, embeddings: Vector, k: int) -> list[list[tuple[str, float]]]:
        """``query_batch`` that reads no record: ids and similarities only."""

    def get(
        self,
        ids: Sequence[str],
        scope: Scope | None = None,
        where: dict[str, Any] | None = None,
        include_invalid: bool = True,
    ) -> list[FactRecord]:
        """Records by id; with ``scope`` the scope (and ``where``) is part of the query."""

    def fetch(
        self,
        ids: Sequence[str],
        scope: Scope,
        where: dict[str, Any] | None = None,
        include_invalid: bool = False,
    ) -> list[tuple[FactRecord, Vector]]:
        """Current records (and superseded ones with ``include_invalid``) by id with their
        embeddings, inside ``scope`` (and ``where``)."""

    def scan(
        self,
        scope: Scope,
        where: dict[str, Any] | None = None,
        limit: int = 100,
        include_invalid: bool = False,
    ) -> list[FactRecord]: ...

    def superseded(self, ids: Sequence[str]) -> set[str] | None:
        """Which of ``ids`` are stored superseded, from an index and without reading the
        records; None when the store cannot tell so (a reader then reads the records)."""

    def delete(self, ids: Sequence[str]) -> None: ...

    def delete_scope(self, scope: Scope) -> list[str]: ...

    def reset(self) -> None: ...

    def refresh(self) -> None:
        """Forget what this process holds of the stored data: another process wrote to it."""

    def close(self) -> None: ...


class KeywordIndex(Protocol):
    """The keyword (BM25) signal over a scope's facts or sources: what the vector stores
    hold, by their searchable text (``models.searchable``)."""

    def search(
        self,
        corpus: Corpus,
        scope: Scope,
        query: str,
        k: int,
        include_invalid: bool = False,
    ) -> list[tuple[str, float]]:
        """The ``k`` best (id, score) for the words of ``query``, best first, scores > 0
        (comparable within one call only). Only records of ``scope``; never a deleted one;
        a superseded fact only with ``include_invalid`` (a point-in-time view). A query
        without a word that counts (empty, only stop words) finds nothing."""

    def changed(self) -> None:
        """Something was written: an index that keeps state refreshes it before the next
        search."""


class GraphStore(Protocol):
    """Entities, relations (with fact provenance), mentions and sources; every call scoped."""

    def setup(self) -> None:
        """Create schema/indexes idempotently (never done in a constructor)."""

    def write(
        self,
        batch: GraphBatch,
        invalidate_facts: Sequence[str] = (),
        at: datetime | None = None,
        ended: Mapping[str, datetime] | None = None,
    ) -> None:
        """One transaction: mark current relations of ``invalidate_facts`` invalid at ``at``,
        or at the fact's time in ``ended`` (when it stopped holding; except relations
        re-written in ``batch``), then upsert ``batch``. Idempotent."""

    def entities(self, scope: Scope) -> list[Entity]: ...

    def scopes(self) -> list[Scope]:
        """Every exact scope the store holds entities, relations or sources of (a scope
        emptied by deletes may still be listed): what a whole-store export visits."""

    def find_entities(self, scope: Scope, norms: Sequence[str]) -> list[Entity]:
        """Entities whose normalised name or alias is one of ``norms``."""

    def relations(
        self,
        scope: Scope,
        *,
        fact_ids: Sequence[str] | None = None,
        entity_ids: Sequence[str] | None = None,
        include_invalid: bool = False,
    ) -> list[Relation]: ...

    def neighbourhood(
        self,
        scope: Scope,
        entity_ids: Sequence[str],
        hops: int = 2,
        limit: int = 500,
        mention_cap: int | None = None,
        at: datetime | None = None,
    ) -> Subgraph:
        """Current relations within ``hops`` of the seeds (at most ``limit`` edges), the
        facts that mention the entities reached and, in ``degree``, how many facts mention
        each. A hub (mentioned by more than ``mention_cap`` facts) lists no mentions: the
        work per query stays bounded however much hangs off the user node. With ``at``, the
        relations that held at that time instead of the current ones (``Relation.held_at``)."""

    def mentions(self, scope: Scope, fact_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(fact_id, entity_id) for the entities the facts mention."""

    def sources(self, scope: Scope, ids: Sequence[str]) -> list[Source]: ...

    def fact_sources(self, fact_ids: Sequence[str]) -> dict[str, list[str]]: ...

    def source_facts(self, source_ids: Sequence[str]) -> dict[str, list[str]]:
        """Source id → ids of the facts derived from it (sources backing none left out)."""

    def delete_sources(self, source_ids: Sequence[str]) -> None:
        """Remove the sources and their links (to facts and entities)."""

    def sources_about(self, scope: Scope, names: Sequence[str], limit: int) -> dict[str, list[str]]:
        """Normalised name → ids of the sources in ``scope`` titled so (passages about it), for
        the names that title at most ``limit`` sources."""

    def title_counts(self, scope: Scope, names: Sequence[str], limit: int) -> dict[str, int]:
        """Normalised name → how many sources in ``scope`` it titles, counted up to ``limit``
        (names titling none are left out): a name that titles many is a speaker."""

    def delete_facts(self, fact_ids: Sequence[str]) -> None:
        """Remove exactly the relations, mentions and source links derived from the facts."""

    def delete_scope(self, scope: Scope) -> None: ...

    def lock(self, scope: Scope) -> AbstractContextManager[object]:
        """Held while a write of ``scope`` is planned and applied: no other writer of that
        scope (another thread, or another process sharing a server) plans meanwhile, so each
        reconciles against what the other wrote. A writer that dies releases it."""

    def reset(self) -> None: ...

    def refresh(self) -> None:
        """Forget what this process holds of the stored data: another process wrote to it."""

    def close(self) -> None: ...
