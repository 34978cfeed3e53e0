"""`graphmem` command line: a thin shell over :class:`graphmem.Memory`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .bench_cli import bench_app
from .config import Config
from .cypher_cli import cypher_cmd
from .errors import GraphMemError, InvalidInputError
from .memory import Memory
from .server.cli import keys_app, serve

app = typer.Typer(help="graphmem: long-term graph memory for AI agents.", no_args_is_help=True)
app.command("cypher")(cypher_cmd)
app.add_typer(bench_app, name="bench")
app.add_typer(keys_app, name="keys")
app.command("serve")(serve)
console = Console()

User = Annotated[str | None, typer.Option("--user", "-u", help="user_id scope")]
Agent = Annotated[str | None, typer.Option("--agent", help="agent_id scope")]
Run = Annotated[str | None, typer.Option("--run", help="run_id scope")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="data directory (GRAPHMEM_DATA_DIR)")
]


def _memory(data_dir: Path | None) -> Memory:
    return Memory(Config.load({"data_dir": data_dir} if data_dir else None))


def _run(fn: Any) -> Any:
    try:
        return fn()
    except GraphMemError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e


def _print(data: Any, as_json: bool, columns: tuple[str, ...] = ("id", "memory")) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    rows = data.get("results", data) if isinstance(data, dict) else data
    table = Table(*columns)
    for r in rows:
        table.add_row(*(str(r.get(c, "")) for c in columns))
    console.print(table)


@app.command()
def add(
    text: str,
    user: User = None,
    agent: Agent = None,
    run: Run = None,
    metadata: Annotated[str | None, typer.Option(help="JSON object")] = None,
    infer: Annotated[bool, typer.Option(help="extract facts (else store as-is)")] = True,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Remember TEXT."""
    md = json.loads(metadata) if metadata else None
    with _memory(data_dir) as m:
        out = _run(
            lambda: m.add(text, user_id=user, agent_id=agent, run_id=run, metadata=md, infer=infer)
        )
    _print(out, as_json, ("id", "event", "memory"))
    if not as_json and out["usage"]["llm_calls"]:
        console.print(usage_line(out["usage"]))


@app.command("add-many")
def add_many(
    file: Annotated[Path, typer.Argument(help="JSON list or JSON Lines of items; - for stdin")],
    user: User = None,
    agent: Agent = None,
    run: Run = None,
    infer: Annotated[bool, typer.Option(help="extract facts (else store as-is)")] = True,
    batch_size: Annotated[int, typer.Option(help="items per journaled write")] = 64,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Remember many items of one scope (each a text, a message list or {"messages", ...}, as
    Memory.add_many takes them), with a progress bar; prints what changed and the LLM usage."""
    items = _run(lambda: _items(file))
    with _memory(data_dir) as m:
        out = _run(
            lambda: m.add_many(
                items,
                user_id=user,
                agent_id=agent,
                run_id=run,
                infer=infer,
                batch_size=batch_size,
                progress=True,
            )
        )
    if as_json:
        _print(out, True)
        return
    events = [r["event"] for r in out["results"]]
    counts = {e: events.count(e) for e in ("ADD", "UPDATE", "DELETE", "NONE")}
    console.print(
        f"{counts['ADD']} added, {counts['UPDATE']} updated, {counts['DELETE']} superseded, "
        f"{counts['NONE']} already known"
    )
    console.print(usage_line(out["usage"]))


def _items(file: Path) -> list[Any]:
    text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if text.lstrip().startswith("[") else None
        if data is None:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as e:
        raise InvalidInputError(f"{file}: not a JSON list nor JSON Lines ({e})") from e
    return data if isinstance(data, list) else [data]


def usage_line(used: dict[str, Any]) -> str:
    cost = f", ${used['cost']:.4f}" if "cost" in used else ""
    return (
        f"LLM: {used['llm_calls']} calls, {used['prompt_tokens']} prompt + "
        f"{used['completion_tokens']} completion tokens{cost}"
    )


@app.command()
def search(
    query: str,
    user: User = None,
    agent: Agent = None,
    run: Run = None,
    limit: int = 10,
    preset: Annotated[str, typer.Option("--config", help="search preset")] = "hybrid",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="search what held at this ISO time")
    ] = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Search memories (no LLM call)."""
    with _memory(data_dir) as m:
        out = _run(
            lambda: m.search(
                query,
                user_id=user,
                agent_id=agent,
                run_id=run,
                limit=limit,
                config=preset,
                as_of=as_of,
            )
        )
    _print(out, as_json, ("score", "memory", "paths"))


@app.command("get-all")
def get_all(
    user: User = None,
    agent: Agent = None,
    run: Run = None,
    limit: int = 100,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """List current memories of a scope."""
    with _memory(data_dir) as m:
        out = _run(lambda: m.get_all(user_id=user, agent_id=agent, run_id=run, limit=limit))
    _print(out, as_json, ("id", "memory", "created_at"))


@app.command()
def delete(memory_id: str, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Delete one memory (and exactly the graph edges derived from it)."""
    with _memory(data_dir) as m:
        out = _run(lambda: m.delete(memory_id))
    _print([out], as_json, ("id", "message"))


@app.command()
def history(memory_id: str, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Show every event of one memory."""
    with _memory(data_dir) as m:
        out = _run(lambda: m.history(memory_id))
    _print(out, as_json, ("created_at", "event", "old_memory", "new_memory", "superseded_by"))


@app.command()
def erase(
    user: User = None,
    agent: Agent = None,
    run: Run = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Forget a scope completely: its memories, sources, graph and history."""
    if not yes:
        typer.confirm(f"Erase everything of {user or agent or run}, history included?", abort=True)
    with _memory(data_dir) as m:
        out = _run(lambda: m.erase(user_id=user, agent_id=agent, run_id=run))
    _print([out], as_json, ("deleted", "history_events", "message"))


@app.command("export")
def export_(
    out: Annotated[Path, typer.Option("--out", "-o", help="file to write (gzip if it ends .gz)")],
    user: User = None,
    agent: Agent = None,
    run: Run = None,
    vectors: Annotated[
        bool, typer.Option("--vectors", help="include the embeddings (else made on import)")
    ] = False,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Write a scope (--user/--agent/--run; none: every scope) to a JSON Lines file that
    `graphmem import` rebuilds it from, on any backend (docs/export.md)."""
    with _memory(data_dir) as m:
        done = _run(
            lambda: m.export(
                out, user_id=user, agent_id=agent, run_id=run, vectors=vectors, progress=True
            )
        )
    _counted(done, "exported", as_json)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="a file written by graphmem export")],
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Import an export file into the configured stores, with a progress bar. The file is
    checked first (nothing is written from a bad one); importing it twice changes nothing."""
    with _memory(data_dir) as m:
        done = _run(lambda: m.import_(file, progress=True))
    _counted(done, "imported", as_json)


def _counted(done: dict[str, Any], verb: str, as_json: bool) -> None:
    if as_json:
        _print(done, True)
        return
    kinds = ("memory", "entity", "relation", "source", "history")
    names = ("memories", "entities", "relations", "sources", "history events")
    counts = ", ".join(f"{done[k]} {n}" for k, n in zip(kinds, names))
    embedded = f" ({done['embedded']} texts embedded)" if done.get("embedded") else ""
    console.print(f"{verb} {counts}{embedded}: {done['file']}")


@app.command()
def doctor(
    retry: Annotated[bool, typer.Option(help="replay the quarantined writes now")] = False,
    drop: Annotated[bool, typer.Option(help="discard the quarantined writes")] = False,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Check the write journal: writes waiting for a replay and quarantined writes (those
    that failed too often; kept, not replayed). Exits 1 when any remain."""
    with _memory(data_dir) as m:
        if retry:
            _run(m.retry_quarantined)
        if drop:
            _run(m.drop_quarantined)
        out = _run(m.health)
    if as_json:
        _print(out, True)
    else:
        rows = [{**r, "state": k} for k in ("pending", "quarantined") for r in out[k]]
        console.print("journal: ok" if out["ok"] else f"journal: {len(rows)} unfinished writes")
        if rows:
            _print(rows, False, ("state", "id", "scope", "attempts", "error"))
    if not out["ok"]:
        raise typer.Exit(1)


@app.command()
def graph(
    user: User = None,
    agent: Agent = None,
    run: Run = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="write an interactive page of the graph (one offline file)"),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="the relations that held at this ISO time")
    ] = None,
    include_invalid: Annotated[
        bool, typer.Option("--include-invalid", help="the superseded relations too")
    ] = False,
    limit: Annotated[int, typer.Option(help="relations at most")] = 1000,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Show a scope's relations (--as-of: those that held then). With --html FILE, write its
    graph view instead: entities and relations (superseded ones dashed, an as-of slider, each
    entity's facts and sources) in one self-contained HTML file that loads nothing."""
    scope = {"user_id": user, "agent_id": agent, "run_id": run}
    if html is not None and as_of is not None:
        raise typer.BadParameter("the page has its own as-of slider", param_hint="--as-of")
    with _memory(data_dir) as m:
        if html is not None:
            from .server import ui

            data = _run(lambda: ui.file_data(m, limit=limit, **scope))
            html.write_text(ui.standalone(data), encoding="utf-8")
            g = data["graph"]
            console.print(f"{html}: {len(g['entities'])} entities, {len(g['relations'])} relations")
            return
        out = _run(
            lambda: m.graph(as_of=as_of, include_invalid=include_invalid, limit=limit, **scope)
        )
    if as_json:
        _print(out, True)
        return
    when = ("valid_from", "invalid_at")
    rows = [{**r, **{k: (r[k] or "")[:10] for k in when}} for r in out["relations"]]
    _print(rows, False, ("source", "relationship", "target", *when))


@app.command("mcp")
def mcp_stdio(
    user: User = None,
    agent: Agent = None,
    run: Run = None,
    data_dir: DataDir = None,
) -> None:
    """Serve memory to an MCP host (Claude Desktop, Cursor, ...) over stdio. --user/--agent/--run
    set the scope of calls that name none. Logs go to stderr; stdout carries only MCP."""
    from .server.mcp import run_stdio

    scope = {"user_id": user, "agent_id": agent, "run_id": run}
    try:
        run_stdio(_memory(data_dir), {k: v for k, v in scope.items() if v})
    except GraphMemError as e:
        Console(stderr=True).print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e


@app.command("chroma-analyze")
def chroma_analyze(
    path: Annotated[Path, typer.Argument(help="the Chroma directory (chroma run --path)")],
    as_json: AsJson = False,
) -> None:
    """Give a Chroma server's SQLite file the planner statistics Chroma never gathers, so
    that finding one owner's records stops reading the whole pool. Run it on the server's
    host once the server holds its data, and again as the data grows; safe while it runs."""
    from .stores.chroma_stats import analyze

    out = _run(lambda: analyze(path))
    if as_json:
        _print(out, True)
    elif out["ready"]:
        console.print(f"analyzed {out['file']}: {out['records']} records ({out['seconds']} s)")
    else:
        console.print(f"{out['file']} holds no records yet: run it again once it does")
    if not out["ready"]:
        raise typer.Exit(1)


def _version(show: bool) -> None:
    if show:
        from . import __version__

        typer.echo(f"graphmem {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """graphmem: long-term graph memory for AI agents."""


@app.command()
def demo(data_dir: DataDir = None) -> None:
    """Run a scripted multi-session conversation offline and show what graphmem remembers."""
    from .demo import run

    _run(lambda: run(console, data_dir))


if __name__ == "__main__":  # pragma: no cover
    app()
