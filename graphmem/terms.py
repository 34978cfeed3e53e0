"""The words of a text as the keyword signal counts them: bm25s's tokenizer (lowercased words
of two or more characters, English stop words left out, no stemming). The in-process BM25
index reads documents and queries with it; the shared full-text index of the Neo4j store builds
its queries from the same words (its analyzer, Lucene's ``standard``, drops the same 33 stop
words)."""

from __future__ import annotations

from typing import Any


def tokenize(texts: list[str], ids: bool = False) -> Any:
    """Word lists (``ids``: bm25s's ``Tokenized`` ids and vocabulary, for indexing)."""
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", show_progress=False, return_ids=ids)


def words(text: str) -> list[str]:
    """The words of one text, in order, repeats kept."""
    found: list[str] = tokenize([text])[0]
    return found
