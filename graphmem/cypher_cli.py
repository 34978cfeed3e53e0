"""``graphmem cypher``: explore the Neo4j graph store with named or ad-hoc Cypher.

* ``graphmem cypher --list`` lists the named queries of ``cypher/queries/*.cypher`` (the first
  ``//`` line of each file describes it and its parameters);
* ``graphmem cypher NAME -u alice -p name=Bob`` runs one of them (always read-only);
* ``graphmem cypher "MATCH (e:Entity) RETURN e.name LIMIT 5"`` runs ad-hoc Cypher in a READ
  transaction, so writes fail with a clear message unless ``--write`` is given.

Parameters are ``k=v`` (``v`` parsed as JSON when it is valid JSON, else a string). The
connection comes from :class:`graphmem.Config` (``GRAPHMEM_NEO4J_URI`` / ``_USER`` /
``_PASSWORD`` / ``_DATABASE``). Every failure (bad Cypher, authentication, no server) is one
line on stderr and exit code 2. :func:`run_query` is the same thing for Python code.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Annotated, Any, NoReturn

import typer
from neo4j import Driver, GraphDatabase, ManagedTransaction, NotificationSeverity, ResultSummary
from neo4j.graph import Node, Path, Relationship
from neo4j.time import Date, DateTime, Duration, Time
from rich.console import Console
from rich.table import Table

from .config import Config
from .errors import BackendError, GraphMemError, InvalidInputError
from .stores import cypher
from .stores.neo4j_errors import ReadOnlyError, first_line, translated

Row = dict[str, Any]
QUERY_DIR = "queries"
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_OPTIONAL = re.compile(r"coalesce\(\s*\$(\w+)|\$(\w+)\s+IS\s+NULL", re.IGNORECASE)
_QUERY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

out = Console(soft_wrap=False)
err = Console(stderr=True)


# -- named queries -------------------------------------------------------------------------
@dataclass(frozen=True)
class NamedQuery:
    """A query file: its text, its description (first ``//`` line) and its parameters.

    A parameter is optional when the query gives it a default (``coalesce($p, ...)``) or
    tests it for null (``$p IS NULL``); optional parameters not given are passed as null.
    """

    name: str
    text: str

    @property
    def description(self) -> str:
        first = self.text.splitlines()[0] if self.text else ""
        return first.removeprefix("//").strip() if first.startswith("//") else ""

    @property
    def params(self) -> tuple[str, ...]:
        body = "\n".join(ln for ln in self.text.splitlines() if not ln.lstrip().startswith("//"))
        return tuple(dict.fromkeys(_PARAM.findall(body)))

    @property
    def optional(self) -> frozenset[str]:
        return frozenset(a or b for a, b in _OPTIONAL.findall(self.text))

    def bind(self, given: Mapping[str, Any]) -> Row:
        """All parameters of the query: ``given`` plus null for optional ones left out."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise InvalidInputError(
                f"query {self.name!r} has no parameter {', '.join(unknown)} "
                f"(parameters: {', '.join(self.params)})"
            )
        missing = [p for p in self.params if p not in given and p not in self.optional]
        if missing:
            raise InvalidInputError(
                f"query {self.name!r} needs {', '.join(missing)} (e.g. --param {missing[0]}=...)"
            )
        return {p: given.get(p) for p in self.params}


def named_queries() -> dict[str, NamedQuery]:
    """The named queries of ``cypher/queries``, by name."""
    folder = cypher.cypher_dir() / QUERY_DIR
    names = sorted(p.stem for p in folder.glob("*.cypher") if _QUERY_NAME.match(p.stem))
    return {n: NamedQuery(n, cypher.load(f"{QUERY_DIR}/{n}")) for n in names}


def named_query(name: str) -> NamedQuery:
    queries = named_queries()
    if name not in queries:
        raise InvalidInputError(
            f"no named query {name!r} (known: {', '.join(queries)}; see graphmem cypher --list)"
        )
    return queries[name]


# -- values --------------------------------------------------------------------------------
def parse_params(items: Sequence[str]) -> Row:
    """``["k=v", ...]`` as a dict; each ``v`` is JSON when it parses as JSON, else a string."""
    params: Row = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise InvalidInputError(f"parameters are key=value, got {item!r}")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def plain(value: Any) -> Any:
    """A driver value as plain JSON-able Python (nodes, relationships, paths, temporals)."""
    if isinstance(value, Node):
        return {"_labels": sorted(value.labels), **{k: plain(v) for k, v in value.items()}}
    if isinstance(value, Relationship):
        return {"_type": value.type, **{k: plain(v) for k, v in value.items()}}
    if isinstance(value, Path):
        return {
            "nodes": [plain(n) for n in value.nodes],
            "relationships": [plain(r) for r in value.relationships],
        }
    if isinstance(value, DateTime | Date | Time):
        return value.to_native().isoformat()
    if isinstance(value, Duration):
        return value.iso_format()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@dataclass
class Outcome:
    """Rows of one statement, what it changed (``{"nodes_created": 1, ...}``) and the
    server's warnings (deprecations, cartesian products, ...), one line each."""

    rows: list[Row] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# -- the connection ------------------------------------------------------------------------
class CypherClient:
    """One driver for a few statements: ``with CypherClient() as c: c.query("paths", {...})``."""

    def __init__(self, config: Config | None = None, *, timeout: float = 10.0) -> None:
        self.config = config or Config.load()
        self._timeout = timeout
        self._driver: Driver | None = None

    def __enter__(self) -> CypherClient:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            with self._errors("close"):
                driver.close()

    def _errors(self, op: str) -> AbstractContextManager[None]:
        return translated(op, self.config.neo4j_uri, self.config.neo4j_user)

    def _drv(self) -> Driver:
        if self._driver is None:
            with self._errors("connect"):
                self._driver = self._connect()
        return self._driver

    def _connect(self) -> Driver:
        c = self.config
        auth = (c.neo4j_user, c.neo4j_password.get_secret_value())
        t = self._timeout
        try:
            driver = GraphDatabase.driver(
                c.neo4j_uri, auth=auth, connection_timeout=t, max_transaction_retry_time=t
            )
        except ValueError as e:  # a malformed URI
            raise BackendError(f"neo4j connect failed: {c.neo4j_uri!r}: {e}") from e
        try:
            driver.verify_connectivity()  # fail now, not after retrying a transaction
        except BaseException:
            driver.close()
            raise
        return driver

    def query(self, name: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run the named query ``cypher/queries/<name>.cypher`` in a read transaction."""
        q = named_query(name)
        return self.run(q.text, q.bind(params or {}), op=f"query {name!r}").rows

    def run(
        self,
        text: str,
        params: Mapping[str, Any] | None = None,
        *,
        write: bool = False,
        op: str = "query",
    ) -> Outcome:
        """Run ``text`` in a read transaction (a write transaction with ``write=True``)."""
        bound = dict(params or {})

        def work(tx: ManagedTransaction) -> Outcome:
            result = tx.run(text, bound)
            keys = result.keys()
            rows = [{k: plain(v) for k, v in zip(keys, rec)} for rec in result]
            return _outcome(rows, result.consume())

        with self._errors(op), self._drv().session(database=self.config.neo4j_database) as s:
            return s.execute_write(work) if write else s.execute_read(work)


def _outcome(rows: list[Row], summary: ResultSummary) -> Outcome:
    counters = {k: v for k, v in vars(summary.counters).items() if v and not k.startswith("_")}
    warnings = [
        first_line(n.status_description)
        for n in summary.gql_status_objects
        if n.is_notification and n.severity == NotificationSeverity.WARNING
    ]
    return Outcome(rows, counters, warnings)


def run_query(
    name: str, params: Mapping[str, Any] | None = None, *, config: Config | None = None
) -> list[Row]:
    """Rows of the named query ``name`` (see ``graphmem cypher --list``) as plain dicts."""
    with CypherClient(config) as client:
        return client.query(name, params)


def run_cypher(
    text: str,
    params: Mapping[str, Any] | None = None,
    *,
    write: bool = False,
    config: Config | None = None,
) -> list[Row]:
    """Rows of ad-hoc Cypher, read-only unless ``write=True``."""
    with CypherClient(config) as client:
        return client.run(text, params, write=write).rows


# -- output --------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def print_rows(rows: list[Row], as_json: bool, title: str | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str, ensure_ascii=False) + "\n")
        return
    columns = list(dict.fromkeys(k for r in rows for k in r))
    table = Table(title=title, show_lines=True)
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*(_cell(r.get(c)) for c in columns))
    if columns:
        out.print(table)
    out.print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}")


def print_list(as_json: bool) -> None:
    queries = named_queries().values()
    if as_json:
        rows = [{"name": q.name, "description": q.description, "params": q.params} for q in queries]
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    table = Table("name", "description", title="named queries (cypher/queries)", show_lines=True)
    for q in queries:
        table.add_row(q.name, q.description)
    out.print(table)


def _execute(query: str, params: Row, write: bool, as_json: bool) -> None:
    with CypherClient() as client:
        if _QUERY_NAME.match(query):  # a name, never Cypher: run it or say it is unknown
            print_rows(client.query(query, params), as_json, title=query)
            return
        outcome = client.run(query, params, write=write)
    for warning in outcome.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    print_rows(outcome.rows, as_json)
    if outcome.counters and not as_json:
        out.print(", ".join(f"{k}: {v}" for k, v in outcome.counters.items()))


# -- the command ---------------------------------------------------------------------------
QueryArg = Annotated[
    str | None, typer.Argument(help="a named query (see --list) or Cypher text", show_default=False)
]
Params = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="k=v parameter; v is parsed as JSON when possible"),
]


def cypher_cmd(
    query: QueryArg = None,
    param: Params = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="= --param user_id=…")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="= --param agent_id=…")] = None,
    run: Annotated[str | None, typer.Option("--run", help="= --param run_id=…")] = None,
    write: Annotated[bool, typer.Option("--write", help="allow ad-hoc writes")] = False,
    list_: Annotated[bool, typer.Option("--list", help="list the named queries")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Run a named query of cypher/queries, or ad-hoc Cypher (read-only unless --write)."""
    # errors and the server's warnings are printed as one line each, never as driver logs
    logging.getLogger("neo4j").addHandler(logging.NullHandler())
    try:
        if list_:
            print_list(as_json)
            return
        if not query or not query.strip():
            raise InvalidInputError("give a query name (see --list) or Cypher text")
        scope = {"user_id": user, "agent_id": agent, "run_id": run}
        params = {**{k: v for k, v in scope.items() if v is not None}, **parse_params(param or [])}
        _execute(query.strip(), params, write, as_json)
    except ReadOnlyError as e:
        _fail(f"{e}; pass --write to allow writes")
    except GraphMemError as e:
        _fail(str(e))


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)
