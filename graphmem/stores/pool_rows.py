"""The embedded pool's rows, slimmed: Chroma keeps a pooled record's vector and the metadata
that filters read (validity, times, ``m:`` keys); the text, the metadata as JSON and the
source ids live in the catalog's SQLite file beside it (``Catalog.texts``), and the scope keys
in its listing, which already holds them (``records``).

Chroma stores a document three times over (a metadata row, its string index and a trigram
full-text entry) and keeps every metadata key as an indexed row, though graphmem reads a
record's text and JSON by id only, and finds a scope's pooled records through the catalog
(a query of the pool restricted to a scope names its ids: ``chroma_pool.pool_query``).

:class:`PoolRows` wraps the pool collection's handle: a write gives Chroma the slim row and
the catalog the rest, a read puts the two together again, so every
caller sees Chroma's own answers. A row written before (its document in Chroma) reads as it
was; a row whose text is in neither place (the catalog's file was lost) is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

#: metadata keys kept in the catalog, not in Chroma: ``texts`` holds the first two, ``records``
#: the scope keys (``valid`` stays: time filters read it, ``retrieve/when.py``)
MOVED = ("metadata_json", "source_ids", "user_id", "agent_id", "run_id")
#: the keys of an answer that hold one value per row
ROW_KEYS = ("ids", "documents", "metadatas", "embeddings", "distances", "uris", "data")
#: id → (text, metadata_json, source_ids, user_id, agent_id, run_id)
Texts = dict[str, tuple[str, str | None, str | None, str | None, str | None, str | None]]
#: (id, text, metadata_json, source_ids, created_at as stored in Chroma's metadata)
Row = tuple[str, str, str | None, str | None, float | None]


class TextStore(Protocol):
    """Where the slimmed parts of pooled rows are kept (the embedded ``Catalog``)."""

    def put_texts(self, rows: Sequence[Row], keep: bool) -> None:
        """``keep``: a row there already stays."""
        ...

    def texts(self, ids: Sequence[str]) -> Texts:
        """The rows of ``ids`` that are in both ``texts`` and the listing."""
        ...

    def drop_texts(self, ids: Sequence[str]) -> None: ...


class PoolRows:
    """A pool collection's handle whose rows keep their text and JSON in ``texts``."""

    def __init__(self, handle: Any, texts: TextStore) -> None:
        self.handle, self._texts = handle, texts

    @property
    def name(self) -> str:
        return str(self.handle.name)

    @property
    def metadata(self) -> dict[str, Any] | None:
        md: dict[str, Any] | None = self.handle.metadata
        return md

    def count(self) -> int:
        return int(self.handle.count())

    def upsert(self, **kwargs: Any) -> Any:
        return self.handle.upsert(**self._slim(kwargs, keep=False))

    def add(self, **kwargs: Any) -> Any:
        """Rows whose ids are new (one that exists is left as it is, with its text)."""
        return self.handle.add(**self._slim(kwargs, keep=True))

    def delete(self, **kwargs: Any) -> Any:
        out = self.handle.delete(**kwargs)
        if kwargs.get("ids"):
            self._texts.drop_texts(kwargs["ids"])
        return out

    def get(self, **kwargs: Any) -> Any:
        res = self.handle.get(**kwargs)
        if _reads_rows(kwargs):
            _fill(res, self._texts.texts(res["ids"]))
        return res

    def query(self, **kwargs: Any) -> Any:
        res = self.handle.query(**kwargs)
        if _reads_rows(kwargs):
            texts = self._texts.texts([i for ids in res["ids"] for i in ids])
            keys = [k for k in ROW_KEYS if res.get(k) is not None]
            for n in range(len(res["ids"])):
                one = {k: list(res[k][n]) for k in keys}
                _fill(one, texts)
                for k in keys:
                    res[k][n] = one[k]
        return res

    def _slim(self, kwargs: dict[str, Any], keep: bool) -> dict[str, Any]:
        """The write's text and JSON to the catalog (first: a row Chroma holds always has
        them), the rest to Chroma. An upsert writes a moved key as None, which removes it
        from a row of the older layout that the write replaces."""
        docs = kwargs.pop("documents", None)
        mds = kwargs.get("metadatas")
        if docs is None or mds is None:
            return kwargs
        if keep:  # a new row: the keys are left out (``add`` takes no None)
            slim = [{k: v for k, v in md.items() if k not in MOVED} for md in mds]
        else:
            slim = [{**md, **dict.fromkeys(MOVED)} for md in mds]
        rows = [
            (i, d, md.get("metadata_json"), md.get("source_ids"), md.get("created_at"))
            for i, d, md in zip(kwargs["ids"], docs, mds)
        ]
        self._texts.put_texts(rows, keep)
        return {**kwargs, "metadatas": slim}


def _reads_rows(kwargs: dict[str, Any]) -> bool:
    return "documents" in kwargs.get("include", ()) or "metadatas" in kwargs.get("include", ())


def _fill(res: dict[str, Any], texts: Texts) -> None:
    """Put the catalog's parts back into one answer's rows (parallel lists, in place); a row
    that has no text anywhere goes."""
    docs, mds = res.get("documents"), res.get("metadatas")
    keep: list[int] = []
    for n, id_ in enumerate(res["ids"]):
        found = texts.get(id_)
        if found is not None:
            if docs is not None:
                docs[n] = found[0]
            if mds is not None:
                mds[n] = {**(mds[n] or {}), **dict(zip(MOVED, found[1:]))}
        elif docs is not None and docs[n] is None:
            continue
        keep.append(n)
    if len(keep) < len(res["ids"]):
        for key in ROW_KEYS:
            if (values := res.get(key)) is not None:
                res[key] = [values[n] for n in keep]
