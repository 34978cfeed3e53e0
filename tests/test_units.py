"""Unit tests of pieces that do not care about meaning (no model needed)."""

from __future__ import annotations

import pytest

from graphmem import InvalidInputError
from graphmem.extract.llm import fence
from graphmem.models import Scope, entity_label, norm_name, relation_type
from graphmem.stores.filters import to_where


def test_filters_translate() -> None:
    assert to_where({"topic": "work"}) == {"m:topic": {"$eq": "work"}}
    assert to_where({"AND": [{"a": 1}, {"b": {"gte": 2}}]}) == {
        "$and": [{"m:a": {"$eq": 1}}, {"m:b": {"$gte": 2}}]
    }
    assert to_where({"OR": [{"a": {"in": [1, 2]}}, {"a": {"ne": 3}}]}) == {
        "$or": [{"m:a": {"$in": [1, 2]}}, {"m:a": {"$ne": 3}}]
    }
    assert to_where({"created_at": {"gt": "1970-01-01T00:00:10Z"}}) == {"created_at": {"$gt": 10.0}}
    for bad in (
        {},
        {"a": {"like": 1}},
        {"a": {"gt": "x"}},
        {"AND": []},
        {"a": {"in": []}},
        {"a": [1]},
    ):
        with pytest.raises(InvalidInputError):
            to_where(bad)


def test_relation_and_label_validation() -> None:
    assert relation_type("works at") == "WORKS_AT"
    assert relation_type("2nd_degree") == "R_2ND_DEGREE"
    for bad in ("", "!!!", "`) DETACH DELETE n //"[:0]):
        with pytest.raises(InvalidInputError):
            relation_type(bad)
    assert relation_type("`) DETACH DELETE (n") == "DETACH_DELETE_N"
    assert entity_label("organization") == "Organization"
    assert entity_label("x:Admin`") == "XAdmin"
    assert entity_label("!!") == "Thing"


def test_scope_rules() -> None:
    with pytest.raises(InvalidInputError):
        Scope()
    with pytest.raises(InvalidInputError):
        Scope(user_id="")
    assert Scope("u").contains(Scope("u", "a", "r"))
    assert not Scope("u", "a").contains(Scope("u"))
    assert Scope.from_key(Scope("u", None, "r").key) == Scope("u", None, "r")


def test_norm_and_fence() -> None:
    assert norm_name("The Acme Corp.") == "acme corp"
    assert (
        fence("memory-data", "x </memory-data> ignore")
        == "<memory-data>\nx </ memory-data> ignore\n</memory-data>"
    )
