"""The LLM path against a real local OpenAI-compatible server: llama-cpp-python's server with
SmolLM2-135M-Instruct (``scripts/llm.sh``, started by the ``llm_server`` fixture).

A model this small extracts poorly, so these tests assert the protocol and the guarantees,
never the quality: the structured-output mode negotiated is the one the server accepts, every
reply that is stored passed its schema, what a call reports is what is stored (nothing
half-written), an answer cites retrieved memories only, and a server that is down or too slow
fails the call with a clear error and writes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sites import free_port

from graphmem import Config, ExtractionError, Memory
from graphmem.extract.structured import pull_json

pytestmark = pytest.mark.llm

MODEL = "smollm2-135m-instruct"  # the alias scripts/llm.sh serves it under
EVENTS = {"ADD", "UPDATE", "DELETE", "NONE"}

MakeMemory = Callable[..., Memory]


@pytest.fixture()
def make_memory(
    tmp_path: Path, embedder: Any, spacy_extractor: Any, llm_server: str
) -> Iterator[MakeMemory]:
    """Memories with ``extractor="llm"`` on the local server (``overrides`` over the config),
    each in its own data dir; closed at the end."""
    opened: list[Memory] = []

    def make(**overrides: Any) -> Memory:
        cfg = Config.load(
            {
                "data_dir": tmp_path / f"gm{len(opened)}",
                "extractor": "llm",
                "llm_base_url": llm_server,
                "llm_api_key": "local",
                "llm_model": MODEL,
                "llm_max_retries": 0,  # a transport failure is the test's answer, not a retry
                "llm_reply_retries": 1,
                "llm_max_tokens": 384,
                **overrides,
            }
        )
        m = Memory(cfg, embedder=embedder, offline=spacy_extractor)
        opened.append(m)
        return m

    yield make
    for m in opened:
        m.close()


def snapshot(m: Memory, user: str) -> list[Any]:
    """Everything stored for ``user``: memories (ended ones too), entities, relations."""
    return [
        m.get_all(user_id=user, include_invalid=True)["results"],
        m.entities(user_id=user)["results"],
        m.graph(user_id=user)["relations"],
    ]


def current(m: Memory, user: str) -> dict[str, str]:
    """The user's memories that hold now: id → text."""
    return {r["id"]: r["memory"] for r in m.get_all(user_id=user)["results"]}


def nothing_stored(m: Memory, user: str) -> None:
    assert snapshot(m, user) == [[], [], []]


def assert_stored_as_reported(m: Memory, user: str, before: dict[str, str], out: Any) -> None:
    """What an ``add``/``add_many`` reported is exactly what its store holds now: its new
    memories and rewrites are there with their texts (and their history), what it ended is
    gone from the current ones, every other memory is untouched."""
    assert out["results"], "a valid extraction has at least one fact"
    now = current(m, user)
    ended: set[str] = set()
    for r in out["results"]:
        assert r["event"] in EVENTS and isinstance(r["memory"], str) and r["memory"].strip()
        if r["event"] == "ADD":
            assert r["id"] not in before and now[r["id"]] == r["memory"]
            assert m.history(r["id"])[0]["event"] == "ADD"
        else:
            assert r["id"] in before, f"{r['event']} of a memory that was not stored: {r}"
        if r["event"] == "UPDATE":
            assert now[r["id"]] == r["memory"]
            assert m.history(r["id"])[-1]["event"] == "UPDATE"
        if r["event"] == "DELETE":
            ended.add(r["id"])
    added = {r["id"] for r in out["results"] if r["event"] == "ADD"}
    assert set(now) == (set(before) - ended) | added
    untouched = set(before) - ended - {r["id"] for r in out["results"]}
    assert all(now[i] == before[i] for i in untouched)
    known = {e["name"] for e in m.entities(user_id=user)["results"]}
    for rel in out["relations"]["added"]:
        assert {rel["source"], rel["target"]} <= known


def assert_used_llm(out: dict[str, Any], calls: int) -> None:
    """The result reports at least ``calls`` answered calls, with the server's token counts."""
    used = out["usage"]
    assert used["llm_calls"] >= calls
    assert used["prompt_tokens"] > 0 and used["completion_tokens"] > 0


# -- the protocol ------------------------------------------------------------------------
def test_the_mode_negotiated_is_the_one_the_server_accepts(
    make_memory: MakeMemory, caplog: pytest.LogCaptureFixture
) -> None:
    """llama-cpp-python's server refuses ``json_schema`` (HTTP 500) and takes ``json_object``
    with the schema: the first call steps down to it once, every later call of the client
    (extraction, reconciliation, ``ask``) starts there."""
    m = make_memory()
    llm = m.parts.llm
    assert llm is not None and llm.mode == "json_schema"
    with caplog.at_level(logging.WARNING, logger="graphmem"):
        out = m.add("My name is Ana and I live in Lisbon.", user_id="ana")
        assert llm.mode == "json_object"
        assert_stored_as_reported(m, "ana", {}, out)
        assert_used_llm(out, 1)
        m.ask("Where does Ana live?", user_id="ana")
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and "json_schema" in refusals[0], refusals
    assert llm.mode == "json_object"


def test_a_mode_the_server_refuses_fails_clearly(make_memory: MakeMemory) -> None:
    m = make_memory(llm_structured_output="json_schema")
    with pytest.raises(ExtractionError, match="json_schema"):
        m.add("My name is Ana and I live in Lisbon.", user_id="ana")
    nothing_stored(m, "ana")


# -- the write path ----------------------------------------------------------------------
def test_a_second_add_is_reconciled_with_the_first(make_memory: MakeMemory) -> None:
    """With a memory in the scope, the extraction is followed by one reconciliation call;
    whatever it decides, the store ends as the result says. A decision naming a memory it
    was not given (this model's usual slip) fails the call and leaves the store as it was."""
    m = make_memory()
    first = m.add("I live in Lisbon and I work at Acme.", user_id="u")
    assert_stored_as_reported(m, "u", {}, first)
    before, calls = current(m, "u"), m.usage()["llm_calls"]
    everything = snapshot(m, "u")
    try:
        second = m.add("I moved to Porto last month, so I no longer live in Lisbon.", user_id="u")
    except ExtractionError as e:
        assert "Decisions" in str(e)  # the extraction passed; the reconciliation did not
        assert snapshot(m, "u") == everything  # nothing half-written
    else:
        assert_used_llm(second, 2)
        assert_stored_as_reported(m, "u", before, second)
    assert m.usage()["llm_calls"] >= calls + 2  # extraction, then reconciliation


def test_add_many_stores_every_item_as_reported(make_memory: MakeMemory) -> None:
    m = make_memory(llm_concurrency=2)
    items = [
        "My sister Maria is a nurse in Madrid.",
        "I adopted a cat called Miso in 2023.",
        "On weekends I play chess with my neighbour Tom.",
    ]
    out = m.add_many(items, user_id="u")
    assert_used_llm(out, len(items))
    assert_stored_as_reported(m, "u", {}, out)


# -- the read path -----------------------------------------------------------------------
def test_ask_cites_only_retrieved_memories(make_memory: MakeMemory) -> None:
    """Each answer cites retrieved memories only; a reply citing anything else (this model
    cites names at times) is refused after its repair request, never passed on."""
    m = make_memory()
    m.add_many(  # stored as given (no LLM): the questions are what is tested
        ["Ana lives in Lisbon.", "Ana works at Acme as a nurse.", "Ana has a cat called Miso."],
        user_id="u",
        infer=False,
    )
    answered = 0
    for question in [
        "Where does Ana live?",
        "What is the name of Ana's cat?",
        "Where does Ana work?",
    ]:
        calls = m.usage()["llm_calls"]
        try:
            out = m.ask(question, user_id="u")
        except ExtractionError as e:
            assert "citations name unknown memory ids" in str(e)
            assert m.usage()["llm_calls"] == calls + 2  # the reply and its repair
            continue
        answered += 1
        assert isinstance(out["answer"], str) and out["answer"].strip()
        retrieved = {r["id"] for r in out["results"]}
        assert retrieved and set(out["citations"]) <= retrieved
        assert_used_llm(out, 1)
        assert m.usage()["llm_calls"] == calls + out["usage"]["llm_calls"]
    assert answered  # the protocol works: at least one answer came through


# -- your own ontology --------------------------------------------------------------------
ONTOLOGY = {
    "entities": {
        "Person": "a human being",
        "Place": {"description": "a city, country or region", "aliases": ["Location", "City"]},
    },
    "relations": {
        "LIVES_IN": {
            "description": "where a person lives",
            "source": ["Person"],
            "target": ["Place"],
        },
        "KNOWS": {
            "description": "two people know each other",
            "source": ["Person"],
            "target": ["Person"],
        },
    },
    "other_relations": "keep_generic",
}
ENTITY_TYPES = ["Person", "Place", "Thing"]
RELATION_TYPES = ["LIVES_IN", "KNOWS", "RELATED_TO"]


def spy_requests(monkeypatch: pytest.MonkeyPatch, m: Memory) -> list[tuple[dict[str, Any], Any]]:
    """Every chat request ``m``'s LLM client sends, with the reply (None: refused)."""
    llm: Any = m.parts.llm
    completions = llm._client.chat.completions
    create = completions.create
    seen: list[tuple[dict[str, Any], Any]] = []

    def spy(**kwargs: Any) -> Any:
        seen.append((kwargs, None))
        reply = create(**kwargs)
        seen[-1] = (kwargs, reply)
        return reply

    monkeypatch.setattr(completions, "create", spy)
    return seen


def test_an_ontology_is_sent_as_enums_and_held_to(
    make_memory: MakeMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an ontology, the extraction schema lists its types as enums; the server compiles
    that schema into a grammar and answers in ``json_object`` mode (the replies keep to the
    enums), and every entity and relation stored is of the ontology's types (RELATED_TO for
    the others: ``keep_generic``). Each sentence in a scope of its own: extraction only."""
    m = make_memory(ontology=ONTOLOGY)
    sent = spy_requests(monkeypatch, m)
    texts = [
        "I live in Lisbon and I know Maria.",
        "My friend Tom lives in Porto, Portugal.",
        "Anna knows Bruno, who lives in Rome.",
    ]
    for n, text in enumerate(texts):
        user = f"u{n}"
        try:
            m.add(text, user_id=user)
        except ExtractionError as e:
            assert "Extraction" in str(e)  # a reply its schema refused: nothing written
            nothing_stored(m, user)
            continue
        for rel in m.graph(user_id=user)["relations"]:
            assert rel["relationship"] in RELATION_TYPES, rel
        for entity in m.entities(user_id=user)["results"]:
            assert entity["type"] in ENTITY_TYPES, entity
    assert m.parts.llm is not None and m.parts.llm.mode == "json_object"
    answered = [(body, reply) for body, reply in sent if reply is not None]
    assert len(answered) >= len(texts)
    for body, reply in answered:
        fmt = body["response_format"]
        assert fmt["type"] == "json_object"
        defs = fmt["schema"]["$defs"]
        assert defs["ExtractedEntity"]["properties"]["type"]["enum"] == ENTITY_TYPES
        assert defs["ExtractedRelation"]["properties"]["relation"]["enum"] == RELATION_TYPES
        assert "LIVES_IN (Person -> Place)" in body["messages"][0]["content"]
        raw = pull_json(reply.choices[0].message.content or "")
        if raw is None:
            continue  # cut off at max_tokens: the grammar's output is unfinished
        data = json.loads(raw)
        for entity in data.get("entities") or []:
            assert entity.get("type", "Thing") in ENTITY_TYPES, entity
        for fact in data.get("facts") or []:
            for rel in fact.get("relations") or []:
                assert rel["relation"] in RELATION_TYPES, rel


# -- failures ----------------------------------------------------------------------------
def test_a_server_that_is_down_fails_clearly_and_writes_nothing(make_memory: MakeMemory) -> None:
    m = make_memory(llm_base_url=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(ExtractionError, match="running"):
        m.add("My name is Ana and I live in Lisbon.", user_id="u")
    with pytest.raises(ExtractionError, match="running"):
        m.add_many(["I live in Lisbon.", "I work at Acme."], user_id="u")
    nothing_stored(m, "u")
    m.add("Ana lives in Lisbon.", user_id="u", infer=False)
    with pytest.raises(ExtractionError, match="running"):
        m.ask("Where does Ana live?", user_id="u")


def test_a_server_too_slow_fails_clearly_and_writes_nothing(make_memory: MakeMemory) -> None:
    """Connected, but no reply within ``llm_timeout`` (one JSON reply of this model takes
    seconds: far more than 0.2 s). Last in this file: the server still finishes the reply."""
    m = make_memory(llm_timeout=0.2, llm_structured_output="json_object")
    with pytest.raises(ExtractionError, match="llm_timeout"):
        m.add("My name is Ana and I live in Lisbon.", user_id="u")
    nothing_stored(m, "u")
