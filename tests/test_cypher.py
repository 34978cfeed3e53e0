"""``graphmem cypher`` and the named queries of ``cypher/queries`` against the real Neo4j
server of ``scripts/neo4j.sh``, plus the executed ``cypher_exploration`` notebook.

Every test works on its own user ids (never ``reset()``: other suites share the server)."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from typer.testing import CliRunner, Result

from graphmem import Config
from graphmem.cli import app
from graphmem.cypher_cli import named_queries, parse_params, run_query
from graphmem.errors import InvalidInputError
from graphmem.models import Entity, GraphBatch, Relation, Scope, Source, stable_id
from graphmem.stores.neo4j_store import Neo4jGraphStore

pytestmark = pytest.mark.neo4j

T0 = datetime(2024, 3, 1, tzinfo=UTC)
MOVED = datetime(2024, 6, 1, tzinfo=UTC)  # when "Alice lives in Hamburg" is invalidated
NAMES = (
    "as_of",
    "changed_since",
    "facts_about",
    "neighbourhood",
    "paths",
    "provenance",
    "top_entities",
)


def store() -> Neo4jGraphStore:
    c = Config.load()
    secret = c.neo4j_password.get_secret_value()
    return Neo4jGraphStore(c.neo4j_uri, c.neo4j_user, secret, c.neo4j_database)


class Graph:
    """Alice -HAS_MANAGER-> Bob -WORKS_AT-> Acme -BASED_IN-> Berlin; Alice -KNOWS-> Carol;
    Alice -LIVES_IN-> Hamburg (invalidated at MOVED) then -LIVES_IN-> Berlin."""

    def __init__(self) -> None:
        self.user = f"cy-{uuid.uuid4().hex[:8]}"
        self.scope = Scope(user_id=self.user)
        self.e = {n: self._entity(n) for n in ("Alice", "Bob", "Carol", "Berlin", "Hamburg")}
        self.e["Acme"] = self._entity("Acme", "Organization", ("Acme Corp",))
        self.facts = {
            "manager": "My manager is Bob.",
            "works": "Bob works at Acme.",
            "based": "Acme is based in Berlin.",
            "knows": "I know Carol.",
            "hamburg": "I live in Hamburg.",
            "berlin": "I moved to Berlin.",
        }
        self.fid = {k: f"{self.user}.{k}" for k in self.facts}

    def _entity(self, name: str, type_: str = "Person", aliases: tuple[str, ...] = ()) -> Entity:
        return Entity(stable_id(self.scope.key, name), name, type_, self.scope, aliases, T0)

    def relation(self, a: str, rel: str, b: str, fact: str, at: datetime = T0) -> Relation:
        e, f = self.e, self.fid[fact]
        rid = stable_id(f, e[a].id, rel, e[b].id)
        return Relation(rid, e[a].id, rel, e[b].id, f, self.scope, at, created_at=at)

    def batch(self, relations: list[tuple[str, str, str, str]], at: datetime) -> GraphBatch:
        rels = tuple(self.relation(*r, at=at) for r in relations)
        src = Source(f"{self.user}.src.{at:%m}", self.scope, "chat at " + at.isoformat(), "user")
        facts = {r.fact_id for r in rels}
        key = {v: k for k, v in self.fid.items()}
        return GraphBatch(
            entities=tuple(self.e.values()),
            relations=rels,
            mentions=tuple((r.fact_id, x) for r in rels for x in (r.source_id, r.target_id)),
            sources=(src,),
            derived=tuple((f, src.id) for f in sorted(facts)),
            facts=tuple((f, self.facts[key[f]]) for f in sorted(facts)),
        )

    def build(self, s: Neo4jGraphStore) -> None:
        first = [
            ("Alice", "HAS_MANAGER", "Bob", "manager"),
            ("Bob", "WORKS_AT", "Acme", "works"),
            ("Acme", "BASED_IN", "Berlin", "based"),
            ("Alice", "KNOWS", "Carol", "knows"),
            ("Alice", "LIVES_IN", "Hamburg", "hamburg"),
        ]
        s.write(self.batch(first, T0))
        moved = self.batch([("Alice", "LIVES_IN", "Berlin", "berlin")], MOVED)
        s.write(moved, invalidate_facts=[self.fid["hamburg"]], at=MOVED)


@pytest.fixture(scope="module")
def graph() -> Iterator[Graph]:
    s, g = store(), Graph()
    s.setup()
    g.build(s)
    yield g
    s.delete_scope(g.scope)
    s.close()


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def cli(runner: CliRunner, *args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, ["cypher", *args], env=env)


def rows(runner: CliRunner, *args: str) -> list[dict[str, Any]]:
    res = cli(runner, *args, "--json")
    assert res.exit_code == 0, res.output
    out: list[dict[str, Any]] = json.loads(res.stdout)
    return out


def one_line_error(res: Result) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    message = res.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    return message


# -- the query library -------------------------------------------------------------------------
def test_every_named_query_describes_itself() -> None:
    queries = named_queries()
    assert tuple(queries) == NAMES
    for q in queries.values():
        assert q.text.startswith("//") and len(q.description) > 20
        assert "user_id" in q.params and "user_id" not in q.optional
        assert {"agent_id", "run_id"} <= q.optional
    assert queries["paths"].optional >= {"k", "limit"}
    assert "since" not in queries["changed_since"].optional


def test_parse_params() -> None:
    got = parse_params(["n=3", "f=0.5", "b=true", "s=Bob", 'j=[1, "x"]', "e=", "q=a=b"])
    assert got == {"n": 3, "f": 0.5, "b": True, "s": "Bob", "j": [1, "x"], "e": "", "q": "a=b"}
    with pytest.raises(InvalidInputError, match="key=value"):
        parse_params(["novalue"])


def test_list(runner: CliRunner) -> None:
    res = cli(runner, "--list")
    assert res.exit_code == 0, res.output
    for name in NAMES:
        assert name in res.stdout
    listed = rows(runner, "--list")
    assert [q["name"] for q in listed] == list(NAMES)
    assert all(q["description"] and "user_id" in q["params"] for q in listed)


def test_top_entities(runner: CliRunner, graph: Graph) -> None:
    top = rows(runner, "top_entities", "-u", graph.user, "-p", "limit=3")
    assert len(top) == 3
    assert top[0] == {"entity": "Alice", "type": "Person", "degree": 3, "facts": 4}
    assert {r["entity"] for r in top[1:]} <= {"Bob", "Acme", "Berlin"}
    assert rows(runner, "top_entities", "-u", "cy-nobody") == []


def test_neighbourhood(runner: CliRunner, graph: Graph) -> None:
    got = rows(runner, "neighbourhood", "-u", graph.user, "-p", "name=bob")
    assert {(r["source"], r["relation"], r["target"]) for r in got} == {
        ("Alice", "HAS_MANAGER", "Bob"),
        ("Bob", "WORKS_AT", "Acme"),
    }
    alice = rows(runner, "neighbourhood", "-u", graph.user, "-p", "name=Alice")
    hamburg = next(r for r in alice if r["target"] == "Hamburg")
    assert hamburg["invalid_at"] == MOVED.isoformat() and hamburg["fact"] == "I live in Hamburg."
    assert alice[-1] == hamburg  # current relations first
    by_alias = rows(runner, "neighbourhood", "-u", graph.user, "-p", "name=acme corp")
    assert len(by_alias) == 2


def test_paths(runner: CliRunner, graph: Graph) -> None:
    args = ("paths", "-u", graph.user, "-p", "source=Alice", "-p", "target=Acme")
    two = rows(runner, *args, "-p", "k=2")
    assert two[0] == {
        "hops": 2,
        "path": "Alice -[HAS_MANAGER]-> Bob -[WORKS_AT]-> Acme",
        "facts": ["My manager is Bob.", "Bob works at Acme."],
    }
    assert [r["path"] for r in two[1:]] == ["Alice -[LIVES_IN]-> Berlin <-[BASED_IN]- Acme"]
    assert len(rows(runner, *args)) == 2  # default k=3: no longer simple path exists
    assert rows(runner, *args, "-p", "k=1") == []
    back = rows(runner, "paths", "-u", graph.user, "-p", "source=Berlin", "-p", "target=Bob")
    assert [r["path"] for r in back] == [
        "Berlin <-[BASED_IN]- Acme <-[WORKS_AT]- Bob",
        "Berlin <-[LIVES_IN]- Alice -[HAS_MANAGER]-> Bob",
    ]
    gone = rows(runner, "paths", "-u", graph.user, "-p", "source=Alice", "-p", "target=Hamburg")
    assert gone == []  # the only relation to Hamburg is invalidated


def test_facts_about_shows_validity(runner: CliRunner, graph: Graph) -> None:
    got = rows(runner, "facts_about", "-u", graph.user, "-p", "name=Hamburg")
    assert got == [
        {
            "fact": "I live in Hamburg.",
            "source": "Alice",
            "relation": "LIVES_IN",
            "target": "Hamburg",
            "valid_from": T0.isoformat(),
            "invalid_at": MOVED.isoformat(),
            "fact_id": graph.fid["hamburg"],
        }
    ]
    alice = rows(runner, "facts_about", "-u", graph.user, "-p", "name=Alice")
    assert len(alice) == 4 and alice[-1]["fact"] == "I live in Hamburg."  # current first
    assert all(r["invalid_at"] is None for r in alice[:-1])


def test_changed_since(runner: CliRunner, graph: Graph) -> None:
    got = rows(runner, "changed_since", "-u", graph.user, "-p", "since=2024-05-31")
    assert {(r["kind"], r["what"]) for r in got} == {
        ("fact", "I live in Hamburg."),
        ("relation", "Alice -[LIVES_IN]-> Hamburg"),
    }
    assert {r["invalid_at"] for r in got} == {MOVED.isoformat()}
    exact = rows(runner, "changed_since", "-u", graph.user, "-p", "since=2024-06-01T02:00:00+02:00")
    assert len(exact) == 2  # the same instant, written in another zone
    assert rows(runner, "changed_since", "-u", graph.user, "-p", "since=2024-06-01T00:00:01Z") == []


def test_as_of(runner: CliRunner, graph: Graph) -> None:
    def held(at: str) -> list[str]:
        return [r["relation"] for r in rows(runner, "as_of", "-u", graph.user, "-p", f"at={at}")]

    before_move = [
        "Acme -[BASED_IN]-> Berlin",
        "Alice -[HAS_MANAGER]-> Bob",
        "Alice -[KNOWS]-> Carol",
        "Alice -[LIVES_IN]-> Hamburg",
        "Bob -[WORKS_AT]-> Acme",
    ]
    got = rows(runner, "as_of", "-u", graph.user, "-p", "at=2024-05-31")
    assert [r["relation"] for r in got] == before_move
    assert got[3]["fact"] == "I live in Hamburg." and got[3]["invalid_at"] == MOVED.isoformat()
    after = [r.replace("Hamburg", "Berlin") for r in before_move]
    assert held("2024-06-01T02:00:00+02:00") == sorted(after)  # the move's instant, in +02:00
    assert held("2024-02-29") == []  # before anything was said


def test_provenance(runner: CliRunner, graph: Graph) -> None:
    args = ("-p", "source=Bob", "-p", "type=works_at", "-p", "target=ACME")
    [got] = rows(runner, "provenance", "-u", graph.user, *args)
    assert got["relation"] == "Bob -[WORKS_AT]-> Acme" and got["fact"] == "Bob works at Acme."
    assert got["message"] == "chat at " + T0.isoformat() and got["role"] == "user"
    by_id = rows(runner, "provenance", "-u", graph.user, "-p", f"relation_id={got['relation_id']}")
    assert by_id == [got]
    assert len(rows(runner, "provenance", "-u", graph.user)) == 6


def test_run_query_helper(graph: Graph) -> None:
    got = run_query("paths", {"user_id": graph.user, "source": "Carol", "target": "Bob"})
    assert [r["path"] for r in got] == ["Carol <-[KNOWS]- Alice -[HAS_MANAGER]-> Bob"]


def test_named_query_errors(runner: CliRunner) -> None:
    assert "needs name" in one_line_error(cli(runner, "neighbourhood", "-u", "x"))
    assert "has no parameter nmae" in one_line_error(
        cli(runner, "neighbourhood", "-u", "x", "-p", "nmae=Bob")
    )
    assert "no named query 'nosuch'" in one_line_error(cli(runner, "nosuch"))
    assert "key=value" in one_line_error(cli(runner, "top_entities", "-p", "oops"))


# -- ad-hoc Cypher -----------------------------------------------------------------------------
def test_adhoc_read(runner: CliRunner, graph: Graph) -> None:
    query = "MATCH (e:Entity {user_id: $u}) RETURN e.name AS name, labels(e) AS labels"
    query += " ORDER BY name"
    got = rows(runner, query, "-p", f"u={graph.user}")
    assert [r["name"] for r in got] == ["Acme", "Alice", "Berlin", "Bob", "Carol", "Hamburg"]
    assert got[0]["labels"] == ["Entity", "Organization"]
    nodes = rows(runner, "MATCH (f:Fact {id: $id}) RETURN f", "-p", f"id={graph.fid['hamburg']}")
    assert nodes[0]["f"]["_labels"] == ["Fact"]
    assert nodes[0]["f"]["invalid_at"] == MOVED.isoformat()
    table = cli(runner, query, "-p", f"u={graph.user}")
    assert table.exit_code == 0 and "Hamburg" in table.stdout and "6 rows" in table.stdout


def test_adhoc_writes_need_write_flag(runner: CliRunner) -> None:
    probe = f"cy-probe-{uuid.uuid4().hex[:8]}"
    count = "MATCH (n:GraphmemCliProbe {id: $id}) RETURN count(n) AS n"
    create = "CREATE (n:GraphmemCliProbe {id: $id}) RETURN n.id AS id"
    message = one_line_error(cli(runner, create, "-p", f"id={probe}"))
    assert "read transaction" in message and "--write" in message
    assert rows(runner, count, "-p", f"id={probe}") == [{"n": 0}]
    try:
        made = cli(runner, create, "-p", f"id={probe}", "--write")
        assert made.exit_code == 0, made.output
        assert probe in made.stdout and "nodes_created: 1" in made.stdout
        assert rows(runner, count, "-p", f"id={probe}") == [{"n": 1}]
    finally:
        delete = "MATCH (n:GraphmemCliProbe {id: $id}) DELETE n"
        assert cli(runner, delete, "-p", f"id={probe}", "--write").exit_code == 0
    assert rows(runner, count, "-p", f"id={probe}") == [{"n": 0}]


def test_syntax_error_is_one_line(runner: CliRunner) -> None:
    message = one_line_error(cli(runner, "MATC (n) RETURN n"))
    assert "SyntaxError" in message and "Invalid input 'MATC'" in message


def test_connection_errors_are_one_line(runner: CliRunner) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = {"GRAPHMEM_NEO4J_URI": f"bolt://127.0.0.1:{port}"}
    assert "no server reachable" in one_line_error(cli(runner, "RETURN 1", env=down))
    bad = {"GRAPHMEM_NEO4J_URI": "nosuch://127.0.0.1:7687"}
    assert "scheme" in one_line_error(cli(runner, "RETURN 1", env=bad))
    wrong = {"GRAPHMEM_NEO4J_PASSWORD": "not-the-password"}  # one failed login: rate limits
    assert "authentication failed" in one_line_error(cli(runner, "RETURN 1", env=wrong))


# -- the notebook ------------------------------------------------------------------------------
def test_cypher_exploration_notebook() -> None:
    root = Path(__file__).resolve().parents[1]
    nb = nbformat.read(root / "notebooks" / "cypher_exploration.ipynb", as_version=4)
    resources = {"metadata": {"path": str(root)}}
    NotebookClient(nb, timeout=300, kernel_name="python3", resources=resources).execute()
    assert run_query("top_entities", {"user_id": "nb-alice"}) == []  # it cleaned up
