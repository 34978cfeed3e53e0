"""Chroma vector store: embedded ``PersistentClient`` or a ``chroma run`` server."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import BackendError
from ..models import FactRecord, Scope
from ..protocols import Vector
from .filters import META_PREFIX

R = TypeVar("R")
_SCOPE_KEYS = ("user_id", "agent_id", "run_id")


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def to_metadata(rec: FactRecord) -> dict[str, Any]:
    md: dict[str, Any] = {
        **rec.scope.items(),
        "valid": rec.invalid_at is None,
        "created_at": rec.created_at.timestamp(),
        "metadata_json": json.dumps(rec.metadata, default=str),
        "source_ids": json.dumps(list(rec.source_ids)),
    }
    for key, ts in (
        ("updated_at", rec.updated_at),
        ("valid_from", rec.valid_from),
        ("invalid_at", rec.invalid_at),
    ):
        if ts is not None:
            md[key] = ts.timestamp()
    for key, value in rec.metadata.items():
        if isinstance(value, str | int | float | bool):
            md[META_PREFIX + key] = value
    return md


def from_row(id_: str, text: str, md: dict[str, Any]) -> FactRecord:
    return FactRecord(
        id=id_,
        text=text,
        scope=Scope(**{k: md.get(k) for k in _SCOPE_KEYS}),
        metadata=json.loads(md.get("metadata_json") or "{}"),
        created_at=_ts(md["created_at"]) or datetime.now(UTC),
        updated_at=_ts(md.get("updated_at")),
        valid_from=_ts(md.get("valid_from")),
        invalid_at=_ts(md.get("invalid_at")),
        source_ids=tuple(json.loads(md.get("source_ids") or "[]")),
    )


def scope_where(
    scope: Scope, where: dict[str, Any] | None = None, include_invalid: bool = False
) -> dict[str, Any]:
    """The scope (and validity) is part of every query, never filtered afterwards."""
    clauses: list[dict[str, Any]] = [{k: {"$eq": v}} for k, v in scope.items().items()]
    if not include_invalid:
        clauses.append({"valid": {"$eq": True}})
    if where:
        clauses.append(where)
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaVectorStore:
    """Facts as Chroma records (cosine space); embeddings are computed by graphmem."""

    def __init__(
        self,
        path: Path | None = None,
        host: str | None = None,
        port: int = 8000,
        collection: str = "graphmem",
    ) -> None:
        self.path, self.host, self.port, self.collection_name = path, host, port, collection
        self._client: Any = None
        self._col: Any = None

    def _call(self, what: str, fn: Callable[[], R]) -> R:
        if self._col is None:
            self.setup()
        try:
            return fn()
        except BackendError:
            raise
        except Exception as e:  # chromadb raises many unrelated types
            where = f"{self.host}:{self.port}" if self.host else str(self.path)
            raise BackendError(f"chroma {what} failed ({where}): {e}") from e

    def setup(self) -> None:
        if self._col is not None:
            return
        try:
            import chromadb
            from chromadb.config import Settings

            settings = Settings(anonymized_telemetry=False, allow_reset=True)
            if self.host:
                self._client = chromadb.HttpClient(
                    host=self.host, port=self.port, settings=settings
                )
            else:
                assert self.path is not None
                self.path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(self.path), settings=settings)
            self._col = self._client.get_or_create_collection(
                self.collection_name, metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
        except Exception as e:
            raise BackendError(
                f"cannot open chroma collection {self.collection_name!r}: {e}"
            ) from e

    def upsert(self, records: Sequence[FactRecord], embeddings: Vector | None) -> None:
        if not records:
            return
        ids = [r.id for r in records]
        docs = [r.text for r in records]
        mds = [to_metadata(r) for r in records]
        if embeddings is None:
            # metadata only: Chroma would embed changed documents with its own model
            self._call("update", lambda: self._col.update(ids=ids, metadatas=mds))
        else:
            embs = np.asarray(embeddings, dtype=np.float32)
            self._call(
                "upsert",
                lambda: self._col.upsert(ids=ids, documents=docs, metadatas=mds, embeddings=embs),
            )

    def query(
        self,
        scope: Scope,
        embedding: Vector,
        k: int,
        where: dict[str, Any] | None = None,
        include_invalid: bool = False,
    ) -> list[tuple[FactRecord, float]]:
        flt = scope_where(scope, where, include_invalid)
        res = self._call(
            "query",
            lambda: self._col.query(
                query_embeddings=[np.asarray(embedding, dtype=np.float32)],
                n_results=k,
                where=flt,
                include=["documents", "metadatas", "distances"],
            ),
        )
        rows = zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0])
        return [(from_row(i, d, m), 1.0 - float(dist)) for i, d, m, dist in rows]

    def get(
        self,
        ids: Sequence[str],
        scope: Scope | None = None,
        where: dict[str, Any] | None = None,
        include_invalid: bool = True,
    ) -> list[FactRecord]:
        if not ids:
            return []
        flt = scope_where(scope, where, include_invalid) if scope else None
        res = self._call(
            "get",
            lambda: self._col.get(ids=list(ids), where=flt, include=["documents", "metadatas"]),
        )
        found = {
            i: from_row(i, d, m) for i, d, m in zip(res["ids"], res["documents"], res["metadatas"])
        }
        return [found[i] for i in ids if i in found]

    def embeddings(self, ids: Sequence[str]) -> dict[str, Vector]:
        if not ids:
            return {}
        res = self._call("get", lambda: self._col.get(ids=list(ids), include=["embeddings"]))
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(res["ids"], res["embeddings"])}

    def scan(
        self,
        scope: Scope,
        where: dict[str, Any] | None = None,
        limit: int = 100,
        include_invalid: bool = False,
    ) -> list[FactRecord]:
        flt = scope_where(scope, where, include_invalid)
        res = self._call(
            "get",
            lambda: self._col.get(where=flt, limit=limit, include=["documents", "metadatas"]),
        )
        recs = [
            from_row(i, d, m) for i, d, m in zip(res["ids"], res["documents"], res["metadatas"])
        ]
        return sorted(recs, key=lambda r: r.created_at)

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._call("delete", lambda: self._col.delete(ids=list(ids)))

    def delete_scope(self, scope: Scope) -> list[str]:
        flt = scope_where(scope, include_invalid=True)
        res = self._call("get", lambda: self._col.get(where=flt, include=[]))
        ids: list[str] = list(res["ids"])
        self.delete(ids)
        return ids

    def reset(self) -> None:
        """Drop graphmem's own collection only (other collections are left alone)."""
        self.setup()
        try:
            self._client.delete_collection(self.collection_name)
        except Exception as e:
            raise BackendError(f"chroma reset failed: {e}") from e
        self._col = None
        self.setup()

    def close(self) -> None:
        self._col = None
        self._client = None
