"""One contract suite for every KeywordIndex: the in-process bm25s index (embedded graph) and
the Neo4j full-text index (``graph_store=neo4j``), each behind a real Memory."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from graphmem import Memory
from graphmem.models import Scope
from graphmem.stores.neo4j_keywords import lucene_query

HOSTILE = [
    '") OR *:* OR ("',
    "text:* AND user_id:*",
    "*",
    "?",
    "\\",
    '"',
    "chess~2 OR club^1000",
    "chess AND NOT user_id:[* TO *]",
    "(((chess",
    'chess\\\\" OR user_id:\\*',
    "/.*/",
    "{!lucene}chess",
]


@pytest.fixture()
def mem(any_memory: Memory) -> Memory:
    any_memory.reset()  # scopes such as agent "the" recur: nothing of an earlier test may remain
    return any_memory


@pytest.fixture()
def u() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


def ids(m: Memory, **scope: Any) -> set[str]:
    return {r["id"] for r in m.get_all(**scope, limit=1000, include_invalid=True)["results"]}


def source_ids(m: Memory, **scope: Any) -> set[str]:
    return {s for r in m.get_all(**scope, limit=1000)["results"] for s in _sources(m, r["id"])}


def _sources(m: Memory, memory_id: str) -> list[str]:
    return [s["id"] for s in m.get(memory_id)["sources"]]


def test_words_find_records_best_first(mem: Memory, u: str) -> None:
    mem.add("The chess club meets in the basement of the town library.", user_id=u)
    mem.add("The chess set has a missing rook.", user_id=u)
    mem.add("Saffron risotto needs a slow stir and warm stock.", user_id=u)
    kw, scope = mem.parts.keywords, Scope(user_id=u)
    found = kw.search("facts", scope, "chess club basement", 10)
    texts = {r["id"]: r["memory"] for r in mem.get_all(user_id=u)["results"]}
    assert [texts[i] for i, _ in found] == [
        "The chess club meets in the basement of the town library.",
        "The chess set has a missing rook.",
    ]
    assert found[0][1] > found[1][1] > 0
    assert len(kw.search("facts", scope, "chess", 1)) == 1
    [(passage, score)] = kw.search("sources", scope, "risotto", 10)
    assert score > 0 and passage in source_ids(mem, user_id=u)


def test_a_query_without_words_finds_nothing(mem: Memory, u: str) -> None:
    mem.add("The chess club meets in the basement of the town library.", user_id=u)
    kw, scope = mem.parts.keywords, Scope(user_id=u)
    for query in ("", "   ", "the a of", "!?", "a"):
        for corpus in ("facts", "sources"):
            assert kw.search(corpus, scope, query, 10) == [], (query, corpus)


def test_query_text_is_words_never_syntax(mem: Memory, u: str) -> None:
    other = f"{u}-x"
    mem.add("The chess club meets in the basement of the town library.", user_id=u)
    mem.add("The chess club plays blitz on Fridays.", user_id=other)
    kw, scope = mem.parts.keywords, Scope(user_id=u)
    mine, theirs = ids(mem, user_id=u), ids(mem, user_id=other)
    for query in HOSTILE:
        found = {i for i, _ in kw.search("facts", scope, query, 10)}
        assert found <= mine and not found & theirs, query
        assert {i for i, _ in kw.search("sources", scope, query, 10)}.isdisjoint(
            source_ids(mem, user_id=other)
        ), query


def test_every_scope_finds_its_own_records_only(mem: Memory, u: str) -> None:
    """Scopes whose ids share words, a scope inside another and a stop word as an id: each
    search returns what its scope holds (a user's scope holds its agents' too)."""
    text = "The chess club meets in the basement of the town library."
    scopes = [
        {"user_id": u},
        {"user_id": f"{u}-x"},
        {"user_id": f"{u} x"},
        {"user_id": u, "agent_id": "the"},
        {"agent_id": "the"},
    ]
    for scope in scopes:
        mem.add(text, infer=False, **scope)  # stored as is in each scope, no reconciliation
    kw = mem.parts.keywords
    for scope in scopes:
        own = ids(mem, **scope)
        found = {i for i, _ in kw.search("facts", Scope(**scope), "chess club", 50)}
        assert found == own, scope
        srcs = {i for i, _ in kw.search("sources", Scope(**scope), "chess club", 50)}
        assert srcs == source_ids(mem, **scope), scope
    assert len(ids(mem, user_id=u)) == 2  # its own, and its agent's


def test_superseded_only_in_the_archive_and_deleted_never(mem: Memory, u: str) -> None:
    kw, scope = mem.parts.keywords, Scope(user_id=u)
    old = mem.add("I live in Hamburg.", user_id=u)["results"][0]["id"]
    mem.add("I moved to Berlin.", user_id=u)
    assert kw.search("facts", scope, "Hamburg", 10) == []
    assert [i for i, _ in kw.search("facts", scope, "Hamburg", 10, include_invalid=True)] == [old]
    pin = mem.add("My bank PIN is 4921.", user_id=u)["results"][0]["id"]
    [message] = _sources(mem, pin)
    assert [i for i, _ in kw.search("sources", scope, "bank PIN", 10)] == [message]
    mem.delete(pin)
    for archive in (False, True):
        assert kw.search("facts", scope, "bank PIN 4921", 10, archive) == []
        assert kw.search("sources", scope, "bank PIN 4921", 10, archive) == []
    mem.delete_all(user_id=u)
    for corpus in ("facts", "sources"):
        assert kw.search(corpus, scope, "Berlin Hamburg moved live", 10, True) == []


def test_the_lucene_query_quotes_every_word() -> None:
    query = lucene_query("facts", 'chess") OR user_id:* \\ the chess', Scope('a"b', "the"))
    assert query == ('(text:("chess"^2 OR "user_id")) AND user_id:"a\\"b"^0 AND agent_id:"the"^0')
    assert lucene_query("sources", "the of a", Scope("u")) is None
