"""The MCP server through the SDK's own client (``ClientSession``): over stdio, spawning
``graphmem mcp`` as a desktop host does, and over streamable HTTP against a live
``graphmem serve``. One scenario runs through both: add, a two-hop search with its paths,
the relation paths, update, history, delete; over HTTP, alice's key can reach none of bob's
memories by any tool, whatever the arguments say."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from graphmem.server.auth import add_key

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parent.parent / "README.md"

MEM0_TOOLS = {
    "add_memory",
    "search_memories",
    "get_memories",
    "get_memory",
    "update_memory",
    "delete_memory",
    "delete_all_memories",
    "list_entities",
    "delete_entities",
}
TWO_HOP = "Where is the company my manager works for based?"
MANAGER = "My manager Bob works at Acme Robotics."
LISBON = "Acme Robotics is based in Lisbon."
FILLERS = ("My favorite city for food is Naples.", "I bought a new bike in the city.")
HIKING = "I went hiking in the Alps."


def readme_configs() -> list[dict[str, Any]]:
    """The MCP host configurations the README gives: stdio, then HTTP."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### MCP") : text.index("## Configuration")]
    blocks = re.findall(r"```json\n(.*?)\n```", section, re.S)
    return [json.loads(b)["mcpServers"]["graphmem"] for b in blocks]


def _env(**extra: str) -> dict[str, str]:
    """This process's environment (so the child imports the same graphmem), offline, no LLM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHMEM_LLM_")}
    return {**env, "GRAPHMEM_EXTRACTOR": "offline", **extra}


# -- the two transports ---------------------------------------------------------------------
@asynccontextmanager
async def stdio_session(data_dir: Path, *args: str, **env: str) -> AsyncIterator[ClientSession]:
    cmd = [*("-m", "graphmem.cli", "mcp", "--data-dir", str(data_dir)), *args]
    params = StdioServerParameters(command=sys.executable, args=cmd, env=_env(**env))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(url: str, key: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=120) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


class Refused(Exception):
    """A tool call answered with an error result: ``{"error": class, "detail"}``."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.error = body.get("error")


async def call(session: ClientSession, tool: str, **args: Any) -> Any:
    result = await session.call_tool(tool, args)
    text = "".join(getattr(c, "text", "") for c in result.content)
    if result.is_error:
        try:
            raise Refused(json.loads(text))
        except json.JSONDecodeError:
            raise Refused({"error": "?", "detail": text}) from None
    return json.loads(text)


# -- the scenario ---------------------------------------------------------------------------
async def scenario(session: ClientSession, **scope: str) -> None:
    """add, a two-hop search and its paths, relation paths, update, history, delete; in the
    caller's default scope (``scope`` empty) or the one given."""
    tools = {t.name for t in (await session.list_tools()).tools}
    assert tools >= MEM0_TOOLS | {"memory_history", "relation_paths"}
    assert "ask" not in tools  # no LLM configured

    added = await call(session, "add_memory", text=MANAGER, **scope)
    assert [r["event"] for r in added["results"]] == ["ADD"]
    manager = added["results"][0]["id"]
    lisbon = (await call(session, "add_memory", text=LISBON, **scope))["results"][0]["id"]
    for text in FILLERS:
        await call(session, "add_memory", text=text, **scope)
    hiked = await call(session, "add_memory", text=HIKING, timestamp="2020-05-01", **scope)
    hiking = hiked["results"][0]["id"]
    assert (await call(session, "get_memory", memory_id=hiking))["valid_from"].startswith("2020-05")

    found = await call(session, "search_memories", query=TWO_HOP, limit=3, **scope)
    top = {r["id"]: r for r in found["results"][:2]}
    assert lisbon in top
    assert top[lisbon]["memory"] == LISBON and top[lisbon]["score"] > 0
    assert any("WORKS_AT" in p for p in top[lisbon]["paths"])
    assert "hash" not in top[lisbon] and "score_parts" not in top[lisbon]  # compact
    then = await call(session, "search_memories", query="hiking", as_of="2021-01-01", **scope)
    assert [r["id"] for r in then["results"]] == [hiking]  # nothing else had happened yet

    paths = await call(session, "relation_paths", source="Bob", target="Lisbon", **scope)
    assert paths["paths"][0] == {
        "path": "Bob -[WORKS_AT]-> Acme Robotics -[BASED_IN]-> Lisbon",
        "memory_ids": [manager, lisbon],
    }

    moved = "Acme Robotics is based in Porto."
    await call(session, "update_memory", memory_id=lisbon, text=moved)
    assert (await call(session, "get_memory", memory_id=lisbon))["memory"] == moved
    events = await call(session, "memory_history", memory_id=lisbon)
    assert [e["event"] for e in events] == ["ADD", "UPDATE"]
    assert events[1]["old_memory"] == LISBON and events[1]["new_memory"] == moved

    await call(session, "delete_memory", memory_id=lisbon)
    with pytest.raises(Refused) as gone:
        await call(session, "get_memory", memory_id=lisbon)
    assert gone.value.error == "NotFoundError"
    listed = await call(session, "get_memories", **scope)
    assert manager in {r["id"] for r in listed["results"]}
    assert lisbon not in {r["id"] for r in listed["results"]}


# -- stdio ----------------------------------------------------------------------------------
def test_stdio_scenario_in_the_default_scope(tmp_path: Path) -> None:
    stdio, _ = readme_configs()  # as the README tells a host to start it
    assert stdio["command"] == "graphmem" and stdio["args"][:3] == ["mcp", "--user", "alice"]

    async def main() -> None:
        async with stdio_session(tmp_path / "gm", *stdio["args"][1:3]) as session:
            await scenario(session)
            await call(session, "add_memory", text="I live in Oslo.", user_id="bob")
            mine = await call(session, "get_memories")
            assert all(r["user_id"] == "alice" for r in mine["results"])
            assert "Oslo" not in json.dumps(mine)
            bobs = await call(session, "get_memories", filters={"user_id": "bob"})
            assert [r["memory"] for r in bobs["results"]] == ["I live in Oslo."]

    anyio.run(main)


def test_stdio_without_a_default_scope_needs_ids(tmp_path: Path) -> None:
    async def main() -> None:
        async with stdio_session(tmp_path / "gm") as session:
            with pytest.raises(Refused) as no_scope:
                await call(session, "add_memory", text=MANAGER)
            assert no_scope.value.error == "InvalidInputError"
            await scenario(session, user_id="carol")

    anyio.run(main)


def test_stdio_registers_ask_only_with_an_llm(tmp_path: Path) -> None:
    async def main() -> None:
        llm = {"GRAPHMEM_LLM_BASE_URL": "http://127.0.0.1:9/v1", "GRAPHMEM_EXTRACTOR": "auto"}
        async with stdio_session(tmp_path / "gm", "--user", "alice", **llm) as session:
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert "ask" in tools and tools["ask"].description

    anyio.run(main)


# -- streamable HTTP, on a live ``graphmem serve`` --------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A ``graphmem serve`` process on a free loopback port with two keys, bound to alice and
    to bob: its MCP URL and the keys by user."""
    root = tmp_path_factory.mktemp("serve")
    keys_file = root / "keys.json"
    keys = {user: add_key(keys_file, user, user_id=user) for user in ("alice", "bob")}
    port = _free_port()
    cmd = [sys.executable, "-m", "graphmem.cli", "serve", "--port", str(port)]
    cmd += ["--data-dir", str(root / "gm"), "--keys", str(keys_file), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=_env())
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"graphmem serve did not start (exit code {proc.poll()})")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/mcp", keys
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_http_scenario_with_a_key_bound_to_alice(served: tuple[str, dict[str, str]]) -> None:
    url, keys = served

    async def main() -> None:
        async with http_session(url, keys["alice"]) as session:
            await scenario(session)  # the key's scope: no ids needed
            mine = await call(session, "get_memories")
            assert {r["user_id"] for r in mine["results"]} == {"alice"}

    anyio.run(main)


#: every tool with a scope or a memory id, called by alice's key with bob's: (tool,
#: arguments, the error expected)
INTO_BOB: list[tuple[str, dict[str, Any], str]] = [
    ("add_memory", {"text": "I live in Rome.", "user_id": "bob"}, "Forbidden"),
    ("search_memories", {"query": "Where do I live?", "user_id": "bob"}, "Forbidden"),
    ("search_memories", {"query": "Oslo", "filters": {"user_id": "bob"}}, "Forbidden"),
    ("search_memories", {"query": "Oslo", "filters": {"AND": [{"user_id": "bob"}]}}, "Forbidden"),
    ("get_memories", {"user_id": "bob"}, "Forbidden"),
    ("get_memories", {"filters": {"user_id": {"eq": "bob"}}}, "Forbidden"),
    ("get_memory", {"memory_id": "{bob}"}, "NotFoundError"),
    ("update_memory", {"memory_id": "{bob}", "text": "I live in Rome."}, "NotFoundError"),
    ("memory_history", {"memory_id": "{bob}"}, "NotFoundError"),
    ("delete_memory", {"memory_id": "{bob}"}, "NotFoundError"),
    ("delete_all_memories", {"user_id": "bob"}, "Forbidden"),
    ("list_entities", {"user_id": "bob"}, "Forbidden"),
    ("delete_entities", {"user_id": "bob"}, "Forbidden"),
    ("relation_paths", {"source": "bob", "target": "Oslo", "user_id": "bob"}, "Forbidden"),
]


def test_http_a_key_bound_to_alice_reaches_nothing_of_bob(
    served: tuple[str, dict[str, str]],
) -> None:
    url, keys = served

    async def main() -> None:
        async with http_session(url, keys["bob"]) as bob:
            added = await call(bob, "add_memory", text="I live in Oslo.")
            bobs = added["results"][0]["id"]
        async with http_session(url, keys["alice"]) as alice:
            tools = {t.name for t in (await alice.list_tools()).tools}
            assert {tool for tool, _, _ in INTO_BOB} == tools  # every tool is tried
            for tool, args, error in INTO_BOB:
                args = {k: bobs if v == "{bob}" else v for k, v in args.items()}
                with pytest.raises(Refused) as refused:
                    await call(alice, tool, **args)
                assert refused.value.error == error, (tool, args)
            for query in ("Where do I live?", "Oslo"):
                found = await call(alice, "search_memories", query=query)
                assert "Oslo" not in json.dumps(found)
            assert "Oslo" not in json.dumps(await call(alice, "list_entities"))
        async with http_session(url, keys["bob"]) as bob:
            assert (await call(bob, "get_memory", memory_id=bobs))["memory"] == "I live in Oslo."
            events = await call(bob, "memory_history", memory_id=bobs)
            assert [e["event"] for e in events] == ["ADD"]

    anyio.run(main)


def test_http_needs_a_known_key(served: tuple[str, dict[str, str]]) -> None:
    url, keys = served
    _, http = readme_configs()
    assert http["url"].endswith("/mcp") and http["headers"]["Authorization"].startswith("Bearer ")
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in ({}, {"Authorization": "Bearer gm_unknown"}, {"X-API-Key": "gm_unknown"}):
        answer = httpx.post(url, json=hello, headers={**accept, **headers}, timeout=30)
        assert answer.status_code == 401, headers
        assert answer.json()["error"] == "Unauthorized"
    for headers in ({"Authorization": f"Bearer {keys['alice']}"}, {"X-API-Key": keys["bob"]}):
        answer = httpx.post(url, json=hello, headers={**accept, **headers}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["serverInfo"]["name"] == "graphmem"
