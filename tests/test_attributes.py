"""Entity attributes end to end: an LLM (the OpenAI-compatible stub server, scripted) gives
the fields of ``entity_types`` models; they are kept on the entities in each graph store,
merged when an entity is mentioned again (per key, the latest value that is not null), and
read back by ``Memory.entities()``, ``Memory.graph()`` and the REST server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from llm_stub import Body, LLMStub, echo, first_user
from pydantic import BaseModel
from test_server_rest import ok, serve, server_env

from graphmem import Config, Memory
from graphmem.models import Entity, GraphBatch, Scope
from graphmem.plan import Plan


class Person(BaseModel):
    """a human being"""

    age: int | None = None
    occupation: str | None = None
    city: str | None = None


#: message → what the scripted model says of the people it names (None: the user)
SAID: dict[str, dict[str | None, dict[str, Any] | None]] = {
    "Bob is a pilot, he is 41.": {"Bob": {"age": 41, "occupation": "pilot"}},
    "Bob turned 42 and lives in Lisbon.": {"Bob": {"age": 42, "occupation": None}},
    "Bob mentioned Lisbon again.": {"Bob": None},  # no attributes: nothing changes
    "Bob wrote from Porto.": {"Bob": {"city": "Porto"}},
    "I am 34 and I teach.": {None: {"age": 34, "occupation": "teacher"}},
    "Bob says hi.": {"Bob": {"age": "unknown"}},  # invalid: dropped, Bob kept
}


def reply(body: Body) -> str:
    """The scripted model: for each message of the input, one fact naming its people (and
    Lisbon, where Bob lives), with the attributes ``SAID``."""
    user = first_user(body)
    if "<memory-input>" not in user:
        return echo(body)  # reconciliation: ADD
    said = [text for text in SAID if text in user]
    facts, entities = [], []
    for text in said:
        names = [n or "USER" for n in SAID[text]]
        relations = []
        if "Lisbon" in text:
            names.append("Lisbon")
            relations.append({"source": "Bob", "relation": "LIVES_IN", "target": "Lisbon"})
        facts.append({"text": text, "entities": names, "relations": relations})
        for name, attributes in SAID[text].items():
            entities.append({"name": name or "USER", "type": "Person", "attributes": attributes})
        if "Lisbon" in text:
            entities.append({"name": "Lisbon", "type": "City"})
    return json.dumps({"facts": facts, "entities": entities})


@pytest.fixture(params=["networkx", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def llm_memory(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: Any, spacy_extractor: Any
) -> Iterator[Memory]:
    with LLMStub(respond=reply) as stub:
        cfg = {
            "data_dir": tmp_path / "gm",
            "graph_store": request.param,
            "extractor": "llm",
            "llm_base_url": stub.url,
            "llm_model": "stub-model",
            "llm_max_retries": 0,
            "entity_types": {"Person": Person},
        }
        with Memory(Config.load(cfg), embedder=embedder, offline=spacy_extractor) as m:
            yield m


def user() -> str:
    return f"u-{uuid.uuid4().hex[:12]}"  # Neo4j is shared: a scope of this test's own


def attributes(m: Memory, user_id: str) -> dict[str, dict[str, Any]]:
    return {e["name"]: e["attributes"] for e in m.entities(user_id=user_id)["results"]}


def test_attributes_are_kept_and_merged_on_a_later_mention(llm_memory: Memory) -> None:
    m, alice = llm_memory, user()
    m.add("Bob is a pilot, he is 41.", user_id=alice)
    assert attributes(m, alice)["Bob"] == {"age": 41, "occupation": "pilot"}

    m.add("Bob turned 42 and lives in Lisbon.", user_id=alice)  # age replaced, occupation kept
    want = {"age": 42, "occupation": "pilot"}
    assert attributes(m, alice) == {alice: {}, "Bob": want, "Lisbon": {}}
    m.add("Bob mentioned Lisbon again.", user_id=alice)
    m.add("Bob says hi.", user_id=alice)
    assert attributes(m, alice)["Bob"] == want
    graph = {e["name"]: e["attributes"] for e in m.graph(user_id=alice)["entities"]}
    assert graph == {"Bob": want, "Lisbon": {}}


def test_one_batch_merges_its_mentions_in_order_and_the_user_has_attributes(
    llm_memory: Memory,
) -> None:
    m, alice = llm_memory, user()
    m.add_many(
        [
            "Bob is a pilot, he is 41.",
            "Bob wrote from Porto.",
            "Bob turned 42 and lives in Lisbon.",
        ],
        user_id=alice,
    )
    m.add("I am 34 and I teach.", user_id=alice)
    found = attributes(m, alice)
    assert found["Bob"] == {"age": 42, "occupation": "pilot", "city": "Porto"}
    assert found[alice] == {"age": 34, "occupation": "teacher"}  # the user's own node


def test_a_journaled_plan_keeps_attributes() -> None:
    told = {"age": 41, "tags": ["é", "b"], "home": {"x": 1.5}}
    bob = Entity("b", "Bob", "Person", Scope(user_id="alice"), attributes=told)
    plan = Plan(id="p", at="2024-01-01T00:00:00+00:00", graph=GraphBatch(entities=(bob,)))
    again = Plan.from_dict(json.loads(plan.to_json()))
    assert again.graph.entities == (bob,)
    old = json.loads(plan.to_json())  # a plan journaled before attributes replays
    del old["graph"]["entities"][0]["attributes"]
    assert Plan.from_dict(old).graph.entities[0].attributes == {}


def test_the_rest_server_returns_attributes(tmp_path: Path, embedder: Any) -> None:
    with LLMStub(respond=reply) as stub:
        cfg = {
            "data_dir": tmp_path / "gm",
            "extractor": "llm",
            "llm_base_url": stub.url,
            "llm_model": "stub-model",
            "entity_types": {"Person": Person},
        }
        with Memory(Config.load(cfg), embedder=embedder) as m:
            m.add("Bob turned 42 and lives in Lisbon.", user_id="alice")
    with serve(tmp_path, env=server_env()) as live, httpx.Client(base_url=live.url) as http:
        entities = ok(http.get("/entities", params={"user_id": "alice"}))["results"]
        graph = ok(http.get("/graph", params={"user_id": "alice"}))["entities"]
        documented = ok(http.get("/openapi.json"))["components"]["schemas"]["EntityOut"]
    assert {e["name"]: e["attributes"] for e in entities}["Bob"] == {"age": 42}
    assert {e["name"]: e["attributes"] for e in graph} == {"Bob": {"age": 42}, "Lisbon": {}}
    assert documented["properties"]["attributes"]["type"] == "object"
