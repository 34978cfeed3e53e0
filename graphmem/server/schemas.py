"""Request and response bodies of the REST server (Mem0's self-hosted server's field names,
plus graphmem's own): the OpenAPI document at ``/openapi.json`` is generated from these.

Requests ignore fields they do not know (Mem0 clients send a few more); responses are
exactly what :class:`graphmem.Memory` returns (a field a result does not carry is left out).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

Time = str | float  # an ISO-8601 time or epoch seconds


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- requests ------------------------------------------------------------------------------
class Scoped(BaseModel):
    """The scope of a call: at least one id, unless the API key or the server names one."""

    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None


class Message(BaseModel):
    role: str = Field("user", description="user, assistant, …: only user turns state facts")
    content: str
    name: str | None = Field(None, description="the speaker's name")


class MemoryCreate(Scoped):
    messages: list[Message] | str = Field(description="the conversation turns (or one text)")
    metadata: dict[str, Any] | None = None
    infer: bool = Field(True, description="distil facts (false: store the text verbatim)")
    timestamp: Time | None = Field(None, description="when it happened (valid_from)")


class SearchRequest(Scoped):
    query: str
    filters: dict[str, Any] | None = Field(
        None, description="metadata filters; may name the scope too (Mem0 3.x)"
    )
    limit: int | None = Field(None, description="at most this many results (default 10)")
    top_k: int | None = Field(None, description="the same as limit (Mem0 3.x)")
    threshold: float | None = None
    config: str = Field("hybrid", description="search preset: hybrid, fusion, dense, bm25")
    as_of: Time | None = Field(None, description="search what held at this time")


class AskRequest(Scoped):
    question: str = Field(validation_alias=AliasChoices("question", "query"))
    limit: int = 10
    config: str = "hybrid"
    as_of: Time | None = None


class MemoryUpdate(BaseModel):
    text: str = Field(
        validation_alias=AliasChoices("text", "data", "memory"), description="the new text"
    )


# -- responses -----------------------------------------------------------------------------
class ScopeIds(_Out):
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None


class RelationOut(_Out):
    source: str
    relationship: str
    target: str
    valid_from: str | None = None
    invalid_at: str | None = None
    fact_id: str | None = None
    score: float | None = None


class AddedMemory(_Out):
    id: str
    memory: str
    event: Literal["ADD", "UPDATE", "DELETE", "NONE"]
    previous_memory: str | None = None
    superseded_by: str | None = None


class RelationChanges(_Out):
    added: list[RelationOut]
    invalidated: list[RelationOut]


class LLMUsage(_Out):
    llm_calls: int = Field(description="LLM calls answered (repairs included)")
    prompt_tokens: int
    completion_tokens: int
    cost: float | None = Field(None, description="USD, with a price table (llm_prices)")


class AddResponse(_Out):
    results: list[AddedMemory]
    relations: RelationChanges
    usage: LLMUsage | None = None


class SourceOut(_Out):
    id: str
    role: str
    title: str | None
    content: str
    created_at: str | None
    metadata: dict[str, Any]


class MemoryOut(ScopeIds):
    id: str
    memory: str
    hash: str
    metadata: dict[str, Any]
    created_at: str | None
    updated_at: str | None
    valid_from: str | None
    invalid_at: str | None
    sources: list[SourceOut] | None = None


class ScoredMemory(MemoryOut):
    score: float
    score_parts: dict[str, float]
    paths: list[str]


class PassageOut(ScopeIds):
    id: str
    title: str | None
    role: str
    content: str
    metadata: dict[str, Any]
    created_at: str | None
    valid_from: str | None
    score: float
    score_parts: dict[str, float]
    paths: list[str]


class SearchResponse(_Out):
    results: list[ScoredMemory]
    relations: list[RelationOut]
    sources: list[PassageOut]


class MemoryList(_Out):
    results: list[MemoryOut]


class UpdateResponse(_Out):
    message: str
    id: str
    memory: str
    previous_memory: str


class Done(_Out):
    message: str
    id: str | None = None
    deleted: int | None = None


class HistoryEvent(ScopeIds):
    id: str
    memory_id: str
    event: str
    old_memory: str | None
    new_memory: str | None
    created_at: str
    actor: str | None = None
    role: str | None = None
    is_deleted: bool
    superseded_by: str | None = None


class AskResponse(_Out):
    answer: str
    citations: list[str]
    paths: list[str]
    results: list[ScoredMemory]
    usage: LLMUsage | None = None


class EntityOut(ScopeIds):
    id: str
    name: str
    type: str
    aliases: list[str]
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        description="the fields of the entity type's attribute model that its mentions gave "
        "(the latest value of each); empty without one",
    )
    created_at: str | None


class EntityList(_Out):
    results: list[EntityOut]


class GraphRelation(ScopeIds):
    id: str
    source: str
    relationship: str
    target: str
    source_id: str
    target_id: str
    fact_id: str
    valid_from: str | None
    invalid_at: str | None
    created_at: str | None


class GraphOut(_Out):
    entities: list[EntityOut]
    relations: list[GraphRelation]
    as_of: str | None


class Health(BaseModel):
    ok: bool = Field(description="no write waits for a replay, none is quarantined")
    pending: int
    quarantined: int


class ErrorBody(BaseModel):
    error: str = Field(description="the class of the error, e.g. NotFoundError")
    detail: Any
