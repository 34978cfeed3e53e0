"""A scope's entities, and its graph now and as of a time, through Memory."""

from __future__ import annotations

import uuid

import pytest

from graphmem import InvalidInputError, Memory


def edges(out: dict[str, object]) -> set[tuple[str, str, str]]:
    rels = out["relations"]
    assert isinstance(rels, list)
    return {(r["source"], r["relationship"], r["target"]) for r in rels}


def test_entities_and_the_graph_now_and_then(any_memory: Memory) -> None:
    m = any_memory
    m.add("I live in Hamburg.", user_id="gv-alice", timestamp="2024-01-01")
    m.add("My manager Bob works at Acme Robotics.", user_id="gv-alice", timestamp="2024-02-01")
    m.add("I moved to Berlin.", user_id="gv-alice", timestamp="2024-06-01")
    m.add("Dave works at Globex.", user_id="gv-bob")
    names = [e["name"] for e in m.entities(user_id="gv-alice")["results"]]
    assert {"Bob", "Acme Robotics", "Berlin", "Hamburg"} <= set(names) and "Dave" not in names
    assert names == sorted(names, key=str.lower)
    now = m.graph(user_id="gv-alice")
    assert ("Bob", "WORKS_AT", "Acme Robotics") in edges(now)
    assert ("gv-alice", "LIVES_IN", "Berlin") in edges(now)
    assert ("gv-alice", "LIVES_IN", "Hamburg") not in edges(now)
    then = m.graph(user_id="gv-alice", as_of="2024-03-01")
    assert ("gv-alice", "LIVES_IN", "Hamburg") in edges(then)
    assert ("gv-alice", "LIVES_IN", "Berlin") not in edges(then)
    assert then["as_of"].startswith("2024-03-01") and now["as_of"] is None
    ends = {e["id"] for e in now["entities"]}
    assert all(r["source_id"] in ends and r["target_id"] in ends for r in now["relations"])
    assert all(r["user_id"] == "gv-alice" for r in now["relations"])
    assert not edges(m.graph(user_id="gv-alice", as_of="2023-01-01"))
    assert len(m.graph(user_id="gv-alice", limit=1)["relations"]) == 1
    with pytest.raises(InvalidInputError):
        m.graph()


def test_the_graph_with_its_superseded_relations(any_memory: Memory) -> None:
    m, user = any_memory, f"gv-{uuid.uuid4().hex[:8]}"
    m.add("I live in Hamburg.", user_id=user, timestamp="2024-01-01")
    m.add("I moved to Berlin.", user_id=user, timestamp="2024-06-01")
    hamburg, berlin = (user, "LIVES_IN", "Hamburg"), (user, "LIVES_IN", "Berlin")
    every = m.graph(user_id=user, include_invalid=True)
    assert {hamburg, berlin} <= edges(every) and hamburg not in edges(m.graph(user_id=user))
    (gone,) = [r for r in every["relations"] if r["target"] == "Hamburg"]
    assert gone["invalid_at"].startswith("2024-06-01")
    then = m.graph(user_id=user, as_of="2024-03-01", include_invalid=True)
    assert hamburg in edges(then) and berlin not in edges(then)  # not begun yet
    later = m.graph(user_id=user, as_of="2024-07-01", include_invalid=True)
    assert {hamburg, berlin} <= edges(later)
    assert hamburg not in edges(m.graph(user_id=user, as_of="2024-07-01"))
    assert not edges(m.graph(user_id=user, as_of="2023-01-01", include_invalid=True))


def test_history_names_the_scope_of_each_event(memory: Memory) -> None:
    out = memory.add("Carol lives in Oslo.", user_id="alice", agent_id="planner")
    mid = out["results"][0]["id"]
    memory.update(mid, "Carol lives in Bergen.")
    rows = memory.history(mid)
    assert [(r["event"], r["user_id"], r["agent_id"]) for r in rows] == [
        ("ADD", "alice", "planner"),
        ("UPDATE", "alice", "planner"),
    ]
    assert "scope" not in rows[0]
