"""The retriever on a tiny multi-hop passage corpus: presets, two levels, explanations."""

from __future__ import annotations

from typing import Any

import pytest

from graphmem import PRESETS, Memory, SearchConfig

CORPUS = {
    "Journal of Quiet Rivers": (
        "The Journal of Quiet Rivers is a quarterly published by the Halvard Society."
    ),
    "Halvard Society": "The Halvard Society was founded in 1901 by the engineer Mirela Osk.",
    "Journal of Loud Mountains": (
        "The Journal of Loud Mountains is published by Wiley and edited in Oslo."
    ),
    "Mirela Dunn": "Mirela Dunn was a painter who founded a small gallery in Lyon.",
    "Quiet River": "Quiet River is a stream in Norway famous for trout fishing.",
    "Osk Bridge": "The Osk Bridge crosses the river Osk near Bergen.",
}
QUESTION = "Who founded the society that publishes the Journal of Quiet Rivers?"


@pytest.fixture()
def corpus(memory: Memory) -> Memory:
    items = [{"messages": text, "title": title} for title, text in CORPUS.items()]
    memory.add_many(items, user_id="wiki")
    return memory


def titles(res: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(s["title"] for s in res["sources"]))


def test_presets_rank_passages(corpus: Memory) -> None:
    for preset in PRESETS:
        res = corpus.search(QUESTION, user_id="wiki", limit=5, config=preset)
        assert titles(res)[0] == "Journal of Quiet Rivers", preset
        for s in res["sources"]:
            assert set(s) >= {"id", "title", "content", "score", "score_parts", "metadata"}


def test_hybrid_reaches_the_bridge_passage(corpus: Memory) -> None:
    hybrid = corpus.search(QUESTION, user_id="wiki", limit=5)
    dense = corpus.search(QUESTION, user_id="wiki", limit=5, config="dense")
    bridge = "Halvard Society"
    assert titles(hybrid).index(bridge) < titles(dense).index(bridge)
    assert bridge in titles(hybrid)[:3]
    top = {r["memory"]: r for r in hybrid["results"]}
    founded = top["The Halvard Society was founded in 1901 by the engineer Mirela Osk."]
    assert founded["score_parts"]["graph"] > 0
    assert founded["sources"][0]["title"] == "Halvard Society"


def test_bm25_preset_is_lexical(corpus: Memory) -> None:
    res = corpus.search("trout", user_id="wiki", limit=3, config="bm25")
    assert titles(res)[:1] == ["Quiet River"]
    assert res["results"][0]["score_parts"]["dense"] == 0.0


def test_custom_config_and_threshold(corpus: Memory) -> None:
    cfg = SearchConfig(name="mine", bm25_weight=0.0, graph_weight=1.0, hops=2)
    res = corpus.search(QUESTION, user_id="wiki", limit=3, config=cfg)
    assert res["results"]
    none = corpus.search(QUESTION, user_id="wiki", limit=3, threshold=10.0)
    assert none["results"] == [] and none["sources"] == []


def test_sources_respect_scope(corpus: Memory) -> None:
    res = corpus.search(QUESTION, user_id="someone-else", limit=3)
    assert res == {"results": [], "relations": [], "sources": []}


def test_bm25_index_sees_new_writes(corpus: Memory) -> None:
    assert corpus.search("zeppelin", user_id="wiki", config="bm25")["results"] == []
    corpus.add("The Zeppelin Museum is in Friedrichshafen.", user_id="wiki")
    res = corpus.search("zeppelin", user_id="wiki", config="bm25")
    assert res["results"][0]["memory"] == "The Zeppelin Museum is in Friedrichshafen."


def test_query_phrases_link_by_name_embedding(corpus: Memory) -> None:
    """A phrase that names an entity only loosely ("the Halvard society's journal" names no
    entity exactly, nor does "Halvard Soc") links by name embedding when asked to."""
    from graphmem.models import Scope
    from graphmem.retrieve.link import link, link_similar, phrases

    assert phrases("Who founded the Halvard Soc?", set()) == ["Halvard Soc"]
    assert phrases("Where does Alice Smith work?", {"alice", "smith"}) == []
    p, scope, query = corpus.parts, Scope("wiki"), "Who founded the Halvard Soc?"
    exact = link(p.graph, scope, query)
    similar = link_similar(exact, query, scope, p.graph, p.entity_vectors, p.embedder, 0.5)
    names = {e.id: e.name for e in p.graph.entities(scope)}
    assert "Halvard Society" not in {names[i] for i in exact.seeds}
    assert "Halvard Society" in {names[i] for i in similar.seeds}
    res = corpus.search(query, user_id="wiki", config=SearchConfig(similar_names=0.5))
    assert titles(res)[0] == "Halvard Society"


HOPS = {
    "Battle of Mine Creek": "The Battle of Mine Creek was fought in Kansas in October 1864, "
    "late in the American Civil War.",
    "2018 Kansas gubernatorial election": "Laura Kelly won the Democratic primary and then "
    "the 2018 Kansas gubernatorial election.",
    "2018 Ohio gubernatorial election": "Richard Cordray was the Democratic nominee in the "
    "2018 Ohio gubernatorial election.",
    "Battle of Westport": "The Battle of Westport was fought in Missouri in 1864.",
    "Governor": "A governor is the elected head of the executive branch of a state.",
}


def test_a_bridge_entity_steers_a_second_hop_query(memory: Memory) -> None:
    """The passage that answers the second hop names the bridge ("Kansas"), not the battle
    the question names: the question read with the bridge finds it (``hop`` part)."""
    memory.add_many([{"messages": t, "title": k} for k, t in HOPS.items()], user_id="wiki")
    q = "Who was the Democratic candidate for governor in the state of the Battle of Mine Creek?"
    res = memory.search(q, user_id="wiki", limit=5)
    parts = {s["title"]: s["score_parts"] for s in res["sources"]}
    kansas, ohio = "2018 Kansas gubernatorial election", "2018 Ohio gubernatorial election"
    assert titles(res)[:2] == ["Battle of Mine Creek", kansas]
    assert parts[kansas]["hop"] > 0.05 and parts[ohio].get("hop", 0.0) < parts[kansas]["hop"]
    lifted = next(s for s in res["sources"] if s["title"] == kansas)
    # explained by the walk's path to the query's bridge: the battle -[FIGHT_IN]-> Kansas …
    assert any(p.startswith("Battle of Mine Creek") and "Kansas" in p for p in lifted["paths"])
    off = memory.search(q, user_id="wiki", limit=5, config=SearchConfig(hop_queries=0))
    assert all("hop" not in s["score_parts"] for s in off["sources"])
