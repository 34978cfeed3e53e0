"""``graphmem serve`` and ``graphmem keys``: registered by ``graphmem/cli.py``. The web
frameworks are imported when a server starts, not when the command line loads."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..config import Config
from ..errors import GraphMemError
from .auth import Keys, add_key, remove_key

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
