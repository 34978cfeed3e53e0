"""Builds the backends a :class:`~graphmem.config.Config` selects. The one place that
chooses implementations; domain code only sees the protocols."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .config import Config
from .embed import CachedEmbedder, OnnxEmbedder, OpenAIEmbedder
from .extract import LLMExtractor, OpenAILLM, SpacyExtractor
from .protocols import LLM, Embedder, Extractor, GraphStore, KeywordIndex, VectorStore
from .retrieve.lexical import LexicalIndex
from .stores.chroma import ChromaVectorStore
from .stores.history import HistoryStore
from .stores.name_vectors import GraphNameVectors
from .stores.networkx_store import NetworkXGraphStore
from .stores.owner import FileLock, own

log = logging.getLogger("graphmem")


@dataclass
class Parts:
    embedder: Embedder
    vectors: VectorStore
    entity_vectors: VectorStore
    source_vectors: VectorStore
    graph: GraphStore
    history: HistoryStore
    offline: SpacyExtractor
    extractor: Extractor
    llm: LLM | None
    keywords: KeywordIndex
    owner: list[FileLock] = field(default_factory=list)  # of the data dirs it writes
    seen: int = -1  # the history's version that the stores hold
    #: the extractor's calls (one per item) run this many at once; 0: it batches its work
    workers: int = 0

    @property
    def stores(self) -> tuple[VectorStore, VectorStore, VectorStore, GraphStore]:
        return self.vectors, self.entity_vectors, self.source_vectors, self.graph

    def setup(self) -> None:
        """Open every store (all closed again if one cannot be opened)."""
        try:
            self.seen = self.history.version()  # first: the stores load what came before
            for store in self.stores:
                store.setup()
        except BaseException:
            self.close()
            raise

    def stale(self) -> bool:
        """Whether another process (or ``Memory``) wrote since the last call; the stores then
        forget what they hold, to read it again."""
        version = self.history.version()
        if version == self.seen:
            return False
        for store in self.stores:
            store.refresh()
        self.seen = version  # not before: a failed refresh is tried again on the next call
        return True

    def close(self) -> None:
        try:
            for part in (*self.stores, self.history):
                part.close()
        finally:
            for lock in self.owner:
                lock.release()


def openai_client(config: Config) -> Any:
    import openai

    key = config.llm_api_key.get_secret_value() if config.llm_api_key else "not-needed"
    return openai.OpenAI(
        api_key=key,
        base_url=config.llm_base_url,
        timeout=config.llm_timeout,
        max_retries=config.llm_max_retries,
    )


def embedded_dirs(config: Config, given: dict[str, Any]) -> set[Path]:
    """The directories of the stores that keep their data in this process's memory (the
    NetworkX graph, an embedded Chroma): one process may write each. The history is not one
    of them (SQLite in WAL mode, shared; its journal names its writers)."""
    graph = given.get("graph")
    dirs = set()
    if isinstance(graph, NetworkXGraphStore):
        dirs.add(graph.path.parent)
    elif graph is None and config.graph_store == "networkx":
        dirs.add(config.data_dir)
    for name in ("vectors", "entity_vectors", "source_vectors"):
        store = given.get(name)
        if isinstance(store, ChromaVectorStore) and store.embedded and store.path:
            dirs.add(store.path.parent)
        elif store is None and not config.chroma_host:
            dirs.add(config.data_dir)
    return dirs


def build(config: Config, **given: Any) -> Parts:
    """Backends from ``config``; anything passed in ``given`` (by part name) wins. Unless
    ``read_only``, the data dirs it would write embedded stores to are locked first: a
    :class:`~graphmem.errors.ConfigError` if another ``Memory`` owns one."""
    owner = [] if config.read_only else own(embedded_dirs(config, given))
    try:
        parts = _build(config, given)
    except BaseException:
        for lock in owner:
            lock.release()
        raise
    parts.owner = owner
    return parts


def make_llm(config: Config) -> OpenAILLM | None:
    """The LLM client of ``config``: with ``extractor = llm``, or ``auto`` and an LLM
    configured (a base URL or an API key); else None (the offline extractor)."""
    use_llm = config.extractor == "llm" or (config.extractor == "auto" and config.llm_configured)
    if not use_llm:
        return None
    return OpenAILLM(
        openai_client(config),
        config.llm_model,
        config.llm_reply_retries,
        config.llm_structured_output,
        config.llm_max_tokens,
    )


def _build(config: Config, given: dict[str, Any]) -> Parts:
    data = config.data_dir
    llm = given.get("llm")
    if llm is None:
        llm = make_llm(config)
    ontology = config.schema_ontology()
    offline = given.get("offline") or SpacyExtractor(config.spacy_model)
    if isinstance(offline, SpacyExtractor):
        offline = offline.with_ontology(ontology)
    extractor = given.get("extractor") or (
        LLMExtractor(llm, ontology) if llm is not None else offline
    )
    # an LLM extractor makes one call per item: ``add_many`` runs them side by side
    workers = config.llm_concurrency if isinstance(extractor, LLMExtractor) else 0
    log.info("graphmem extractor: %s", type(extractor).__name__)
    embedder = given.get("embedder")
    if embedder is None:
        embedder = (
            OpenAIEmbedder(openai_client(config), config.openai_embed_model)
            if config.embedder == "openai"
            else OnnxEmbedder(config.model_dir(), config.embed_batch_size, name=config.embed_model)
        )
        embedder = CachedEmbedder(embedder, config.embed_cache_size)

    def chroma(collection: str, space: Literal["cosine", "ip"] = "cosine") -> ChromaVectorStore:
        return ChromaVectorStore(
            data / "chroma",
            config.chroma_host,
            config.chroma_port,
            collection,
            embedder.family,
            space,
            config.vector_cache_size,
            config.vector_pool_limit,
            upgrade=not config.read_only,
        )

    vectors = given.get("vectors") or chroma(config.collection)
    source_vectors = given.get("source_vectors") or chroma(config.collection + "_sources", "ip")
    graph = given.get("graph")
    if graph is None:
        if config.graph_store == "neo4j":
            from .stores.neo4j_store import Neo4jGraphStore

            graph = Neo4jGraphStore(
                config.neo4j_uri,
                config.neo4j_user,
                config.neo4j_password.get_secret_value(),
                config.neo4j_database,
            )
        else:
            graph = NetworkXGraphStore(data / "graph.sqlite", config.graph_cache_scopes)
    entity_vectors = given.get("entity_vectors") or _names(config, graph, embedder, chroma)
    history = given.get("history") or HistoryStore(data / "history.sqlite")
    keywords = given.get("keywords") or _keywords(config, graph, vectors, source_vectors)
    return Parts(
        embedder,
        vectors,
        entity_vectors,
        source_vectors,
        graph,
        history,
        offline,
        extractor,
        llm,
        keywords,
        workers=workers,
    )


def _names(
    config: Config,
    graph: GraphStore,
    embedder: Embedder,
    chroma: Callable[[str], ChromaVectorStore],
) -> VectorStore:
    """The entity-name vectors: in the embedded graph's file, beside the entities (a data
    dir that kept them in a Chroma store of their own is upgraded on open, unless read-only);
    with Neo4j, a Chroma store of their own."""
    name = config.collection + "_entities"
    if not isinstance(graph, NetworkXGraphStore):
        return chroma(name)

    def legacy() -> tuple[ChromaVectorStore, Path | None]:
        old = ChromaVectorStore(
            config.data_dir / "chroma",
            config.chroma_host,
            config.chroma_port,
            name,
            embedder.family,
            pool_limit=0,  # no catalog of its own is opened (or created)
            upgrade=False,
        )
        catalog = (
            None if config.chroma_host else config.data_dir / "chroma" / f"{name}.catalog.sqlite"
        )
        return old, catalog

    cache = config.graph_vector_cache_mb * 2**20
    return GraphNameVectors(graph, embedder.family, cache, None if config.read_only else legacy)


def _keywords(
    config: Config, graph: GraphStore, facts: VectorStore, sources: VectorStore
) -> KeywordIndex:
    """The graph store's full-text index, shared by every process that uses the server, when
    it is Neo4j; else a BM25 index in this process over the vector stores' records."""
    if config.keyword_index == "auto" and config.graph_store == "neo4j":
        from .stores.neo4j_store import Neo4jGraphStore

        if isinstance(graph, Neo4jGraphStore):
            return graph.keyword_index()
    return LexicalIndex(facts, sources)
