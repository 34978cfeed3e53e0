"""The REST server as a client sees it: `graphmem serve` in its own process on a free
127.0.0.1 port, driven over HTTP with httpx."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sites import free_port

from graphmem.server.auth import add_key

TWO_HOP = "Where is the company my manager works for based?"
FILLERS = (
    "I enjoy hiking in the Alps.",
    "My favorite city for food is Naples.",
    "I bought a new bike in the city.",
)


def server_env(**extra: str) -> dict[str, str]:
    """This process's environment (so the same graphmem is served), offline, no LLM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHMEM_")}
    return {**env, "GRAPHMEM_EXTRACTOR": "offline", **extra}


@dataclass
class Live:
    url: str
    proc: subprocess.Popen[bytes]
    keys: dict[str, str]

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys.get(key, key)}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


@contextlib.contextmanager
def serve(data: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Live]:
    """``graphmem serve`` on a free port, until it answers ``/health``; stopped afterwards."""
    port = free_port()
    cmd = [sys.executable, "-m", "graphmem.cli", "serve", "--port", str(port)]
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(
        [*cmd, "--data-dir", str(data / "gm"), "--log-level", "warning", *args],
        env=env or server_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the server did not start:\n" + (data / "server.log").read_text())
        time.sleep(0.2)
    try:
        yield Live(url, proc, {})
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One server with keys for alice, bob and an admin, a 4 KiB request limit."""
    data = tmp_path_factory.mktemp("rest")
    keys_file = data / "keys.json"
    keys = {
        "alice": add_key(keys_file, "alice", user_id="alice"),
        "bob": add_key(keys_file, "bob", user_id="bob"),
        "admin": add_key(keys_file, "ops", admin=True),
    }
    env = server_env(GRAPHMEM_MAX_REQUEST_BYTES="4096")
    with serve(data, "--keys", str(keys_file), env=env) as server:
        server.keys.update(keys)
        yield server


def texts(body: dict[str, Any]) -> list[str]:
    return [r["memory"] for r in body["results"]]


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def error(response: httpx.Response, status: int, name: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == name, response.text


def test_openapi_documents_every_route(live: Live) -> None:
    doc = ok(httpx.get(live.url + "/openapi.json"))
    routes = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes >= {
        ("/memories", "post"),
        ("/memories", "get"),
        ("/memories", "delete"),
        ("/memories/{memory_id}", "get"),
        ("/memories/{memory_id}", "put"),
        ("/memories/{memory_id}", "delete"),
        ("/memories/{memory_id}/history", "get"),
        ("/search", "post"),
        ("/reset", "post"),
        ("/ask", "post"),
        ("/entities", "get"),
        ("/graph", "get"),
        ("/health", "get"),
    }
    schemas = doc["components"]["schemas"]
    assert {"messages", "user_id", "agent_id", "run_id", "metadata"} <= set(
        schemas["MemoryCreate"]["properties"]
    )
    assert {"query", "filters", "top_k", "limit"} <= set(schemas["SearchRequest"]["properties"])
    assert {"score", "score_parts", "paths"} <= set(schemas["ScoredMemory"]["properties"])
    assert {"HTTPBearer", "APIKeyHeader"} <= set(doc["components"]["securitySchemes"])


def test_add_search_two_hops_update_history_delete(live: Live) -> None:
    with live.client("alice") as alice:
        added = ok(
            alice.post(
                "/memories",
                json={
                    "messages": [
                        {"role": "user", "content": "My manager Bob works at Acme Robotics."},
                        {"role": "assistant", "content": "Noted!"},
                    ],
                    "metadata": {"topic": "work"},
                },
            )
        )
        assert texts(added) == ["My manager Bob works at Acme Robotics."]
        assert {"source": "Bob", "relationship": "WORKS_AT", "target": "Acme Robotics"} in (
            added["relations"]["added"]
        )
        ok(alice.post("/memories", json={"messages": "Acme Robotics is based in Lisbon."}))
        for filler in FILLERS:
            ok(alice.post("/memories", json={"messages": filler, "user_id": "alice"}))

        found = ok(alice.post("/search", json={"query": TWO_HOP, "limit": 3}))
        assert "Acme Robotics is based in Lisbon." in texts(found)[:2]
        lisbon = next(r for r in found["results"] if "Lisbon" in r["memory"])
        assert lisbon["score_parts"]["graph"] > 0 and lisbon["user_id"] == "alice"
        assert any("Bob -[WORKS_AT]-> Acme Robotics" in p for p in lisbon["paths"])
        mem0_3 = {"query": TWO_HOP, "filters": {"user_id": "alice"}, "top_k": 3}
        assert texts(ok(alice.post("/search", json=mem0_3))) == texts(found)
        work = {"query": TWO_HOP, "filters": {"AND": [{"user_id": "alice"}, {"topic": "work"}]}}
        assert texts(ok(alice.post("/search", json=work))) == [
            "My manager Bob works at Acme Robotics."
        ]

        mid = lisbon["id"]
        assert ok(alice.get(f"/memories/{mid}"))["memory"] == "Acme Robotics is based in Lisbon."
        updated = ok(alice.put(f"/memories/{mid}", json={"text": "Acme Robotics is in Porto."}))
        assert updated["previous_memory"] == "Acme Robotics is based in Lisbon."
        events = ok(alice.get(f"/memories/{mid}/history"))
        assert [(e["event"], e["user_id"]) for e in events] == [
            ("ADD", "alice"),
            ("UPDATE", "alice"),
        ]
        assert ok(alice.delete(f"/memories/{mid}"))["id"] == mid
        error(alice.get(f"/memories/{mid}"), 404, "NotFoundError")
        assert [e["event"] for e in ok(alice.get(f"/memories/{mid}/history"))][-1] == "DELETE"
        listed = texts(ok(alice.get("/memories")))
        assert "Acme Robotics is in Porto." not in listed and len(listed) == 4

        names = [e["name"] for e in ok(alice.get("/entities"))["results"]]
        assert {"Bob", "Acme Robotics"} <= set(names)
        graph = ok(alice.get("/graph"))
        edges = {(r["source"], r["relationship"], r["target"]) for r in graph["relations"]}
        assert ("Bob", "WORKS_AT", "Acme Robotics") in edges
        assert not ok(alice.get("/graph", params={"as_of": "2000-01-01"}))["relations"]


def test_a_key_never_reaches_another_scope(live: Live) -> None:
    with live.client("bob") as bob, live.client("alice") as alice, live.client("admin") as ops:
        mine = ok(bob.post("/memories", json={"messages": "Dave plays chess on Sundays."}))
        bob_id = mine["results"][0]["id"]
        ok(alice.post("/memories", json={"messages": "Erin sings in a choir."}))
        for response in (
            alice.get("/memories", params={"user_id": "bob"}),
            alice.post("/memories", json={"messages": "I am bob now.", "user_id": "bob"}),
            alice.post("/search", json={"query": "chess", "user_id": "bob"}),
            alice.post("/search", json={"query": "chess", "filters": {"user_id": "bob"}}),
            alice.delete("/memories", params={"user_id": "bob"}),
            alice.get("/entities", params={"user_id": "bob"}),
            alice.get("/graph", params={"user_id": "bob"}),
            alice.post("/reset"),
        ):
            error(response, 403, "Forbidden")
        for response in (
            alice.get(f"/memories/{bob_id}"),
            alice.put(f"/memories/{bob_id}", json={"text": "Dave quit chess."}),
            alice.delete(f"/memories/{bob_id}"),
            alice.get(f"/memories/{bob_id}/history"),
        ):
            error(response, 404, "NotFoundError")  # as if it did not exist
        searched = ok(alice.post("/search", json={"query": "Who plays chess?"}))
        assert all(r["user_id"] == "alice" for r in searched["results"])
        assert "Dave plays chess on Sundays." not in texts(ok(alice.get("/memories")))
        assert texts(ok(bob.get("/memories"))) == ["Dave plays chess on Sundays."]
        assert ok(ops.get(f"/memories/{bob_id}"))["memory"] == "Dave plays chess on Sundays."
        assert texts(ok(ops.get("/memories", params={"user_id": "bob"}))) == [
            "Dave plays chess on Sundays."
        ]
        error(ops.get("/memories"), 400, "InvalidInputError")  # an admin names a scope


def test_a_missing_or_unknown_key_is_401(live: Live) -> None:
    with live.client() as anonymous:
        response = anonymous.get("/memories", params={"user_id": "alice"})
        error(response, 401, "Unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
        ok(anonymous.get("/health"))
    with live.client("gm_not-a-key") as stranger:
        error(stranger.post("/search", json={"query": "x"}), 401, "Unauthorized")
    by_header = httpx.get(
        live.url + "/memories", headers={"X-API-Key": live.keys["bob"]}, timeout=60
    )
    assert by_header.status_code == 200


def test_errors_map_to_status_codes_with_the_error_class(live: Live) -> None:
    with live.client("alice") as alice:
        error(alice.get("/memories/no-such-id"), 404, "NotFoundError")
        error(alice.get("/memories/no-such-id/history"), 404, "NotFoundError")
        error(alice.post("/search", json={"limit": 3}), 422, "InvalidInputError")
        error(alice.post("/memories", json={"messages": 42}), 422, "InvalidInputError")
        error(alice.get("/memories", params={"limit": "many"}), 422, "InvalidInputError")
        both = {"query": "x", "limit": 2, "top_k": 3}
        error(alice.post("/search", json=both), 400, "InvalidInputError")
        error(alice.post("/search", json={"query": " "}), 400, "InvalidInputError")
        error(alice.post("/ask", json={"question": "Where?"}), 501, "ConfigError")  # no LLM
        error(alice.get("/no/such/route"), 404, "NotFoundError")


def test_a_request_larger_than_the_limit_is_413(live: Live) -> None:
    with live.client("alice") as alice:
        big = {"messages": "Words. " * 1000}  # > 4096 bytes
        error(alice.post("/memories", json=big), 413, "PayloadTooLarge")

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"messages": "'
            yield b"x" * 5000
            yield b'"}'

        chunked = alice.post("/memories", content=chunks(), headers={"content-type": "json"})
        error(chunked, 413, "PayloadTooLarge")
        ok(alice.post("/search", json={"query": "still serving"}))


def test_without_keys_a_server_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "graphmem.cli", "serve", "--host", "0.0.0.0"]
    proc = subprocess.run(
        [*cmd, "--port", str(free_port()), "--data-dir", str(tmp_path / "gm")],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "refusing to serve 0.0.0.0 without API keys" in proc.stderr
    assert not (tmp_path / "gm").exists()  # refused before anything was opened


def test_a_personal_server_without_keys_uses_its_default_scope(tmp_path: Path) -> None:
    with serve(tmp_path, "--user", "me") as server, server.client() as me:
        ok(me.post("/memories", json={"messages": "My sister Carol lives in Oslo."}))
        ok(me.post("/memories", json={"messages": "Dave lives in Rome.", "user_id": "dave"}))
        mine = ok(me.get("/memories"))
        assert texts(mine) == ["My sister Carol lives in Oslo."]
        assert mine["results"][0]["user_id"] == "me"
        assert texts(ok(me.get("/memories", params={"user_id": "dave"}))) == ["Dave lives in Rome."]
        assert ok(me.post("/reset"))["message"] == "All memories reset"  # loopback: admin
        assert texts(ok(me.get("/memories"))) == []
        # a web page reaches it neither by another name (DNS rebinding) nor cross-site
        error(me.get("/memories", headers={"Host": "evil.example"}), 403, "Forbidden")
        page = {"Origin": "http://evil.example"}
        error(me.post("/memories", json={"messages": "I am evil."}, headers=page), 403, "Forbidden")
        assert texts(ok(me.get("/memories", headers={"Origin": "http://localhost:3000"}))) == []
        named = {"Host": "localhost:" + server.url.rsplit(":", 1)[1]}
        assert texts(ok(me.get("/memories", headers=named))) == []


def test_the_library_and_the_command_line_do_not_load_the_web_server() -> None:
    """Imports flow one way: nothing below Memory imports the server, and the command line
    imports FastAPI and uvicorn only when a server starts."""
    check = (
        "import sys, graphmem, graphmem.cli; "
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('fastapi', 'uvicorn') "
        "or m == 'graphmem.server.rest']; print(loaded); assert not loaded"
    )
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
