"""``graphmem serve`` and ``graphmem keys``: registered by ``graphmem/cli.py``. The web
frameworks are imported when a server starts, not when the command line loads."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..config import Config
from ..errors import GraphMemError
from .auth import Keys, add_key, is_loopback, remove_key

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from ..aio import AsyncMemory
    from .rest import Lifespan

keys_app = typer.Typer(help="API keys of the servers (stored hashed).", no_args_is_help=True)

KeysFile = Annotated[
    Path | None, typer.Option("--file", help="the keys file (default: GRAPHMEM_KEYS_FILE)")
]


def _keys_file(path: Path | None) -> Path:
    found = path or Config.load().keys_file
    if found is None:
        raise typer.BadParameter("give --file or set GRAPHMEM_KEYS_FILE", param_hint="--file")
    return found


def _fail(e: GraphMemError) -> typer.Exit:
    typer.echo(f"error: {e}", err=True)
    return typer.Exit(2)


@keys_app.command("add")
def keys_add(
    user: Annotated[str | None, typer.Option("--user", "-u", help="bind to this user_id")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="bind to this agent_id")] = None,
    run: Annotated[str | None, typer.Option("--run", help="bind to this run_id")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="every scope, and reset")] = False,
    name: Annotated[str | None, typer.Option("--name", help="a label (default: the id)")] = None,
    file: KeysFile = None,
) -> None:
    """Create an API key bound to a scope (or --admin), store its hash, print the key once."""
    path = _keys_file(file)
    label = name or user or agent or run or "admin"
    try:
        key = add_key(path, label, admin, user_id=user, agent_id=agent, run_id=run)
    except GraphMemError as e:
        raise _fail(e) from e
    typer.echo(f"API key {label!r} added to {path}; it is not shown again:", err=True)
    sys.stdout.write(key + "\n")


@keys_app.command("list")
def keys_list(file: KeysFile = None) -> None:
    """The keys of the file: names and scopes (the keys themselves are not stored)."""
    try:
        keys = Keys.load(_keys_file(file))
    except GraphMemError as e:
        raise _fail(e) from e
    for p in keys.by_hash.values():
        sys.stdout.write(json.dumps({"name": p.name, "admin": p.admin, **p.bound}) + "\n")


@keys_app.command("remove")
def keys_remove(name: str, file: KeysFile = None) -> None:
    """Revoke the key named NAME (a running server reads its keys when it starts)."""
    try:
        remove_key(_keys_file(file), name)
    except GraphMemError as e:
        raise _fail(e) from e


def extensions(
    memory: AsyncMemory, keys: Keys, default: dict[str, str] | None
) -> tuple[dict[str, ASGIApp], list[Lifespan]]:
    """The other protocols ``graphmem serve`` serves beside the REST routes: path → ASGI app
    (routed by ``rest.create_app``), and the lifespans those apps need entered while the
    server runs: the MCP server's streamable HTTP endpoint at ``/mcp``."""
    from .mcp import McpHttp

    mcp = McpHttp(memory, keys, default, ask=memory.memory.can_ask)
    return {"/mcp": mcp}, [mcp.lifespan]


def serve(
    host: Annotated[str, typer.Option(help="address to bind (a non-loopback one needs keys)")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="port to bind")] = 8000,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="data directory (GRAPHMEM_DATA_DIR)")
    ] = None,
    keys: Annotated[
        Path | None, typer.Option("--keys", help="API keys file (GRAPHMEM_KEYS_FILE)")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="default user_id")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="default agent_id")] = None,
    run: Annotated[str | None, typer.Option("--run", help="default run_id")] = None,
    threads: Annotated[int, typer.Option(help="memory calls run at once")] = 8,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level")] = "info",
) -> None:
    """Serve the memory over HTTP: Mem0-compatible REST routes (and /docs), the graph view at
    /ui. One server per embedded data dir; several servers may share Neo4j and a Chroma
    server."""
    try:
        config = Config.load({"data_dir": data_dir} if data_dir else None)
        accepted = Keys.from_config(config, keys)
    except GraphMemError as e:
        raise _fail(e) from e
    if accepted.empty and not is_loopback(host):
        typer.echo(
            f"error: refusing to serve {host} without API keys: anyone who can reach it could "
            "read and change every memory. Add keys (graphmem keys add --file FILE, then "
            "--keys FILE) or bind 127.0.0.1.",
            err=True,
        )
        raise typer.Exit(2)
    default = {k: v for k, v in (("user_id", user), ("agent_id", agent), ("run_id", run)) if v}
    _run(config, accepted, default or None, host, port, threads, log_level)


def _run(
    config: Config,
    keys: Keys,
    default: dict[str, str] | None,
    host: str,
    port: int,
    threads: int,
    log_level: str,
) -> None:
    import uvicorn

    from ..aio import AsyncMemory
    from .rest import create_app

    memory = AsyncMemory(config, threads=threads)
    try:
        memory.memory.health()  # opened now: a data dir owned by another process fails here
        mounts, lifespans = extensions(memory, keys, default)
        app = create_app(memory, keys, default, mounts=mounts, lifespans=lifespans)
        uvicorn.run(app, host=host, port=port, log_level=log_level)
    except GraphMemError as e:
        raise _fail(e) from e
    finally:
        memory.memory.close()
