"""The keyword signal on Neo4j: Lucene's BM25 over the full-text indexes of fact texts and of
source contents and titles (``cypher/schema.cypher``). Every process that shares the server
searches the same index, which a write updates in its own transaction: each sees every write
at once, and nothing is held in memory.

No text of the user's query reaches Lucene as syntax: the query is rebuilt from its words (as
the embedded index counts them, :mod:`graphmem.terms`), each a quoted phrase with ``"`` and
``\\`` escaped, repeated words weighted by their count. The scope's keys are added as
zero-weight phrases, which narrow the hits inside Lucene without scoring; the exact scope,
validity and a real word match are checked in Cypher (``store/keyword_*.cypher``), all values
as parameters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from ..models import Scope
from ..protocols import Corpus
from ..terms import words

Query = Callable[..., list[dict[str, Any]]]

#: the text fields of each corpus's index (as in schema.cypher) and the query that reads it
FIELDS: dict[Corpus, tuple[str, ...]] = {"facts": ("text",), "sources": ("content", "title")}
QUERIES: dict[Corpus, str] = {"facts": "store/keyword_facts", "sources": "store/keyword_sources"}
#: distinct words of a query that count (Lucene refuses a query of more than 1,024 clauses)
MAX_WORDS = 256
#: hits read at first per result wanted; more are read while too few pass the checks
OVERFETCH = 3


def phrase(text: str) -> str:
    """``text`` as a quoted Lucene phrase: inside quotes only ``\\`` and ``"`` are special."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lucene_query(corpus: Corpus, query: str, scope: Scope) -> str | None:
    """The Lucene query for the words of ``query`` within ``scope``; None when no word
    counts (an empty query, or stop words only)."""
    counts = Counter(w for w in words(query) if any(c.isalnum() for c in w))
    if not counts:
        return None
    terms = " OR ".join(
        phrase(w) + (f"^{n}" if n > 1 else "") for w, n in counts.most_common(MAX_WORDS)
    )
    text = " OR ".join(f"{field}:({terms})" for field in FIELDS[corpus])
    narrow = "".join(f" AND {key}:{phrase(value)}^0" for key, value in scope.items().items())
    return f"({text}){narrow}"


class Neo4jKeywordIndex:
    """:class:`~graphmem.protocols.KeywordIndex` on the Neo4j store's full-text indexes;
    ``query`` runs one named read query (``Neo4jGraphStore.keyword_index`` passes its own)."""

    def __init__(self, query: Query) -> None:
        self._query = query

    def changed(self) -> None:
        """Nothing to refresh: the index is updated by the writes themselves."""

    def search(
        self,
        corpus: Corpus,
        scope: Scope,
        query: str,
        k: int,
        include_invalid: bool = False,
    ) -> list[tuple[str, float]]:
        lucene = lucene_query(corpus, query, scope)
        if lucene is None or k <= 0:
            return []
        fetch = OVERFETCH * k
        while True:
            (row,) = self._query(
                "keyword search",
                QUERIES[corpus],
                query=lucene,
                fetch=fetch,
                k=k,
                include_invalid=include_invalid,
                **scope.as_dict(),
            )
            found = [(hit["id"], float(hit["score"])) for hit in row["found"]]
            if len(found) >= k or row["fetched"] < fetch:  # enough, or all Lucene has
                return found
            fetch *= 4
