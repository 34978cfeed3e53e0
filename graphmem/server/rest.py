"""The REST server: Mem0's self-hosted routes over :class:`graphmem.AsyncMemory`, and
graphmem's own (``/ask``, ``/entities``, ``/graph``, ``/health``, and the graph view at ``/ui``).

Every route but ``/health`` and the graph view's page and files (which hold no data) needs
an API key (``Authorization: Bearer <key>`` or ``X-API-Key``) when keys are configured, and
uses the scope the key allows (``auth.Principal.scope``); a memory id of another scope is
not found (404). Errors are ``{"error": "<GraphMemError class>", "detail": …}`` with the
status of ``STATUS``. The server calls ``AsyncMemory`` only: it never reaches past it into
the stores.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp

from .. import __version__, call_args
from ..aio import AsyncMemory
from ..errors import (
    BackendError,
    ConfigError,
    ExtractionError,
    Forbidden,
    GraphMemError,
    InvalidInputError,
    NotFoundError,
    ReadOnlyError,
    Unauthorized,
)
from . import schemas as s
from .auth import Keys, Principal
from .limits import BodyLimit, LoopbackNames
from .ui.routes import router as ui_router

log = logging.getLogger("graphmem.server")

#: the HTTP status of each error class (the first that matches); any other error is a 500
STATUS: tuple[tuple[type[GraphMemError], int], ...] = (
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFoundError, 404),
    (InvalidInputError, 400),
    (ReadOnlyError, 409),
    (ConfigError, 501),  # e.g. ask without an LLM configured
    (ExtractionError, 502),  # the LLM gave no usable reply
    (BackendError, 503),  # a store failed
)
#: a lifespan that a mounted app needs run (e.g. the MCP session manager's ``run()``)
Lifespan = Callable[[], AbstractAsyncContextManager[Any]]


@dataclass(frozen=True)
class Server:
    """What the routes use, kept on ``app.state.graphmem``."""

    memory: AsyncMemory
    keys: Keys
    default: Mapping[str, str] | None


@dataclass(frozen=True)
class Caller:
    """One request's memory, principal and the server's default scope."""

    memory: AsyncMemory
    principal: Principal
    default: Mapping[str, str] | None

    def scope(
        self,
        user_id: str | None,
        agent_id: str | None,
        run_id: str | None,
        filters: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, str], dict[str, Any] | None]:
        """The scope the request may use (named by fields and/or in ``filters``) and the
        metadata filter left."""
        named, rest = call_args.split(filters)
        asked = call_args.merge(user_id, agent_id, run_id, named)
        return self.principal.scope(**asked, default=self.default), rest

    async def owned(self, memory_id: str) -> dict[str, Any]:
        found = await self.memory.get(memory_id)
        if not self.principal.owns(found):
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return found


_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer <key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")


async def caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Caller:
    server: Server = request.app.state.graphmem
    key = header or (bearer.credentials if bearer else None)
    client = request.client.host if request.client else None
    return Caller(server.memory, server.keys.principal(key, client), server.default)


Auth = Annotated[Caller, Depends(caller)]
UserQ = Annotated[str | None, Query(description="user_id scope")]
AgentQ = Annotated[str | None, Query(description="agent_id scope")]
RunQ = Annotated[str | None, Query(description="run_id scope")]
AsOfQ = Annotated[str | None, Query(description="what held at this ISO-8601 time")]
router = APIRouter()


@router.post(
    "/memories",
    response_model=s.AddResponse,
    summary="Add memories",
    response_model_exclude_unset=True,
)
async def add_memory(body: s.MemoryCreate, c: Auth) -> dict[str, Any]:
    """Distil the messages into facts, reconcile them with what the scope knows, store them."""
    scope, _ = c.scope(body.user_id, body.agent_id, body.run_id)
    messages = (
        body.messages
        if isinstance(body.messages, str)
        else [m.model_dump(exclude_none=True) for m in body.messages]
    )
    return await c.memory.add(
        messages, metadata=body.metadata, infer=body.infer, timestamp=body.timestamp, **scope
    )


@router.get(
    "/memories",
    response_model=s.MemoryList,
    summary="Get memories",
    response_model_exclude_unset=True,
)
async def get_all_memories(
    c: Auth,
    user_id: UserQ = None,
    agent_id: AgentQ = None,
    run_id: RunQ = None,
    limit: int | None = None,
    top_k: int | None = None,
    include_invalid: bool = False,
    as_of: AsOfQ = None,
) -> dict[str, Any]:
    """The scope's current memories, oldest first."""
    scope, _ = c.scope(user_id, agent_id, run_id)
    return await c.memory.get_all(
        filters=None,
        limit=limit,
        top_k=top_k,
        include_invalid=include_invalid,
        as_of=as_of,
        **scope,
    )


@router.get(
    "/memories/{memory_id}",
    response_model=s.MemoryOut,
    summary="Get a memory",
    response_model_exclude_unset=True,
)
async def get_memory(memory_id: str, c: Auth) -> dict[str, Any]:
    return await c.owned(memory_id)


@router.put(
    "/memories/{memory_id}",
    response_model=s.UpdateResponse,
    summary="Update a memory",
    response_model_exclude_unset=True,
)
async def update_memory(memory_id: str, body: s.MemoryUpdate, c: Auth) -> dict[str, Any]:
    """Replace a memory's text: its old relations are invalidated, new ones derived."""
    await c.owned(memory_id)
    return await c.memory.update(memory_id, body.text)


@router.delete(
    "/memories/{memory_id}",
    response_model=s.Done,
    summary="Delete a memory",
    response_model_exclude_unset=True,
)
async def delete_memory(memory_id: str, c: Auth) -> dict[str, Any]:
    """Remove a memory and exactly the graph edges derived from it."""
    await c.owned(memory_id)
    return await c.memory.delete(memory_id)


@router.delete(
    "/memories",
    response_model=s.Done,
    summary="Delete all memories",
    response_model_exclude_unset=True,
)
async def delete_all_memories(
    c: Auth, user_id: UserQ = None, agent_id: AgentQ = None, run_id: RunQ = None
) -> dict[str, Any]:
    """Delete every memory of the scope (its history is kept)."""
    scope, _ = c.scope(user_id, agent_id, run_id)
    return await c.memory.delete_all(**scope)


@router.post(
    "/search",
    response_model=s.SearchResponse,
    summary="Search memories",
    response_model_exclude_unset=True,
)
async def search_memories(body: s.SearchRequest, c: Auth) -> dict[str, Any]:
    """Hybrid retrieval (dense + keywords + graph), no LLM call; each result explains its
    score and the relation paths that connect it to the query."""
    scope, rest = c.scope(body.user_id, body.agent_id, body.run_id, body.filters)
    return await c.memory.search(
        body.query,
        limit=body.limit,
        top_k=body.top_k,
        filters=rest,
        threshold=body.threshold,
        config=body.config,
        as_of=body.as_of,
        **scope,
    )


@router.get(
    "/memories/{memory_id}/history",
    response_model=list[s.HistoryEvent],
    summary="Get memory history",
    response_model_exclude_unset=True,
)
async def memory_history(memory_id: str, c: Auth) -> list[dict[str, Any]]:
    """Every event of a memory (deleted ones too), oldest first."""
    rows = await c.memory.history(memory_id)
    if not all(c.principal.owns(r) for r in rows):
        raise NotFoundError(f"no history for memory id {memory_id!r}")
    return rows


@router.post(
    "/reset", response_model=s.Done, summary="Reset all memories", response_model_exclude_unset=True
)
async def reset_memory(c: Auth) -> dict[str, Any]:
    """Delete graphmem's own data, every scope's: an admin key only."""
    c.principal.require_admin()
    await c.memory.reset()
    return {"message": "All memories reset"}


@router.post(
    "/ask",
    response_model=s.AskResponse,
    summary="Answer from memory",
    response_model_exclude_unset=True,
)
async def ask(body: s.AskRequest, c: Auth) -> dict[str, Any]:
    """Hybrid retrieval, then one LLM call that answers with citations (501 without an LLM)."""
    scope, _ = c.scope(body.user_id, body.agent_id, body.run_id)
    return await c.memory.ask(
        body.question, limit=body.limit, config=body.config, as_of=body.as_of, **scope
    )


@router.get(
    "/entities",
    response_model=s.EntityList,
    summary="A scope's entities",
    response_model_exclude_unset=True,
)
async def entities(
    c: Auth, user_id: UserQ = None, agent_id: AgentQ = None, run_id: RunQ = None, limit: int = 1000
) -> dict[str, Any]:
    scope, _ = c.scope(user_id, agent_id, run_id)
    return await c.memory.entities(limit=limit, **scope)


@router.get(
    "/graph",
    response_model=s.GraphOut,
    summary="A scope's graph",
    response_model_exclude_unset=True,
)
async def graph(
    c: Auth,
    user_id: UserQ = None,
    agent_id: AgentQ = None,
    run_id: RunQ = None,
    as_of: AsOfQ = None,
    limit: int = 1000,
    include_invalid: bool = False,
) -> dict[str, Any]:
    """The relations that hold now (``as_of``: then) and the entities they connect;
    ``include_invalid``: the relations superseded by then too."""
    scope, _ = c.scope(user_id, agent_id, run_id)
    return await c.memory.graph(as_of=as_of, limit=limit, include_invalid=include_invalid, **scope)


@router.get("/health", response_model=s.Health, summary="Health")
async def health(request: Request) -> dict[str, Any]:
    """No key needed: whether writes wait for a replay or are quarantined (counts only)."""
    server: Server = request.app.state.graphmem
    out = await server.memory.health()
    return {"ok": out["ok"], "pending": len(out["pending"]), "quarantined": len(out["quarantined"])}


def _error(name: str, detail: Any, status: int) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": name, "detail": detail}, status, headers=headers)


async def _graphmem_error(_: Request, exc: Exception) -> JSONResponse:
    status = next((code for cls, code in STATUS if isinstance(exc, cls)), 500)
    if status == 500:
        log.error("server error: %s", exc, exc_info=exc)
    return _error(type(exc).__name__, str(exc), status)


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]
    return _error(InvalidInputError.__name__, detail, 422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    name = {404: NotFoundError.__name__, 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
    return _error(name, exc.detail, exc.status_code)


async def _internal(_: Request, exc: Exception) -> JSONResponse:
    log.error("server error: %s", exc, exc_info=exc)
    return _error("InternalError", "internal server error", 500)


def create_app(
    memory: AsyncMemory,
    keys: Keys,
    default: Mapping[str, str] | None = None,
    *,
    mounts: Mapping[str, ASGIApp] | None = None,
    lifespans: Sequence[Lifespan] = (),
) -> FastAPI:
    """The REST app over ``memory``. ``default``: the scope a request gets when it (and its
    key) names none, e.g. ``{"user_id": "alice"}`` for a personal server.

    Other protocols join here: ``mounts`` maps a path to an ASGI app served at that exact
    path beside the routes (the MCP server's streamable HTTP app at ``/mcp``), ``lifespans``
    are entered when the server starts and left when it stops (e.g. that app's session
    manager). The request size limit (``Config.max_request_bytes``) covers them too."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for enter in lifespans:
                await stack.enter_async_context(enter())
            yield

    app = FastAPI(
        title="graphmem",
        version=__version__,
        description="Graph memory for AI agents: Mem0-compatible REST routes and graph reads.",
        lifespan=lifespan,
    )
    app.state.graphmem = Server(memory, keys, dict(default) if default else None)
    app.include_router(router)
    app.include_router(ui_router)
    app.add_exception_handler(GraphMemError, _graphmem_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal)
    for path, sub in (mounts or {}).items():
        # a Route serves the exact path (a Mount would answer /mcp with a redirect to /mcp/)
        app.router.routes.append(Route(path, sub, include_in_schema=False))
    app.add_middleware(BodyLimit, max_bytes=memory.config.max_request_bytes)
    if not keys:
        app.add_middleware(LoopbackNames)
    return app


__all__ = ["STATUS", "Caller", "Lifespan", "create_app"]
