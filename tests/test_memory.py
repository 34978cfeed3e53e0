"""Integration tests of the embedded default: real Chroma, MiniLM, spaCy and SQLite."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from graphmem import (
    BackendError,
    Config,
    InvalidInputError,
    Memory,
    NotFoundError,
    SearchConfig,
)
from graphmem.stores.networkx_store import NetworkXGraphStore


def memories(out: dict[str, Any]) -> list[str]:
    return [r["memory"] for r in out["results"]]


def test_add_search_shape(memory: Memory) -> None:
    out = memory.add(
        "My manager Bob works at Acme Robotics.", user_id="alice", metadata={"topic": "work"}
    )
    assert [r["event"] for r in out["results"]] == ["ADD"]
    assert {"source": "alice", "relationship": "HAS_MANAGER", "target": "Bob"} in out["relations"][
        "added"
    ]
    res = memory.search("Who is my manager?", user_id="alice")
    top = res["results"][0]
    assert top["memory"] == "My manager Bob works at Acme Robotics."
    for key in (
        "id",
        "memory",
        "score",
        "metadata",
        "created_at",
        "updated_at",
        "user_id",
        "sources",
        "score_parts",
        "paths",
    ):
        assert key in top
    assert top["metadata"] == {"topic": "work"}
    assert top["sources"][0]["content"] == "My manager Bob works at Acme Robotics."
    assert any(r["relationship"] == "HAS_MANAGER" for r in res["relations"])


def test_users_never_see_each_other(memory: Memory) -> None:
    memory.add("I live in Paris and I love cheese.", user_id="alice")
    memory.add("I live in Oslo and I love skiing.", user_id="bob")
    for query in ("Where do I live?", "Paris cheese", "Oslo skiing"):
        assert all("Oslo" not in m for m in memories(memory.search(query, user_id="alice")))
        assert all("Paris" not in m for m in memories(memory.search(query, user_id="bob")))
    assert memories(memory.get_all(user_id="alice")) == ["I live in Paris and I love cheese."]
    assert memory.search("Paris", user_id="carol")["results"] == []


def test_agent_and_run_scopes(memory: Memory) -> None:
    memory.add("Alice prefers window seats.", user_id="u", agent_id="travel", run_id="r1")
    memory.add("Alice prefers aisle seats.", user_id="u", agent_id="support")
    assert len(memory.get_all(user_id="u")["results"]) == 2
    assert memories(memory.get_all(agent_id="travel")) == ["Alice prefers window seats."]
    assert memories(memory.get_all(user_id="u", run_id="r1")) == ["Alice prefers window seats."]


def test_contradiction_invalidates_and_history_keeps_both(memory: Memory) -> None:
    first = memory.add("I live in Hamburg.", user_id="alice", timestamp="2024-01-01")
    old_id = first["results"][0]["id"]
    second = memory.add("I moved to Berlin.", user_id="alice", timestamp="2024-06-01")
    events = {r["event"]: r for r in second["results"]}
    assert events["ADD"]["memory"] == "I moved to Berlin."
    assert events["DELETE"]["id"] == old_id
    assert events["DELETE"]["superseded_by"] == events["ADD"]["id"]
    assert second["relations"]["invalidated"] == [
        {"source": "alice", "relationship": "LIVES_IN", "target": "Hamburg"}
    ]
    assert memories(memory.search("Where do I live?", user_id="alice")) == ["I moved to Berlin."]
    old = memory.get(old_id)  # it held until the message that contradicts it was said
    assert old["invalid_at"].startswith("2024-06-01") and old["valid_from"].startswith("2024-01-01")
    history = memory.history(old_id)
    assert [(h["event"], h["superseded_by"]) for h in history] == [
        ("ADD", None),
        ("DELETE", events["ADD"]["id"]),
    ]
    assert memories(memory.get_all(user_id="alice", include_invalid=True)) == [
        "I live in Hamburg.",
        "I moved to Berlin.",
    ]


def test_a_contradiction_within_one_add_supersedes_the_earlier_message(memory: Memory) -> None:
    """One ``add`` (or one batch) is read as if its messages came one by one: the later of
    two contradicting statements is current, the earlier kept as history."""
    memory.add("I live in Hamburg.", user_id="alice")
    out = memory.add("I live in Paris. I moved to Rome last week.", user_id="alice")
    paris, rome = (r for r in out["results"] if r["event"] == "ADD")
    assert paris["superseded_by"] == rome["id"] and "superseded_by" not in rome
    assert [r["memory"] for r in out["results"] if r["event"] == "DELETE"] == ["I live in Hamburg."]
    assert sorted(r["target"] for r in out["relations"]["invalidated"]) == ["Hamburg", "Paris"]
    assert memories(memory.get_all(user_id="alice")) == ["I moved to Rome last week."]
    assert memories(memory.search("Where do I live?", user_id="alice"))[:1] == [rome["memory"]]
    assert [h["event"] for h in memory.history(paris["id"])] == ["ADD", "DELETE"]
    # in a batch, the order the messages were said decides, not the order they are listed in
    late_first = [
        {"messages": "I moved to Oslo.", "timestamp": "2024-06-01"},
        {"messages": "I live in Lisbon.", "timestamp": "2024-01-01"},
    ]
    oslo, lisbon = memory.add_many(late_first, user_id="bo")["results"]
    assert lisbon["superseded_by"] == oslo["id"]
    assert memory.get(lisbon["id"])["invalid_at"].startswith("2024-06-01")
    assert memories(memory.get_all(user_id="bo")) == ["I moved to Oslo."]
    assert memories(memory.search("Where do I live?", user_id="bo", as_of="2024-03-01")) == [
        "I live in Lisbon."
    ]
    # older news than the current memory: each superseded by the first to end it
    early = [
        {"messages": "I live in Porto.", "timestamp": "2023-01-01"},
        {"messages": "I moved to Faro.", "timestamp": "2023-05-01"},
    ]
    porto, faro = memory.add_many(early, user_id="bo")["results"]
    assert memory.get(porto["id"])["invalid_at"].startswith("2023-05-01")
    # (Faro held, as far as the store knows, until the current memory began)
    assert memory.get(faro["id"])["invalid_at"].startswith("2024-06-01")
    assert memories(memory.get_all(user_id="bo")) == ["I moved to Oslo."]


def test_preference_flip(memory: Memory) -> None:
    memory.add("I love sushi.", user_id="alice")
    out = memory.add("I don't like sushi anymore.", user_id="alice")
    assert sorted(r["event"] for r in out["results"]) == ["ADD", "DELETE"]


def test_duplicate_is_none_and_update_refines(memory: Memory) -> None:
    a = memory.add("I love Thai food.", user_id="alice")["results"][0]
    dup = memory.add("I love Thai food!", user_id="alice")["results"][0]
    assert dup == {"id": a["id"], "memory": "I love Thai food!", "event": "NONE"}
    # the repeat adds no memory, but its message is now a source of the one it repeats
    assert len(memory.get(a["id"])["sources"]) == 2
    twice = memory.add_many(
        ["Ramen is my favourite dish.", "Ramen is my favourite dish!"], user_id="bo"
    )
    assert [r["event"] for r in twice["results"]] == ["ADD", "NONE"]
    assert len(memory.get(twice["results"][0]["id"])["sources"]) == 2
    again = ["I love Thai food.", "I love Thai food!!", "i love Thai food"]
    out = memory.add_many(again, user_id="alice")  # three repeats of one memory in one batch
    assert {r["id"] for r in out["results"] if r["event"] == "NONE"} == {a["id"]}
    assert len(memory.get(a["id"])["sources"]) >= 4
    upd = memory.update(a["id"], "I love spicy Thai food from Bangkok.")
    assert upd["previous_memory"] == "I love Thai food."
    assert memory.get(a["id"])["memory"] == "I love spicy Thai food from Bangkok."
    assert [h["event"] for h in memory.history(a["id"])] == ["ADD", "UPDATE"]


def test_delete_is_final_and_exact(memory: Memory, config: Config) -> None:
    out = memory.add("Bob works at Acme. Acme is based in Berlin.", user_id="alice")
    bob_id, acme_id = (r["id"] for r in out["results"])
    memory.delete(bob_id)
    for q in ("Where does Bob work?", "Acme"):
        assert bob_id not in {r["id"] for r in memory.search(q, user_id="alice")["results"]}
    assert memories(memory.get_all(user_id="alice")) == ["Acme is based in Berlin."]
    with pytest.raises(NotFoundError):
        memory.get(bob_id)
    graph = memory.parts.graph
    from graphmem.models import Scope

    facts = {r.fact_id for r in graph.relations(Scope(user_id="alice"))}
    assert bob_id not in facts and acme_id in facts
    assert memory.history(bob_id)[-1]["event"] == "DELETE"


def test_delete_all_only_that_scope(memory: Memory) -> None:
    memory.add("I live in Paris.", user_id="alice")
    memory.add("I live in Oslo.", user_id="bob")
    assert memory.delete_all(user_id="alice")["deleted"] == 1
    assert memory.get_all(user_id="alice")["results"] == []
    assert memories(memory.get_all(user_id="bob")) == ["I live in Oslo."]
    memory.reset()
    assert memory.get_all(user_id="bob")["results"] == []


def test_restart_keeps_everything(config: Config, embedder: Any, spacy_extractor: Any) -> None:
    with Memory(config, embedder=embedder, offline=spacy_extractor) as m:
        ids = [
            r["id"]
            for r in m.add("Carol knows Dave. Dave works at Globex.", user_id="alice")["results"]
        ]
    with Memory(config, embedder=embedder, offline=spacy_extractor) as m:
        assert sorted(r["id"] for r in m.get_all(user_id="alice")["results"]) == sorted(ids)
        res = m.search("Who does Carol know?", user_id="alice")
        assert res["results"][0]["memory"] == "Carol knows Dave."
        assert m.history(ids[0])[0]["event"] == "ADD"


def test_infer_false_stores_verbatim_and_links(memory: Memory) -> None:
    out = memory.add(
        "Meeting notes: Dave from Globex asked about pricing?", user_id="alice", infer=False
    )
    assert memories(out) == ["Meeting notes: Dave from Globex asked about pricing?"]
    from graphmem.models import Scope

    names = {e.name for e in memory.parts.graph.entities(Scope(user_id="alice"))}
    assert {"Dave", "Globex"} <= names


def test_two_hop_question_beats_dense(memory: Memory) -> None:
    memory.add("My manager Bob works at Acme Robotics.", user_id="alice")
    memory.add("Acme Robotics is based in Lisbon.", user_id="alice")
    for filler in (
        "I enjoy hiking in the Alps.",
        "My favorite city for food is Naples.",
        "I bought a new bike in the city.",
        "The city marathon is in April.",
    ):
        memory.add(filler, user_id="alice")
    q = "Where is the company my manager works for based?"
    hybrid = memories(memory.search(q, user_id="alice", limit=3))
    assert "Acme Robotics is based in Lisbon." in hybrid[:2]
    res = memory.search(q, user_id="alice", limit=3)["results"]
    lisbon = next(r for r in res if "Lisbon" in r["memory"])
    assert lisbon["score_parts"]["graph"] > 0 and lisbon["paths"]


def test_metadata_filters(memory: Memory) -> None:
    for i, (topic, prio) in enumerate([("work", 1), ("work", 5), ("home", 3)]):
        memory.add(
            f"Note {i}: Dave met Carol at Globex.",
            user_id="u",
            metadata={"topic": topic, "prio": prio},
            infer=False,
        )

    def n(f: dict[str, Any]) -> int:
        return len(memory.get_all(user_id="u", filters=f)["results"])

    assert n({"topic": "work"}) == 2
    assert n({"topic": {"ne": "work"}}) == 1
    assert n({"topic": {"in": ["home", "x"]}}) == 1
    assert n({"prio": {"gt": 1}}) == 2 and n({"prio": {"gte": 1}}) == 3
    assert n({"prio": {"lt": 5}}) == 2 and n({"prio": {"lte": 5}}) == 3
    assert n({"AND": [{"topic": "work"}, {"prio": {"gt": 2}}]}) == 1
    assert n({"OR": [{"topic": "home"}, {"prio": 1}]}) == 2
    res = memory.search("Dave and Carol", user_id="u", filters={"topic": "home"})
    assert [r["metadata"]["topic"] for r in res["results"]] == ["home"]
    for bad in ({"prio": {"like": 3}}, {"$where": "1"}, {"$not": {"topic": "work"}}):
        with pytest.raises(InvalidInputError, match="operator"):
            n(bad)


BAD_MESSAGES = [
    "",
    "   ",
    None,
    42,
    ["x"],
    [{"role": "user"}],
    [{"content": 3}],
    [{"role": "robot", "content": "I live in Rome."}],
    [{"role": "system", "content": "You are a helpful assistant."}],
]


@pytest.mark.parametrize("bad", BAD_MESSAGES)
def test_bad_messages(memory: Memory, bad: Any) -> None:
    with pytest.raises(InvalidInputError):
        memory.add(bad, user_id="alice")


def test_only_the_users_turns_state_facts(memory: Memory) -> None:
    """A system prompt is not memory (not even a source); assistant and tool turns are kept
    as sources but state no facts offline."""
    chat = [
        {"role": "system", "content": "You are a helpful assistant. Always answer in French."},
        {"role": "user", "content": "I live in Paris."},
        {"role": "assistant", "content": "Great, you live in Paris and love cheese."},
        {"role": "tool", "content": "Weather: Paris is sunny and 20 degrees."},
    ]
    out = memory.add(chat, user_id="alice")
    assert memories(out) == ["I live in Paris."]
    roles = {s["role"] for s in memory.search("Answer in French", user_id="alice")["sources"]}
    assert roles == {"user", "assistant", "tool"}


def test_bad_input_errors(memory: Memory) -> None:
    with pytest.raises(InvalidInputError, match="user_id"):
        memory.add("I live in Paris.")
    with pytest.raises(InvalidInputError, match="limit"):
        memory.add("x" * 60_000, user_id="alice")
    with pytest.raises(InvalidInputError):
        memory.search("", user_id="alice")
    with pytest.raises(InvalidInputError):
        memory.search("hi", user_id="alice", limit=0)
    with pytest.raises(InvalidInputError):
        memory.search("hi", user_id="alice", config="nope")
    with pytest.raises(InvalidInputError):
        memory.get_all()
    with pytest.raises(InvalidInputError):
        memory.add("I live in Paris.", user_id="alice", metadata="x")  # type: ignore[arg-type]
    for call in (memory.get, memory.delete, memory.history):
        with pytest.raises(NotFoundError, match="no "):
            call("00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFoundError):
        memory.update("nope", "text")
    with pytest.raises(InvalidInputError):
        memory.get(123)  # type: ignore[arg-type]
    assert isinstance(InvalidInputError("x"), ValueError)


class FlakyGraph(NetworkXGraphStore):
    fail = True

    def write(self, *args: Any, **kwargs: Any) -> None:
        if FlakyGraph.fail:
            raise BackendError("injected graph failure")
        super().write(*args, **kwargs)


def test_failure_between_stores_heals_on_restart(
    config: Config, embedder: Any, spacy_extractor: Any
) -> None:
    FlakyGraph.fail = True
    graph = FlakyGraph(config.data_dir / "graph.sqlite")
    m = Memory(config, embedder=embedder, offline=spacy_extractor, graph=graph)
    with pytest.raises(BackendError, match="journaled"):
        m.add("Carol knows Dave. Dave works at Globex.", user_id="alice")
    m.close()
    FlakyGraph.fail = False
    with Memory(config, embedder=embedder, offline=spacy_extractor) as healed:
        facts = healed.get_all(user_id="alice")["results"]
        assert len(facts) == 2
        from graphmem.models import Scope

        rel_facts = {r.fact_id for r in healed.parts.graph.relations(Scope(user_id="alice"))}
        assert rel_facts == {f["id"] for f in facts}
        assert healed.parts.history.pending() == []
        again = healed.add("Carol knows Dave. Dave works at Globex.", user_id="alice")
        assert {r["event"] for r in again["results"]} == {"NONE"}


def test_failure_in_vector_store_writes_nothing_visible(
    config: Config, embedder: Any, spacy_extractor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Memory(config, embedder=embedder, offline=spacy_extractor) as m:
        m.add("I live in Paris.", user_id="alice")

        def boom(*a: Any, **k: Any) -> None:
            raise BackendError("injected chroma failure")

        monkeypatch.setattr(m.parts.vectors, "upsert", boom)
        with pytest.raises(BackendError):
            m.add("Carol knows Dave.", user_id="alice")
        monkeypatch.undo()
        # the next call replays the journal in this same process
        assert sorted(memories(m.get_all(user_id="alice"))) == [
            "Carol knows Dave.",
            "I live in Paris.",
        ]


def test_data_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHMEM_DATA_DIR", str(tmp_path / "envdir"))
    monkeypatch.setenv("GRAPHMEM_GRAPH_STORE", "networkx")
    assert Config.load().data_dir == tmp_path / "envdir"
    assert Memory.from_config({"data_dir": str(tmp_path)}).config.data_dir == tmp_path
    from graphmem import ConfigError

    with pytest.raises(ConfigError):
        Memory.from_config({"graph_store": "oracle"})
    with pytest.raises(ConfigError):
        Memory.from_config({"no_such_key": 1})


def test_entity_resolution_by_name_embedding(memory: Memory) -> None:
    from graphmem.models import Scope

    memory.add("Dave works at Globex Corporation.", user_id="alice")
    memory.add("Carol visited Globex Corp in Zurich.", user_id="alice")
    memory.add("Globex Corporation makes robots.", user_id="bob")
    alice = [e for e in memory.parts.graph.entities(Scope(user_id="alice")) if "Globex" in e.name]
    assert len(alice) == 1 and "Globex Corp" in alice[0].names
    bob = [e for e in memory.parts.graph.entities(Scope(user_id="bob")) if "Globex" in e.name]
    assert len(bob) == 1 and bob[0].id != alice[0].id  # never merged across scopes


def test_two_refinements_of_one_memory_in_one_batch(memory: Memory) -> None:
    first = memory.add("I love Thai food.", user_id="alice")["results"][0]
    out = memory.add_many(
        ["I love Thai food from Bangkok.", "I love Thai food with lots of chili."], user_id="alice"
    )
    events = [r["event"] for r in out["results"]]
    assert events == ["UPDATE", "ADD"] and out["results"][0]["id"] == first["id"]
    assert len(memory.get_all(user_id="alice")["results"]) == 2


def test_queries_and_passages_get_the_model_prefixes(embedder: Any) -> None:
    from graphmem import ConfigError
    from graphmem.embed import OnnxEmbedder

    q, p = (
        embedder.embed(["Where does Bob work?"], query=True)[0],
        embedder.embed(["Where does Bob work?"])[0],
    )
    assert (q != p).any() == bool(embedder.spec.query_prefix or embedder.spec.passage_prefix)
    assert abs(float(q @ q) - 1.0) < 1e-5
    with pytest.raises(ConfigError, match="unknown embedding model"):
        OnnxEmbedder(Path("."), name="no-such-model")


def test_the_embedding_cache_embeds_a_text_once_and_returns_the_models_vectors(
    embedder: Any,
) -> None:
    import numpy as np

    from graphmem.embed import CachedEmbedder

    asked: list[str] = []

    class Counting:
        dim, family, floor = embedder.dim, embedder.family, embedder.floor

        def embed(self, texts: Any, *, query: bool = False) -> Any:
            asked.extend(texts)
            return embedder.embed(texts, query=query)

    cached = CachedEmbedder(Counting(), size=3)
    names = ["Lyon", "Globex", "Lyon"]
    got = cached.embed(names, query=True)
    assert asked == ["Lyon", "Globex"]  # a text repeated in one call is embedded once
    assert np.allclose(got, embedder.embed(names, query=True), atol=1e-6)
    cached.embed(["Globex", "Lyon"], query=True)
    assert asked == ["Lyon", "Globex"]  # both known: the model is not asked
    cached.embed(["Lyon"])  # a passage is another text than a query
    assert asked[-1:] == ["Lyon"] and len(asked) == 3
    cached.embed(["Ana", "Bo"], query=True)  # 4 texts known, 3 kept: the oldest goes
    cached.embed(["Globex"], query=True)
    assert asked[-1] == "Globex" and len(asked) == 6
    assert cached.embed([]).shape == (0, embedder.dim)
    off = CachedEmbedder(Counting(), size=0)
    off.embed(["Lyon"], query=True)
    off.embed(["Lyon"], query=True)
    assert asked[-2:] == ["Lyon", "Lyon"]


def test_a_store_embedded_by_another_model_is_refused(config: Config, embedder: Any) -> None:
    from graphmem import ConfigError

    class Other:
        dim, family, floor = embedder.dim, "some-other-model", 0.0

        def embed(self, texts: Any, *, query: bool = False) -> Any:
            return embedder.embed(texts, query=query)

    with Memory(config, embedder=embedder) as m:
        m.add("Bob works at Acme.", user_id="alice")
    with Memory(config, embedder=Other()) as m, pytest.raises(ConfigError, match="embeddings"):
        m.search("Where does Bob work?", user_id="alice")


def test_a_message_is_read_with_the_ones_before(memory: Memory, embedder: Any) -> None:
    """A message's source vector is the mean of the message alone and after each tail of its
    context (the item's ``context``, and the messages before it in a list; two at most), not
    normalised: the store ranks by inner product, so its similarity is the mean similarity.
    The context is not stored."""
    import numpy as np

    from graphmem.models import Scope

    asked = "Melanie: What did you take away from the book Becoming Nicole?"
    said = "It taught me self-acceptance and how to find support."
    memory.add_many(
        [
            {"messages": [{"role": "user", "name": "Caroline", "content": said}], "context": asked},
            {
                "messages": [
                    {"role": "user", "name": "Jon", "content": "How is the dance studio going?"},
                    {"role": "user", "name": "Gina", "content": "It opens next week."},
                    {"role": "user", "name": "Jon", "content": "Great, I'll be there."},
                ],
                "context": ["Gina: Hi Jon!", ""],
            },
        ],
        user_id="u",
    )
    scope = Scope(user_id="u")
    sources = memory.parts.source_vectors.scan(scope, limit=10)
    got = memory.parts.source_vectors.fetch([s.id for s in sources], scope, None)
    vec = {rec.text: np.asarray(v) for rec, v in got}
    assert len(vec) == 4 and said in vec

    def cos(a: Any, b: Any) -> float:
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    jon, gina, again = (
        "Jon: How is the dance studio going?",
        "Gina: It opens next week.",
        "Jon: Great, I'll be there.",
    )
    for text, reads in [
        (f"Caroline: {said}", [f"{asked}\nCaroline: {said}"]),
        (jon, [f"Gina: Hi Jon!\n{jon}"]),
        (gina, [f"{jon}\n{gina}", f"Gina: Hi Jon!\n{jon}\n{gina}"]),
        (again, [f"{gina}\n{again}", f"{jon}\n{gina}\n{again}"]),
    ]:
        expected = embedder.embed([text, *reads]).mean(axis=0)
        v = vec[text.split(": ", 1)[1]]
        # int8 activations are quantised per batch: equal up to the batch's rounding
        assert cos(v, expected) > 0.995 and np.linalg.norm(v) < 0.99
    hits = memory.search("What did Caroline learn from Becoming Nicole?", user_id="u")
    assert hits["sources"][0]["content"] == said
    with pytest.raises(InvalidInputError, match="context"):
        memory.add_many([{"messages": "Hi", "context": [1]}], user_id="u")


def test_a_speakers_name_does_not_drown_the_question(memory: Memory) -> None:
    """Every message and fact of a speaker carries their name ("Nate: …"), so a question that
    names the speakers matches their content-free lines best. Names that title more than
    ``hub_cap`` sources are cut from the BM25 query and blended out of the dense one."""
    chatter = [
        ("Nate", "Wow, Joanna!"),
        ("Joanna", "Hey Nate!"),
        ("Nate", "Yum, Joanna!"),
        ("Joanna", "Cool, Nate!"),
    ] * 11  # 22 messages each: more than hub_cap (20)
    said = [
        *chatter,
        ("Nate", "I won my video game tournament last week."),
        ("Joanna", "Turtles are so cute, I'd get two if I weren't allergic."),
    ]
    memory.add_many(
        [{"messages": [{"role": "user", "name": n, "content": t}]} for n, t in said],
        user_id="u",
    )
    question = "What animal do both Nate and Joanna like?"

    def turtles(res: dict[str, Any]) -> tuple[bool, bool]:
        facts = any("Turtles" in r["memory"] for r in res["results"])
        return facts, "Turtles" in res["sources"][0]["content"]

    assert turtles(memory.search(question, user_id="u", limit=4)) == (True, True)
    plain = SearchConfig(speaker_blend=0.0)
    assert turtles(memory.search(question, user_id="u", limit=4, config=plain)) == (False, False)


def test_a_question_about_a_period_ranks_what_was_said_then_first(memory: Memory) -> None:
    """A fact's ``valid_from`` is when it was said; a question naming a date ranks the facts
    said then first (``time`` in its parts), and finds them even beyond the dense top k."""
    said = [
        ("2023-03-04", "I went hiking with Carol."),
        ("2023-06-10", "I went hiking with Bob."),
        ("2023-09-02", "I went hiking with Dave."),
    ]
    for when, text in said:
        memory.add(text, user_id="u", timestamp=when)
    question = "Who did I go hiking with in June 2023?"
    res = memory.search(question, user_id="u", limit=3)
    top = res["results"][0]
    assert "Bob" in top["memory"] and top["score_parts"]["time"] == 1.0
    assert all(r["score_parts"]["time"] == 0.0 for r in res["results"][1:])
    narrow = memory.search(question, user_id="u", limit=1, config=SearchConfig(candidates=1))
    assert "Bob" in narrow["results"][0]["memory"]
    plain = memory.search("Who did I go hiking with?", user_id="u", limit=3)
    assert "time" not in plain["results"][0]["score_parts"]


def test_a_question_about_a_period_finds_what_held_then_though_superseded(memory: Memory) -> None:
    """A superseded memory stays out of search, unless the question names a period in which
    it held: then it is a candidate, scored ``time``, and shows when it stopped holding."""
    memory.add("I live in Hamburg.", user_id="u", timestamp="2024-01-01")
    memory.add("I moved to Berlin.", user_id="u", timestamp="2024-06-01")
    then = memory.search("Where did I live in March 2024?", user_id="u", limit=2)["results"]
    assert then[0]["memory"] == "I live in Hamburg." and then[0]["score_parts"]["time"] == 1.0
    assert then[0]["invalid_at"].startswith("2024-06-01")
    later = memory.search("Where did I live in August 2024?", user_id="u", limit=2)["results"]
    assert [r["memory"] for r in later] == ["I moved to Berlin."]  # Hamburg ended in June
    now = memory.search("Where do I live?", user_id="u", limit=2)["results"]
    assert [r["memory"] for r in now] == ["I moved to Berlin."]


def test_an_older_message_added_later_is_history_on_arrival(memory: Memory) -> None:
    """Messages may arrive out of order: an older one that contradicts a current memory does
    not replace it; it is stored superseded, valid until the current one began."""
    new = memory.add("I moved to Berlin.", user_id="u", timestamp="2024-06-01")["results"][0]
    out = memory.add("I live in Hamburg.", user_id="u", timestamp="2024-01-01")
    (old,) = out["results"]
    assert old["event"] == "ADD" and old["superseded_by"] == new["id"]
    assert out["relations"]["invalidated"] == [
        {"source": "u", "relationship": "LIVES_IN", "target": "Hamburg"}
    ]
    assert memories(memory.get_all(user_id="u")) == ["I moved to Berlin."]
    stored = memory.get(old["id"])
    assert stored["invalid_at"].startswith("2024-06-01")
    assert [h["event"] for h in memory.history(old["id"])] == ["ADD", "DELETE"]
    then = memory.search("Where did I live in March 2024?", user_id="u", limit=1)["results"]
    assert then[0]["memory"] == "I live in Hamburg."


def test_a_question_naming_a_relation_finds_the_fact_that_holds_it(memory: Memory) -> None:
    """ "Where do I live?" names the user's ``LIVES_IN``: its current fact scores ``relation``.
    The message that said "I live in Hamburg" still matches the question best, but for what no
    longer holds, so the sentence said beside it inherits nothing from it."""
    said = "Hi! I live in Hamburg and I love sushi. My manager Bob works at Acme Robotics."
    memory.add(said, user_id="u", timestamp="2024-03-01")
    memory.add("I moved to Berlin last week.", user_id="u", timestamp="2024-06-20")
    found = memory.search("Where do I live?", user_id="u", limit=3)["results"]
    assert found[0]["memory"] == "I moved to Berlin last week."
    assert found[0]["score_parts"]["relation"] == 1.0
    manager = next(r for r in found if r["memory"].startswith("My manager"))
    assert manager["score_parts"]["source"] == 0.0 and "relation" not in manager["score_parts"]
    boss = memory.search("Who is my manager?", user_id="u", limit=1)["results"][0]
    assert boss["memory"].startswith("My manager") and boss["score_parts"]["relation"] == 1.0
    plain = memory.search("Where do I live?", user_id="u", limit=3, config="fusion")["results"]
    assert all("relation" not in r["score_parts"] for r in plain)


def test_a_message_is_read_again_only_if_one_of_its_facts_is_superseded(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether a message matched the query for what no longer holds is asked of the store's
    index of superseded records first: the facts of a message are read again (with their
    vectors, superseded ones too) only when one of them is superseded."""
    said = "Hi! I live in Hamburg and I love sushi. My manager Bob works at Acme Robotics."
    memory.add(said, user_id="u", timestamp="2024-03-01")
    vectors, reads = memory.parts.vectors, []
    fetch = vectors.fetch

    def spy(ids: Any, scope: Any, where: Any = None, include_invalid: bool = False) -> Any:
        if include_invalid:
            reads.append(sorted(ids))
        return fetch(ids, scope, where, include_invalid)

    monkeypatch.setattr(vectors, "fetch", spy)
    memory.search("Where do I live?", user_id="u")
    assert reads == []
    memory.add("I moved to Berlin last week.", user_id="u", timestamp="2024-06-20")
    found = memory.search("Where do I live?", user_id="u", limit=3)["results"]
    facts = {r["id"] for r in memory.get_all(user_id="u", include_invalid=True)["results"]}
    assert len(reads) == 1 and len(reads[0]) > 1 and set(reads[0]) <= facts
    manager = next(r for r in found if r["memory"].startswith("My manager"))
    assert manager["score_parts"]["source"] == 0.0


def test_search_as_of_a_time_sees_what_held_then(memory: Memory) -> None:
    """``as_of``: a point-in-time view. Memories and relations that held then (begun by
    then, at their event time or else when written, and not superseded by then) are found,
    whether superseded since or not; later ones are not."""
    memory.add("I live in Hamburg.", user_id="u", timestamp="2024-01-01")
    memory.add("I moved to Berlin.", user_id="u", timestamp="2024-06-01")
    memory.add("I work at Acme.", user_id="u", timestamp="2024-09-01")
    memory.add("I like green tea.", user_id="u")  # no event time: begun when written

    def seen(as_of: Any, config: str = "hybrid") -> list[str]:
        found = memory.search("Where do I live?", user_id="u", as_of=as_of, config=config)
        return sorted(r["memory"] for r in found["results"])

    assert seen("2024-03-01") == ["I live in Hamburg."]
    assert seen("2024-03-01", "bm25") == ["I live in Hamburg."]  # BM25 reads the archive too
    assert seen("2024-07-01") == ["I moved to Berlin."]
    assert seen(datetime(2024, 10, 1, tzinfo=UTC)) == ["I moved to Berlin.", "I work at Acme."]
    assert "I like green tea." in seen(datetime.now(UTC) + timedelta(seconds=1))
    assert seen("2023-01-01") == []
    then = memory.search("Where do I live?", user_id="u", as_of="2024-03-01")
    (hamburg,) = then["results"]
    assert hamburg["invalid_at"].startswith("2024-06-01")  # it shows that it ended since
    lives = [r for r in then["relations"] if r["relationship"] == "LIVES_IN"]
    assert [(r["target"], r["invalid_at"][:10]) for r in lives] == [("Hamburg", "2024-06-01")]
    with pytest.raises(InvalidInputError):
        memory.search("Where do I live?", user_id="u", as_of="last spring")
    with pytest.raises(InvalidInputError):
        memory.search("Where do I live?", user_id="u", as_of=True)
    assert memories(memory.get_all(user_id="u", as_of="2024-03-01")) == ["I live in Hamburg."]
    in_october = memories(memory.get_all(user_id="u", as_of="2024-10-01"))
    assert in_october == ["I moved to Berlin.", "I work at Acme."]
    with pytest.raises(InvalidInputError):
        memory.get_all(user_id="u", as_of="")


def test_as_of_counts_only_what_held_then(memory: Memory) -> None:
    """A memory written before ``as_of`` about a later event did not hold then: it neither
    shows nor takes one of the ``limit`` places."""
    memory.add("Our summer trip to Lisbon is booked.", user_id="v", timestamp="2030-07-01")
    memory.add("I play the violin.", user_id="v")
    now = datetime.now(UTC) + timedelta(seconds=1)
    assert memories(memory.get_all(user_id="v", as_of=now, limit=1)) == ["I play the violin."]
    found = memory.search("What is booked?", user_id="v", as_of=now)["results"]
    assert [r["memory"] for r in found] == ["I play the violin."]


def test_a_question_about_the_past_finds_superseded_memories(memory: Memory) -> None:
    memory.add("I love sushi.", user_id="u", timestamp="2024-03-01")
    memory.add("I don't like sushi anymore.", user_id="u", timestamp="2024-06-20")
    before = memory.search("What food did I use to like?", user_id="u", limit=3)["results"]
    old = next(r for r in before if r["memory"] == "I love sushi.")
    assert old["invalid_at"].startswith("2024-06-20")
    now = memory.search("What food do I like?", user_id="u", limit=3)["results"]
    assert [r["memory"] for r in now] == ["I don't like sushi anymore."]


def test_paths_between_two_entities(any_memory: Memory) -> None:
    m = any_memory
    user = f"paths-{uuid.uuid4().hex[:8]}"
    first = m.add("My manager Bob works at Acme Robotics.", user_id=user)["results"][0]["id"]
    between = datetime.now(UTC)
    second = m.add("Acme Robotics is based in Lisbon.", user_id=user)["results"][0]["id"]
    out = m.paths("Bob", "lisbon", user_id=user)
    assert out["unknown"] == []
    top = out["paths"][0]
    assert top["path"] == "Bob -[WORKS_AT]-> Acme Robotics -[BASED_IN]-> Lisbon"
    assert top["memory_ids"] == [first, second]
    assert m.paths("Bob", "Lisbon", user_id=user, max_hops=1)["paths"] == []
    assert m.paths("Bob", "Lisbon", user_id=user, as_of=between)["paths"] == []
    assert m.paths("Bob", "Paris", user_id=user) == {"paths": [], "unknown": ["Paris"]}
    elsewhere = m.paths("Bob", "Lisbon", user_id=user + "-other")
    assert elsewhere == {"paths": [], "unknown": ["Bob", "Lisbon"]}
    with pytest.raises(InvalidInputError):
        m.paths("Bob", "Lisbon", user_id=user, max_hops=0)


def test_the_default_data_dir_in_another_directory_is_another_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: Any, spacy_extractor: Any
) -> None:
    """``./.graphmem`` from two working directories of one process, both open: two stores
    (chromadb keeps one client per path string, which a relative path named for both)."""
    config = Config.load({"extractor": "offline"})
    assert not config.data_dir.is_absolute()
    opened = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        m = Memory(config, embedder=embedder, offline=spacy_extractor)
        m.add(f"I adopted a cat named {name.title()}.", user_id="alice")
        opened.append(m)
    try:
        texts = [[r["memory"] for r in m.get_all(user_id="alice")["results"]] for m in opened]
    finally:
        for m in opened:
            m.close()
    assert texts == [["I adopted a cat named One."], ["I adopted a cat named Two."]]
