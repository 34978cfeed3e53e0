"""Declarative search configuration with named presets."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SearchConfig(BaseModel):
    """What the retriever does. A signal with weight 0 is not computed at all.

    The score of a fact or a source is ``dense_weight · cosine + bm25_weight · bm25 / max bm25
    + graph_weight · graph`` over the candidates of one query, where the cosine is on the
    embedder's common scale (``protocols.rescale``) and ``graph`` comes from personalized
    PageRank: for a fact its share of the best fact's, for a source ``k / (k + r)`` with ``r``
    its rank by walk score among the candidate sources (``k`` = ``graph_rank_k``). A fact whose
    sources are all sources of better facts scores ``redundancy_penalty`` less (results cover
    more messages).
    Facts also inherit ``source_weight · score / best score`` of the best-ranked source they
    were distilled from (the passage or message as a whole, over its fact–source links), unless
    the source matches the query best through one of its facts that no longer holds. A fact
    that carries a relation of a query entity that the query names by a word of its type
    ("Where do I live?": the user's ``LIVES_IN``) scores ``relation_weight`` more. A
    source titled by an entity (a passage by its title, a message by its speaker) gets at least
    ``about_weight`` times that entity's PageRank score as its own. A fact valid from within
    the period the query names ("in June 2023") scores ``time_weight`` more. The ``hop_queries``
    entities the walk reaches best that the query does not name each steer one more dense query
    over the sources (the query vector plus the entity's name vector); a source scores the
    better of its cosine and its cosine to such a query less ``hop_penalty`` (``hop`` part).
    The names of the query's speakers (names that title more than ``hub_cap`` sources) are
    left out of the BM25 query and blended out of the dense one (``speaker_blend``).
    """

    model_config = ConfigDict(frozen=True)

    name: str = "hybrid"
    dense_weight: float = Field(default=1.0, ge=0)
    bm25_weight: float = Field(default=0.1, ge=0)
    graph_weight: float = Field(default=0.6, ge=0)
    graph_rank_k: float = Field(
        default=3.0, gt=0, description="a source's graph part is k / (k + its rank in the walk)"
    )
    candidates: int = Field(default=30, ge=1, le=1000, description="per signal and level")
    hops: int = Field(default=1, ge=0, le=4, description="relation hops from the start entities")
    bridge_hits: int = Field(default=3, ge=0, le=50, description="top hits whose entities bridge")
    bridge_weight: float = Field(default=1.0, ge=0, description="restart mass via the top hits")
    bridge_temperature: float = Field(default=0.05, gt=0, description="softness of that mass")
    max_edges: int = Field(default=50, ge=1, description="relations the walk may use")
    max_mentions: int = Field(
        default=400, ge=0, description="fact–entity links the walk may use, rarest first"
    )
    hub_cap: int = Field(default=20, ge=1, description="mentions above which an entity is a hub")
    damping: float = Field(default=0.85, gt=0, lt=1)
    redundancy_penalty: float = Field(
        default=0.5, ge=0, description="score taken off a fact whose sources are all covered"
    )
    about_weight: float = Field(
        default=0.5, ge=0, description="walk score a source gets from the entity it is about"
    )
    about_entities: int = Field(
        default=30, ge=0, description="best walk entities whose sources are looked up"
    )
    source_weight: float = Field(
        default=0.5, ge=0, description="share of its best source's score a fact inherits"
    )
    relation_weight: float = Field(
        default=0.5,
        ge=0,
        description="added to a fact of a relation of a query entity that the query names",
    )
    similar_names: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="also link query phrases to entity names this similar (common scale)",
    )
    time_weight: float = Field(
        default=1.0, ge=0, description="added to a fact valid from within the period asked about"
    )
    time_slack_days: float = Field(
        default=3.0, ge=0, description="days the period asked about extends on either side"
    )
    hop_queries: int = Field(
        default=5, ge=0, le=20, description="bridge entities that steer a second-hop query"
    )
    hop_penalty: float = Field(
        default=0.2, ge=0, description="taken off a source's cosine to a second-hop query"
    )
    speaker_blend: float = Field(
        default=0.7,
        ge=0,
        le=1,
        description="weight of the query without its speakers' names in the dense query",
    )


#: the baselines read no graph: no walk, no inheritance, no speakers, no period
_PLAIN = SearchConfig(
    graph_weight=0.0,
    source_weight=0.0,
    relation_weight=0.0,
    speaker_blend=0.0,
    time_weight=0.0,
    hop_queries=0,
)

PRESETS: dict[str, SearchConfig] = {
    "dense": _PLAIN.model_copy(update={"name": "dense", "bm25_weight": 0.0}),
    "bm25": _PLAIN.model_copy(update={"name": "bm25", "dense_weight": 0.0, "bm25_weight": 1.0}),
    "fusion": _PLAIN.model_copy(update={"name": "fusion"}),
    "hybrid": SearchConfig(),
}
