"""Mem0's two call styles: keyword scopes and ``limit`` (1.x), scopes in ``filters`` and
``top_k`` (3.x), alone or mixed."""

from __future__ import annotations

from typing import Any

import pytest

from graphmem import InvalidInputError, Memory
from graphmem.call_args import count, merge, split


def texts(out: dict[str, Any]) -> list[str]:
    return [r["memory"] for r in out["results"]]


def test_split_takes_the_scope_out_of_filters() -> None:
    assert split(None) == ({}, None)
    assert split({"user_id": "a", "topic": "x"}) == ({"user_id": "a"}, {"topic": "x"})
    assert split({"user_id": {"eq": "a"}, "agent_id": "*"}) == (
        {"user_id": "a", "agent_id": None},
        None,
    )
    named, rest = split({"AND": [{"user_id": "a"}, {"run_id": "r", "n": {"gt": 1}}, {"k": 2}]})
    assert named == {"user_id": "a", "run_id": "r"}
    assert rest == {"AND": [{"n": {"gt": 1}}, {"k": 2}]}
    assert merge(None, "b", None, {"user_id": "a", "agent_id": None}) == {
        "user_id": "a",
        "agent_id": "b",
    }
    assert merge("a", None, None, {"user_id": "a"}) == {"user_id": "a"}
    assert count(None, None, 10) == 10 and count(5, None, 10) == 5 and count(None, 3, 10) == 3
    assert count(4, 4, 10) == 4


@pytest.mark.parametrize(
    "filters",
    [
        {"OR": [{"user_id": "a"}, {"user_id": "b"}]},  # a read reads one scope
        {"AND": [{"user_id": "a"}, {"user_id": "b"}]},  # given twice, differently
        {"user_id": {"in": ["a", "b"]}},
        {"user_id": ["a"]},
        {"user_id": "a", "topic": {"ne": {"agent_id": "x"}}},
        {"user_id": "a", "topic": "*"},  # a wildcard on metadata
        "user_id=a",
    ],
)
def test_filters_that_do_not_name_one_scope_are_refused(filters: Any) -> None:
    with pytest.raises(InvalidInputError):
        named, _ = split(filters)
        merge(None, None, None, named)


def test_conflicting_arguments_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        merge("alice", None, None, {"user_id": "bob"})
    with pytest.raises(InvalidInputError):
        count(5, 6, 10)


def test_search_and_get_all_in_the_mem0_3_style(memory: Memory) -> None:
    for text, topic in [
        ("My manager Bob works at Acme Robotics.", "work"),
        ("Acme Robotics is based in Lisbon.", "work"),
        ("I enjoy hiking in the Alps.", "home"),
    ]:
        memory.add(text, user_id="alice", metadata={"topic": topic})
    memory.add("Bob plays chess.", user_id="bob", agent_id="coach")
    q = "Where does my manager work?"
    classic = memory.search(q, user_id="alice", limit=2)
    current = memory.search(q, filters={"user_id": "alice"}, top_k=2)
    assert texts(current) == texts(classic) and len(texts(current)) == 2
    assert texts(memory.search(q, user_id="alice", filters={"user_id": "alice"}, top_k=2)) == (
        texts(classic)
    )
    work = memory.get_all(filters={"AND": [{"user_id": "alice"}, {"topic": "work"}]})
    assert sorted(texts(work)) == [
        "Acme Robotics is based in Lisbon.",
        "My manager Bob works at Acme Robotics.",
    ]
    assert len(texts(memory.get_all(filters={"user_id": "alice"}, top_k=1))) == 1
    assert texts(memory.get_all(filters={"user_id": "bob", "agent_id": "*"})) == [
        "Bob plays chess."
    ]
    assert texts(memory.get_all(filters={"agent_id": "coach"})) == ["Bob plays chess."]
    for bad in (
        lambda: memory.search(q, user_id="alice", filters={"user_id": "bob"}),
        lambda: memory.search(q, filters={"user_id": "alice"}, limit=2, top_k=3),
        lambda: memory.get_all(filters={"topic": "work"}),  # no scope at all
        lambda: memory.get_all(filters={"OR": [{"user_id": "alice"}, {"user_id": "bob"}]}),
    ):
        with pytest.raises(InvalidInputError):
            bad()
