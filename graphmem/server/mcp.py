"""The MCP server (official ``mcp`` SDK): Mem0's tool names and arguments, so that an agent
set up for Mem0's MCP server can switch, plus graphmem's own (search ``as_of``, a memory's
history, the relation paths between two entities, ``ask`` when an LLM is configured).

Served over stdio by ``graphmem mcp`` (a desktop host starts it) and over streamable HTTP
at ``/mcp`` of ``graphmem serve`` (``McpHttp``). Every tool call takes its caller's
``Principal``: the local one on stdio, the one the HTTP request's API key names on HTTP.
Each call's scope comes from ``principal.scope`` (which fills the server's default scope,
``--user alice``, and refuses any scope the key is not bound to); an id-based call checks
``principal.owns`` on the memory it names. Tools reach only the ``AsyncMemory`` facade.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, ParamSpec, TypedDict, cast

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .. import __version__
from ..aio import AsyncMemory
from ..call_args import merge, split
from ..errors import GraphMemError, InvalidInputError, NotFoundError, Unauthorized
from ..memory import Memory
from .auth import ANONYMOUS, Keys, Principal

#: where ``McpHttp`` leaves the principal of an HTTP request (in the ASGI scope's state)
PRINCIPAL = "graphmem_principal"

INSTRUCTIONS = (
    "Long-term memory with a knowledge graph. search_memories before answering from what "
    "the user said in earlier sessions; add_memory for facts, preferences and events worth "
    "keeping. Results are JSON: memory ids, scores, and relation paths that explain a hit."
)

P = ParamSpec("P")
log = logging.getLogger("graphmem.server.mcp")

UserId = Annotated[str | None, Field(description="User scope (default: the server's).")]
AgentId = Annotated[str | None, Field(description="Agent scope.")]
RunId = Annotated[str | None, Field(description="Run (session) scope.")]
AppId = Annotated[str | None, Field(description="Mem0's app scope: graphmem has none, omit.")]
MemoryId = Annotated[str, Field(description="Exact memory id, from an earlier result.")]
AsOf = Annotated[
    str | None,
    Field(description="ISO time: read what held then (superseded since or not)."),
]
Filters = Annotated[
    dict[str, Any] | None,
    Field(
        description='Metadata filters, e.g. {"topic": "work"}, {"prio": {"gte": 3}}, '
        '{"AND": [...]}; may carry user_id/agent_id/run_id (Mem0 style).'
    ),
]

#: what a compact result leaves out: hashes, score breakdowns and the source messages
#: (``get_memory`` has them all)
_DROP = frozenset({"hash", "score_parts", "sources"})
#: what an entity in ``list_entities`` leaves out: its internal id, time and scope
_ENTITY_DROP = frozenset({"id", "created_at", "user_id", "agent_id", "run_id"})
_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
_DELETE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)


def dumps(value: Any) -> str:
    """Compact JSON: no whitespace, no null or empty fields below the top level (an empty
    ``results`` stays)."""
    compact = _compact(value, top=True)
    return json.dumps(compact, separators=(",", ":"), ensure_ascii=False, default=str)


def _compact(value: Any, drop: frozenset[str] = frozenset(), top: bool = False) -> Any:
    if isinstance(value, dict):
        out = {k: _compact(v, drop) for k, v in value.items() if k not in drop}
        empty: tuple[Any, ...] = (None,) if top else (None, "", [], {})
        return {k: v for k, v in out.items() if v not in empty}
    if isinstance(value, list):
        return [_compact(v, drop) for v in value]
    return value


def _brief(found: dict[str, Any]) -> dict[str, Any]:
    """A search (or list) result without what a model does not need to choose."""
    out = dict(found)
    for key in ("results", "sources"):
        if key in out:
            out[key] = [_compact(r, _DROP) for r in out[key]]
    return out


def _errors(fn: Callable[P, Awaitable[str]]) -> Callable[P, Awaitable[str | CallToolResult]]:
    """A graphmem error becomes the tool's error result, ``{"error": class, "detail"}`` as
    the REST routes answer (``Forbidden``, ``NotFoundError``, ``InvalidInputError``…)."""

    @functools.wraps(fn)  # the SDK reads the arguments (and the Context) from its signature
    async def call(*args: P.args, **kwargs: P.kwargs) -> str | CallToolResult:
        try:
            return await fn(*args, **kwargs)
        except GraphMemError as e:
            log.info("%s: %s: %s", fn.__name__, type(e).__name__, e)
            body = dumps({"error": type(e).__name__, "detail": str(e)})
            return CallToolResult(content=[TextContent(type="text", text=body)], is_error=True)

    return call


class Ids(TypedDict, total=False):
    """A call's scope, as ``Principal.scope`` gives it."""

    user_id: str
    agent_id: str
    run_id: str


class Tools:
    """The tools of one server: the memory, the default scope, the local principal."""

    def __init__(
        self, memory: AsyncMemory, default: dict[str, str], local: Principal | None
    ) -> None:
        self.memory = memory
        self.default = dict(default)
        self.local = local

    # -- who calls, and in which scope -----------------------------------------------------
    def principal(self, ctx: Context) -> Principal:
        """The caller: the principal ``McpHttp`` authenticated this HTTP request as, else
        (stdio) the local one. Without either the call is refused."""
        request = ctx.request_context.request
        if isinstance(request, Request):
            found = request.scope.get("state", {}).get(PRINCIPAL)
            if isinstance(found, Principal):
                return found
            raise Unauthorized("this request carries no authenticated API key")
        if self.local is None:
            raise Unauthorized("no principal for this transport")
        return self.local

    def scope(
        self,
        ctx: Context,
        user_id: str | None,
        agent_id: str | None,
        run_id: str | None,
        app_id: str | None = None,
    ) -> Ids:
        """The scope a call may use (``Principal.scope``; the server's default fills what it
        leaves out)."""
        if app_id is not None:
            raise InvalidInputError("graphmem has no app_id scope: use user_id, agent_id, run_id")
        return cast(Ids, self.principal(ctx).scope(user_id, agent_id, run_id, self.default))

    def read_scope(
        self,
        ctx: Context,
        filters: dict[str, Any] | None,
        user_id: str | None,
        agent_id: str | None,
        run_id: str | None,
    ) -> tuple[Ids, dict[str, Any] | None]:
        """A read's scope, named by keyword and/or in ``filters`` (Mem0 3.x, ``call_args``),
        and the metadata filter left."""
        named, rest = split(filters)
        ids = merge(user_id, agent_id, run_id, named)
        asked = (ids.get("user_id"), ids.get("agent_id"), ids.get("run_id"))
        return self.scope(ctx, *asked), rest

    async def owned(self, ctx: Context, memory_id: str) -> dict[str, Any]:
        """The memory ``memory_id`` if the caller may use it; another scope's memory is
        answered as not found (a key cannot learn that it exists)."""
        found = await self.memory.get(memory_id)
        if not self.principal(ctx).owns(found):
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return found

    # -- Mem0's tools ----------------------------------------------------------------------
    @_errors
    async def add_memory(
        self,
        ctx: Context,
        text: Annotated[str | None, Field(description="What to remember, as a sentence.")] = None,
        messages: Annotated[
            list[dict[str, str]] | None,
            Field(description="Conversation turns [{role, content}] instead of text."),
        ] = None,
        user_id: UserId = None,
        agent_id: AgentId = None,
        app_id: AppId = None,
        run_id: RunId = None,
        metadata: Annotated[
            dict[str, Any] | None, Field(description="JSON metadata to store with it.")
        ] = None,
        infer: Annotated[
            bool, Field(description="Distil facts and reconcile (false: store as given).")
        ] = True,
        timestamp: Annotated[
            str | None, Field(description="When it happened (ISO time), if not now.")
        ] = None,
    ) -> str:
        """Store facts, preferences or events to remember. Contradicted memories are
        superseded (their history kept); returns each memory's id and event."""
        scope = self.scope(ctx, user_id, agent_id, run_id, app_id)
        said: str | list[dict[str, str]] | None = messages or text
        if not said:
            raise InvalidInputError("give text or messages")
        out = await self.memory.add(
            said, metadata=metadata, infer=infer, timestamp=timestamp, **scope
        )
        return dumps(out)

    @_errors
    async def search_memories(
        self,
        ctx: Context,
        query: Annotated[str, Field(description="What to find, in natural language.")],
        filters: Filters = None,
        limit: Annotated[int, Field(description="Most results to return.", ge=1)] = 10,
        user_id: UserId = None,
        agent_id: AgentId = None,
        run_id: RunId = None,
        as_of: AsOf = None,
    ) -> str:
        """Search memories (semantic + keyword + knowledge graph; multi-hop questions work).
        Each result has its id, score and the relation paths linking it to the query."""
        scope, where = self.read_scope(ctx, filters, user_id, agent_id, run_id)
        found = await self.memory.search(query, filters=where, limit=limit, as_of=as_of, **scope)
        return dumps(_brief(found))

    @_errors
    async def get_memories(
        self,
        ctx: Context,
        filters: Filters = None,
        page: Annotated[int | None, Field(description="1-based page number.", ge=1)] = None,
        page_size: Annotated[int | None, Field(description="Memories per page.", ge=1)] = None,
        user_id: UserId = None,
        agent_id: AgentId = None,
        run_id: RunId = None,
        as_of: AsOf = None,
    ) -> str:
        """List stored memories of a scope, oldest first (no query)."""
        scope, where = self.read_scope(ctx, filters, user_id, agent_id, run_id)
        size = page_size or (10 if page else 100)
        first = ((page or 1) - 1) * size
        found = await self.memory.get_all(filters=where, limit=first + size, as_of=as_of, **scope)
        found["results"] = found["results"][first:]
        return dumps(_brief(found))

    @_errors
    async def get_memory(self, ctx: Context, memory_id: MemoryId) -> str:
        """Fetch one memory by id, with the messages it was distilled from."""
        return dumps(await self.owned(ctx, memory_id))

    @_errors
    async def update_memory(
        self,
        ctx: Context,
        memory_id: MemoryId,
        text: Annotated[str, Field(description="The memory's new text.")],
    ) -> str:
        """Replace a memory's text (its old relations are superseded, history kept)."""
        await self.owned(ctx, memory_id)
        return dumps(await self.memory.update(memory_id, text))

    @_errors
    async def delete_memory(self, ctx: Context, memory_id: MemoryId) -> str:
        """Delete one memory and the relations derived from it."""
        await self.owned(ctx, memory_id)
        return dumps(await self.memory.delete(memory_id))

    @_errors
    async def delete_all_memories(
        self,
        ctx: Context,
        user_id: UserId = None,
        agent_id: AgentId = None,
        app_id: AppId = None,
        run_id: RunId = None,
    ) -> str:
        """Delete every memory of a scope (history kept)."""
        scope = self.scope(ctx, user_id, agent_id, run_id, app_id)
        return dumps(await self.memory.delete_all(**scope))

    @_errors
    async def list_entities(
        self,
        ctx: Context,
        user_id: UserId = None,
        agent_id: AgentId = None,
        run_id: RunId = None,
    ) -> str:
        """List the people, places and things a scope's memories name (graph entities)."""
        scope = self.scope(ctx, user_id, agent_id, run_id)
        found = await self.memory.entities(**scope)
        return dumps([_compact(e, _ENTITY_DROP) for e in found["results"]])

    @_errors
    async def delete_entities(
        self,
        ctx: Context,
        user_id: Annotated[str | None, Field(description="Erase this user.")] = None,
        agent_id: Annotated[str | None, Field(description="Erase this agent.")] = None,
        app_id: AppId = None,
        run_id: Annotated[str | None, Field(description="Erase this run.")] = None,
    ) -> str:
        """Erase a user, agent or run entirely: memories, graph and history. Irreversible."""
        if not (user_id or agent_id or run_id):
            raise InvalidInputError("name the user_id, agent_id or run_id to erase")
        scope = self.scope(ctx, user_id, agent_id, run_id, app_id)
        return dumps(await self.memory.erase(**scope))

    # -- graphmem's own --------------------------------------------------------------------
    @_errors
    async def memory_history(self, ctx: Context, memory_id: MemoryId) -> str:
        """A memory's events, oldest first: added, updated (old and new text), deleted."""
        events = await self.memory.history(memory_id)
        principal = self.principal(ctx)
        if not all(principal.owns(e) for e in events):  # its events name their scope
            raise NotFoundError(f"no history for memory id {memory_id!r}")
        return dumps(events)

    @_errors
    async def relation_paths(
        self,
        ctx: Context,
        source: Annotated[str, Field(description="An entity's name, e.g. a person.")],
        target: Annotated[str, Field(description="Another entity's name, e.g. a city.")],
        user_id: UserId = None,
        agent_id: AgentId = None,
        run_id: RunId = None,
        max_hops: Annotated[int, Field(description="Longest path, in relations.", ge=1)] = 3,
        limit: Annotated[int, Field(description="Most paths to return.", ge=1)] = 5,
        as_of: AsOf = None,
    ) -> str:
        """How two entities are connected in the knowledge graph: the shortest relation
        paths between them, each with the ids of the memories it rests on."""
        scope = self.scope(ctx, user_id, agent_id, run_id)
        found = await self.memory.paths(
            source, target, max_hops=max_hops, limit=limit, as_of=as_of, **scope
        )
        return dumps(found)

    @_errors
    async def ask(
        self,
        ctx: Context,
        question: Annotated[str, Field(description="A question about what was remembered.")],
        user_id: UserId = None,
        agent_id: AgentId = None,
        run_id: RunId = None,
        as_of: AsOf = None,
    ) -> str:
        """Answer a question from memory (one LLM call), citing the memory ids used."""
        scope = self.scope(ctx, user_id, agent_id, run_id)
        return dumps(await self.memory.ask(question, as_of=as_of, **scope))


#: tool name → its hints; the order is the order a host lists them in
_TOOLS = {
    "add_memory": _WRITE,
    "search_memories": _READ,
    "get_memories": _READ,
    "get_memory": _READ,
    "update_memory": _WRITE,
    "delete_memory": _DELETE,
    "delete_all_memories": _DELETE,
    "list_entities": _READ,
    "delete_entities": _DELETE,
    "memory_history": _READ,
    "relation_paths": _READ,
}


def create_server(
    memory: AsyncMemory,
    default: dict[str, str] | None = None,
    *,
    local: Principal | None = None,
    ask: bool = False,
) -> MCPServer:
    """An MCP server over ``memory``. ``default``: the scope a call without ids uses
    (``{"user_id": "alice"}``); ``local``: the principal of calls that arrive without an HTTP
    request (stdio); ``ask``: register ``ask`` (the memory has an LLM)."""
    tools = Tools(memory, default or {}, local)
    server: MCPServer = MCPServer("graphmem", instructions=INSTRUCTIONS, version=__version__)
    names = {**_TOOLS, **({"ask": _READ} if ask else {})}
    for name, hints in names.items():
        server.add_tool(getattr(tools, name), name=name, annotations=hints, structured_output=False)
    return server


class McpHttp:
    """The streamable HTTP endpoint (stateless, JSON responses): an ASGI app that
    authenticates every request by its API key (``Authorization: Bearer …`` or
    ``X-API-Key``; ``Keys.principal``) before the SDK sees it, and leaves the principal in
    the request's state for the tools. Serve it at one exact path (a ``Route``, not a
    ``Mount``, which would redirect ``/mcp`` to ``/mcp/``), with ``lifespan()`` entered for
    the app's life: the SDK's session manager runs its task group there."""

    def __init__(
        self,
        memory: AsyncMemory,
        keys: Keys,
        default: dict[str, str] | None = None,
        *,
        ask: bool = False,
    ) -> None:
        self.keys = keys
        self.server = create_server(memory, default, ask=ask)
        # builds the session manager (stateless: every request stands alone, so any server
        # process of a deployment can answer it)
        self.server.streamable_http_app(
            streamable_http_path="/",
            stateless_http=True,
            json_response=True,
            transport_security=_rebinding(keys),
        )
        self.manager = self.server.session_manager

    def lifespan(self) -> AbstractAsyncContextManager[None]:
        return self.manager.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                principal = self.keys.principal(_api_key(scope), _client(scope))
            except Unauthorized as e:
                await _refuse(send, 401, type(e).__name__, str(e))
                return
            scope.setdefault("state", {})[PRINCIPAL] = principal
        await self.manager.handle_request(scope, receive, send)


def _rebinding(keys: Keys) -> TransportSecuritySettings:
    """Without keys the server serves loopback clients as the anonymous admin: then the
    SDK's DNS rebinding protection admits only loopback ``Host`` and ``Origin`` headers, so
    that no web page can reach it through a name that resolves to 127.0.0.1. With keys, a
    request needs a key anyway (and may come through a proxy under any name)."""
    if keys:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


def _api_key(scope: Scope) -> str | None:
    """The request's API key, read as the REST routes read it: ``X-API-Key``, else
    ``Authorization: Bearer <key>``."""
    headers: dict[str, str] = {
        k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
    }
    if headers.get("x-api-key"):
        return headers["x-api-key"]
    kind, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if kind.lower() == "bearer" else None


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


async def _refuse(send: Send, status: int, error: str, detail: str) -> None:
    body = dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def run_stdio(memory: Memory, default: dict[str, str] | None = None) -> None:
    """Serve ``memory`` over stdio until the host closes the pipe (``graphmem mcp``): the
    local process that started it acts as the anonymous admin. Only MCP reaches stdout."""
    with contextlib.redirect_stdout(sys.stderr):  # opening the stores prints nothing to MCP
        ask = memory.can_ask
    server = create_server(AsyncMemory(memory), default, local=ANONYMOUS, ask=ask)
    try:
        server.run("stdio")
    finally:
        memory.close()
