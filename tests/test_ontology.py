"""Your own ontology: the config's entity and relation types, held to by the offline
extractor (a real spaCy pipeline) and by the LLM extractor (through the OpenAI-compatible
stub server: the enums in the schema sent, an out-of-ontology reply mapped or dropped)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llm_stub import Body, LLMStub, echo, first_user
from pydantic import BaseModel

from graphmem import Config, ConfigError, Memory
from graphmem.ontology import Ontology

ONTOLOGY: dict[str, Any] = {
    "entities": {
        "Person": "a human being",
        "City": {"description": "a town or city", "aliases": ["Location"]},
        "Company": {"description": "a business", "aliases": ["Organization"]},
    },
    "relations": {
        "LIVES_IN": {"description": "home town", "source": ["Person"], "target": ["City"]},
        "WORKS_FOR": {"description": "employer", "source": ["Person"], "target": ["Company"]},
    },
}
TEXT = "My sister Anna lives in Paris. Maria works at Microsoft. Microsoft is based in Seattle."


class Person(BaseModel):
    """a human being"""

    age: int | None = None
    occupation: str | None = None


def triples(m: Memory, user: str = "alice") -> set[tuple[str, str, str]]:
    rels = m.graph(user_id=user)["relations"]
    return {(r["source"], r["relationship"], r["target"]) for r in rels}


def types(m: Memory, user: str = "alice") -> dict[str, str]:
    return {e["name"]: e["type"] for e in m.entities(user_id=user)["results"]}


@pytest.fixture()
def offline(tmp_path: Path, embedder: Any, spacy_extractor: Any) -> Iterator[Any]:
    made: list[Memory] = []

    def make(**ontology: Any) -> Memory:
        cfg = {"data_dir": tmp_path / f"gm{len(made)}", "extractor": "offline"}
        config = Config.load({**cfg, "ontology": {**ONTOLOGY, **ontology}})
        made.append(Memory(config, embedder=embedder, offline=spacy_extractor))
        return made[-1]

    yield make
    for m in made:
        m.close()


# -- config --------------------------------------------------------------------------------
def test_config_validates_the_names_like_the_graph_stores(tmp_path: Path) -> None:
    assert Config.load({"data_dir": tmp_path, "ontology": ONTOLOGY}).ontology is not None
    for bad in (
        {"entities": {"person type": "x"}},
        {"relations": {"works at": "x"}},
        {"relations": {"MATCH (n) DETACH DELETE n": "x"}},
        {"relations": {"WORKS_AT": {"source": ["Robot"]}}},  # an undeclared entity type
        {"other_relations": "sometimes"},
    ):
        with pytest.raises(ConfigError):
            Config.load({"data_dir": tmp_path, "ontology": bad})


def test_ontology_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHMEM_ONTOLOGY", json.dumps(ONTOLOGY))
    ontology = Config.load().schema_ontology()
    assert ontology is not None
    assert list(ontology.relations) == ["LIVES_IN", "WORKS_FOR"]
    assert ontology.entities["City"].aliases == ("Location",)
    m = Memory.from_config({"ontology": {"other_relations": "keep_generic"}})
    assert m.config.ontology is not None and m.config.ontology.other_relations == "keep_generic"


def test_entity_types_add_attribute_models(tmp_path: Path) -> None:
    cfg = Config.load({"data_dir": tmp_path, "entity_types": {"Person": Person}})
    ontology = cfg.schema_ontology()
    assert ontology is not None and ontology.entities["Person"].attributes is Person
    assert ontology.entities["Person"].description == "a human being"


# -- offline -------------------------------------------------------------------------------
def test_offline_maps_onto_the_ontology_and_drops_the_rest(offline: Any) -> None:
    m = offline()
    m.add(TEXT, user_id="alice")
    # LIVES_IN as is; WORKS_AT onto WORKS_FOR (the same verb); HAS_SISTER, BASED_IN and the
    # MENTIONED_WITH edges are none of the types: dropped
    assert triples(m) == {("Anna", "LIVES_IN", "Paris"), ("Maria", "WORKS_FOR", "Microsoft")}
    found = types(m)
    assert found["Paris"] == found["Seattle"] == "City"  # spaCy's Location, an alias
    assert found["Microsoft"] == "Company"
    assert found["Anna"] == "Person"


def test_offline_keeps_the_others_as_a_generic_relation(offline: Any) -> None:
    m = offline(other_relations="keep_generic")
    m.add(TEXT, user_id="alice")
    t = triples(m)
    assert {("Anna", "LIVES_IN", "Paris"), ("Maria", "WORKS_FOR", "Microsoft")} <= t
    assert ("alice", "RELATED_TO", "Anna") in t  # was HAS_SISTER (the user: "alice")
    assert ("Microsoft", "RELATED_TO", "Seattle") in t  # was BASED_IN
    assert {r for _, r, _ in t} == {"LIVES_IN", "WORKS_FOR", "RELATED_TO"}


def test_offline_checks_the_ends_types(offline: Any) -> None:
    """A relation of an allowed type between entities of other types is outside it."""
    m = offline(
        relations={"LIVES_IN": {"source": ["Person"], "target": ["Company"]}},
        other_relations="keep_generic",
    )
    m.add("Anna lives in Paris.", user_id="alice")
    assert triples(m) == {("Anna", "RELATED_TO", "Paris")}


def test_an_unknown_entity_type_is_the_default(offline: Any) -> None:
    m = offline(entities={"Person": "a human"}, relations={})
    m.add("Maria works at Microsoft.", user_id="alice")
    assert types(m)["Microsoft"] == "Thing"


# -- LLM -----------------------------------------------------------------------------------
def reply(body: Body) -> str:
    """An extraction naming types outside the ontology, with its attributes."""
    if "<memory-input>" not in first_user(body):
        return echo(body)
    entities = [
        {"name": "Bob", "type": "Person", "attributes": {"age": 41, "occupation": "pilot"}},
        {"name": "Acme", "type": "organization"},  # an alias of Company
        {"name": "Lisbon", "type": "City"},
        {"name": "Zed", "type": "Spaceship"},  # none: the default type
    ]
    relations = [
        {"source": "Bob", "relation": "WORKS_FOR", "target": "Acme"},
        {"source": "Bob", "relation": "LIVED_IN", "target": "Lisbon"},  # mapped: LIVES_IN
        {"source": "Bob", "relation": "PILOTS", "target": "Zed"},  # none: dropped
    ]
    fact = {
        "text": "Bob works for Acme and lives in Lisbon.",
        "entities": ["Bob", "Acme", "Lisbon", "Zed"],
        "relations": relations,
    }
    return json.dumps({"facts": [fact], "entities": entities})


@pytest.fixture()
def llm(tmp_path: Path, embedder: Any, spacy_extractor: Any) -> Iterator[tuple[LLMStub, Memory]]:
    with LLMStub(respond=reply) as stub:
        cfg = {
            "data_dir": tmp_path / "gm",
            "extractor": "llm",
            "llm_base_url": stub.url,
            "llm_model": "stub-model",
            "llm_max_retries": 0,
            "ontology": ONTOLOGY,
            "entity_types": {"Person": Person},
        }
        m = Memory(Config.load(cfg), embedder=embedder, offline=spacy_extractor)
        yield stub, m
        m.close()


def test_llm_schema_has_the_enums_and_the_prompt_the_descriptions(
    llm: tuple[LLMStub, Memory],
) -> None:
    stub, m = llm
    m.add("Bob works for Acme and lives in Lisbon.", user_id="alice")
    body = stub.requests[0]
    schema = body["response_format"]["json_schema"]["schema"]
    defs = schema["$defs"]
    assert defs["ExtractedEntity"]["properties"]["type"]["enum"] == [
        "Person",
        "City",
        "Company",
        "Thing",
    ]
    assert defs["ExtractedRelation"]["properties"]["relation"]["enum"] == ["LIVES_IN", "WORKS_FOR"]
    assert set(defs["Person"]["properties"]) == {"age", "occupation"}  # the attribute model
    system = body["messages"][0]["content"]
    assert "- WORKS_FOR (Person -> Company): employer" in system
    assert "- City: a town or city" in system


def test_llm_reply_outside_the_ontology_is_mapped_or_dropped(
    llm: tuple[LLMStub, Memory],
) -> None:
    stub, m = llm
    m.add("Bob works for Acme and lives in Lisbon.", user_id="alice")
    assert triples(m) == {("Bob", "WORKS_FOR", "Acme"), ("Bob", "LIVES_IN", "Lisbon")}
    # the reply stays usable without its out-of-ontology items: no repair request
    assert sum("<memory-input>" in first_user(r) for r in stub.requests) == 1
    found = types(m)
    assert found["Acme"] == "Company"
    assert found["Zed"] == "Thing"


def test_llm_attributes_are_validated_against_the_model() -> None:
    ontology = Config.load({"entity_types": {"Person": Person}}).schema_ontology()
    assert ontology is not None
    raw = json.loads(reply({"messages": [{"role": "user", "content": "<memory-input>"}]}))
    raw["entities"].append({"name": "Eve", "type": "Person", "attributes": {"age": "old"}})
    ex = ontology.reply_schema.model_validate(raw)
    attrs = {e.name: getattr(e, "attributes", None) for e in ex.entities}
    assert attrs["Bob"] == Person(age=41, occupation="pilot")
    assert attrs["Eve"] is None  # invalid: dropped, the entity kept


def test_readme_example_is_a_valid_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Your own ontology") :]
    start = section.index("```python\n") + len("```python\n")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(section[start : section.index("\n```", start)], namespace)  # our own README
    ontology = namespace["m"].config.schema_ontology()
    assert list(ontology.relations) == ["WORKS_FOR", "LIVES_IN"]
    assert ontology.entities["Person"].attributes is namespace["Person"]


def test_relation_mapping_rules() -> None:
    ontology = Ontology.model_validate(
        {"relations": {"LIVES_IN": "", "LIKES": "", "HAS_CHILD": {"aliases": ["HAS_SON"]}}}
    )
    assert ontology.relation("lived in") == "LIVES_IN"  # the verb's stem
    assert ontology.relation("LIKED") == "LIKES"
    assert ontology.relation("HAS_SON") == "HAS_CHILD"  # an alias
    assert ontology.relation("HAS_DAUGHTER") is None  # no verb to go by
    assert ontology.relation("NOT_LIKES") is None  # a negation is never its opposite
    assert ontology.relation("DISLIKES") is None
    assert ontology.entity_type("Person") == "Person"  # no entity types: any
    assert "Leave out relations" in ontology.prompt()
    free = Ontology.model_validate({"entities": {"Person": "a human"}})
    assert free.relation("owns") == "OWNS"  # no relation types: any
    assert "relation" not in free.prompt()
