"""The extraction benchmark: the matching rule, the scoring on a hand-made set with known
precision and recall, the labelled set in the repository, and `graphmem bench extract`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from graphmem.bench import DatasetError
from graphmem.bench.extraction import Item, aggregate, load_labelled, score_item
from graphmem.bench.matching import name_key, relation_key, triple_key, type_key
from graphmem.cli import app
from graphmem.prompts import ExtractedEntity, ExtractedFact, ExtractedRelation, Extraction

DATA = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "extraction.jsonl"
SPEAKER = {"i": "user", "me": "user"}


def extraction(
    entities: list[tuple[str, str]], relations: list[tuple[str, str, str]]
) -> Extraction:
    rels = [ExtractedRelation(source=s, relation=r, target=t) for s, r, t in relations]
    return Extraction(
        facts=[ExtractedFact(text="a fact", relations=rels)],
        entities=[ExtractedEntity(name=n, type=t) for n, t in entities],
    )


def test_names_are_normalised() -> None:
    assert name_key("The Beatles'") == name_key("beatles") == "beatle"
    assert name_key("King’s  College") == name_key("king's college") == "king college"
    assert name_key("Tomás") == name_key("TOMAS")
    assert name_key("glass") == "glass" and name_key("bus") == "bus"  # ss, short words kept


def test_relations_match_tense_free_by_class_and_direction() -> None:
    assert relation_key("LIVED_IN") == relation_key("lives in") == relation_key("MOVED_TO")
    assert relation_key("WROTE") == relation_key("WRITES") == relation_key("AUTHORED")
    assert relation_key("WRITTEN_BY") == (relation_key("WROTE")[0], True)
    assert relation_key("SISTER_OF") == (relation_key("HAS_SISTER")[0], True)
    assert relation_key("WORKS_AT") != relation_key("LIVES_IN")
    names = {"me": "user"}
    assert triple_key("Maria", "SISTER_OF", "me", names) == triple_key(
        "USER", "HAS_SISTER", "maria", names
    )
    assert triple_key("Bo", "KNOWS", "Al", {}) == triple_key("Al", "KNOWS", "Bo", {})  # symmetric
    assert triple_key("Bo", "LIKES", "Al", {}) != triple_key("Al", "LIKES", "Bo", {})
    assert type_key("City") == type_key("Location") and type_key("Thing") == type_key("Concept")
    assert type_key("Person") != type_key("Organization") and type_key(None) == ""


LISBON = ("Lisbon", "Location")


def test_scoring_on_a_hand_made_set() -> None:
    """Item 1: a case/speaker + inverse match, a possessive + equivalent relation match, a
    false positive (Porto) for a miss (Lisbon), a co-mention edge left out, one wrong type.
    Item 2: an inverse relation, a type alias (Human = Person), a wrong type. Triples: 3 of 4
    predicted are right, 3 of 4 gold found; entities 5 of 6 and 5 of 6; types 3 of 5."""
    home = Item(
        "a",
        "conversation",
        "My sister Anna works at Acme Robotics. I live in Lisbon.",
        (("USER", "Person"), ("Anna", "Person"), ("Acme Robotics", "Organization"), LISBON),
        (
            ("USER", "HAS_SISTER", "Anna"),
            ("Anna", "WORKS_AT", "Acme Robotics"),
            ("USER", "LIVES_IN", "Lisbon"),
        ),
    )
    predicted = extraction(
        [("anna", "Location"), ("Acme Robotics'", "Company"), ("Porto", "City")],
        [
            ("ANNA", "SISTER_OF", "user"),
            ("anna", "EMPLOYED_BY", "Acme Robotics'"),
            ("USER", "LIVES_IN", "Porto"),
            ("anna", "MENTIONED_WITH", "Porto"),
        ],
    )
    one = score_item(home, predicted)
    assert one["triples"] == [2, 3, 3]
    assert one["missed"] == [["user", relation_key("LIVES_IN")[0], "lisbon"]]
    assert one["extra"] == [["user", relation_key("LIVES_IN")[0], "porto"]]
    assert one["pairs"] == [2, 3, 3] and one["co_mentions"] == 1
    assert one["entities"] == [3, 4, 4]  # user, anna, acme robotic; porto is extra
    assert one["typed"] == 2  # the user (a Person) and Acme (Company = Organization)

    spotify = Item(
        "b",
        "encyclopedic",
        "Daniel Ek founded Spotify.",
        (("Daniel Ek", "Person"), ("Spotify", "Organization")),
        (("Daniel Ek", "FOUNDED", "Spotify"),),
    )
    found = extraction(
        [("Spotify", "Product"), ("Daniel Ek", "Human")], [("Spotify", "FOUNDED_BY", "daniel ek")]
    )
    two = score_item(spotify, found)
    assert two["triples"] == [1, 1, 1] and two["entities"] == [2, 2, 2] and two["typed"] == 1

    total = aggregate([one, two])
    t = total["triples"]
    assert (t["tp"], t["predicted"], t["gold"]) == (3, 4, 4)
    assert (t["precision"], t["recall"], t["f1"]) == (0.75, 0.75, 0.75)
    e = total["entities"]
    assert (e["precision"], e["recall"]) == (round(5 / 6, 4), round(5 / 6, 4))
    assert total["entity_type_accuracy"] == 0.6  # 3 of the 5 matched entities


def test_nothing_predicted_scores_zero() -> None:
    item = Item(
        "x", "encyclopedic", "t", (("A", "Person"), ("B", "Person")), (("A", "KNOWS", "B"),)
    )
    total = aggregate([score_item(item, Extraction())])
    assert total["triples"]["recall"] == 0.0 and total["triples"]["precision"] == 0.0


def write(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


THREE = [
    "# a guide line",
    "",
    {
        "id": "c1",
        "kind": "conversation",
        "text": "I live in Hamburg and I love sushi.",
        "entities": [["USER", "Person"], ["Hamburg", "Location"], ["sushi", "Concept"]],
        "triples": [["USER", "LIVES_IN", "Hamburg"], ["USER", "LIKES", "sushi"]],
    },
    {
        "id": "e1",
        "kind": "encyclopedic",
        "text": "Mount Kilimanjaro lies in Tanzania.",
        "entities": [["Mount Kilimanjaro", "Location", ["Kilimanjaro"]], ["Tanzania", "Location"]],
        "triples": [["Kilimanjaro", "LOCATED_IN", "Tanzania"]],
    },
    {
        "id": "e2",
        "kind": "encyclopedic",
        "text": "Chinua Achebe wrote Things Fall Apart.",
        "entities": [["Chinua Achebe", "Person"], ["Things Fall Apart", "Work"]],
        "triples": [["Chinua Achebe", "WROTE", "Things Fall Apart"]],
    },
]


def test_loads_a_labelled_file_with_comments_and_aliases(tmp_path: Path) -> None:
    items = load_labelled(write(tmp_path / "x.jsonl", THREE))
    assert [i.id for i in items] == ["c1", "e1", "e2"]
    assert items[1].names()["kilimanjaro"] == "mount kilimanjaro"
    assert items[0].names()["i"] == "user"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            {"text": "t", "entities": [["A", "Person"]], "triples": [["A", "KNOWS", "B"]]},
            "does not",
        ),
        ({"text": "t", "entities": [], "triples": [["USER", "knows", "USER"]]}, "UPPER_SNAKE"),
        ({"text": " ", "triples": []}, "empty text"),
        ("{not json", "not a labelled item"),
    ],
)
def test_labelled_file_errors_are_clear(tmp_path: Path, line: Any, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_labelled(write(tmp_path / "bad.jsonl", [line]))


def test_the_labelled_set_is_valid_and_balanced() -> None:
    items = load_labelled(DATA)
    kinds = [i.kind for i in items]
    assert len(items) >= 50 and kinds.count("conversation") == kinds.count("encyclopedic")
    assert len({i.id for i in items}) == len(items)
    assert all(i.triples for i in items)


def test_bench_extract_end_to_end_offline(tmp_path: Path) -> None:
    data = write(tmp_path / "three.jsonl", THREE)
    out = tmp_path / "res" / "extraction.json"
    res = CliRunner().invoke(app, ["bench", "extract", "--data", str(data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert result["bench"] == "extraction" and result["n_items"] == 3
    assert result["kinds"] == {"conversation": 1, "encyclopedic": 2}
    run = result["runs"]["offline"]
    assert run["extractor"] == "SpacyExtractor" and run["failed"] == 0
    assert run["overall"]["triples"]["gold"] == 4 and run["by_kind"]["encyclopedic"]["items"] == 2
    for m in (run["overall"], *run["by_kind"].values()):
        for key in ("triples", "triples_by_ends", "entities"):
            assert 0.0 <= m[key]["precision"] <= 1.0 and 0.0 <= m[key]["recall"] <= 1.0
    assert [i["id"] for i in run["per_item"]] == ["c1", "e1", "e2"]
    assert run["usage"]["llm_calls"] == 0
    assert "| offline | all | 3 | 4 |" in out.with_suffix(".md").read_text()


def test_bench_extract_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write(tmp_path / "three.jsonl", THREE)
    out = str(tmp_path / "o.json")
    res = CliRunner().invoke(
        app, ["bench", "extract", "--data", str(data), "--out", out, "--extractor", "gpt"]
    )
    assert res.exit_code == 2 and "offline and/or llm" in res.output
    for var in ("GRAPHMEM_LLM_BASE_URL", "GRAPHMEM_LLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    res = CliRunner().invoke(
        app, ["bench", "extract", "--data", str(data), "--out", out, "--extractor", "llm"]
    )
    assert res.exit_code == 2 and "GRAPHMEM_LLM_BASE_URL" in res.output
    res = CliRunner().invoke(app, ["bench", "extract", "--data", str(tmp_path), "--out", out])
    assert res.exit_code == 2 and "cannot read" in res.output
