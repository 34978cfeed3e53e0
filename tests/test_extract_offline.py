"""The spaCy extractor on the real en_core_web_sm pipeline."""

from __future__ import annotations

from typing import Any


def triples(extractor: Any, text: str) -> set[tuple[str, str, str]]:
    ex = extractor.extract([{"role": "user", "content": text}])
    return {(r.source, r.relation, r.target) for f in ex.facts for r in f.relations}


def test_patterns(spacy_extractor: Any) -> None:
    t = triples(
        spacy_extractor,
        "My sister Anna lives in Paris. Bob is my manager. Acme Corp is based in Berlin. "
        "I don't like sushi anymore. I moved to Munich.",
    )
    assert {
        ("Anna", "LIVES_IN", "Paris"),
        ("USER", "HAS_SISTER", "Anna"),
        ("USER", "HAS_MANAGER", "Bob"),
        ("Acme Corp", "BASED_IN", "Berlin"),
        ("USER", "DISLIKES", "sushi"),
        ("USER", "LIVES_IN", "Munich"),
    } <= t


def test_questions_and_chitchat_are_not_facts(spacy_extractor: Any) -> None:
    ex = spacy_extractor.extract(
        [
            {"role": "user", "content": "Hello there! How are you? Bob knows Carol."},
            {"role": "assistant", "content": "Dave lives in Rome."},
        ]
    )
    assert [f.text for f in ex.facts] == ["Bob knows Carol."]


def test_named_speaker(spacy_extractor: Any) -> None:
    ex = spacy_extractor.extract(
        [{"role": "user", "name": "Caroline", "content": "I went to Paris with Mel."}]
    )
    assert ex.facts[0].text == "Caroline: I went to Paris with Mel."
    assert ("Caroline", "WENT_TO", "Paris") in {
        (r.source, r.relation, r.target) for r in ex.facts[0].relations
    }


def test_mentions_link_to_the_name_itself(spacy_extractor: Any) -> None:
    """A possessive, an article or a lower-case modifier is not part of the entity's name."""
    ex = spacy_extractor.extract(
        [
            {
                "role": "user",
                "content": "The festival marked Henrik Ibsen's death. The Intrepid Wind Farm "
                "lies in north-west Iowa. Charles de Gaulle met the Beatles.",
            }
        ]
    )
    names = {e.name for e in ex.entities}
    assert {"Henrik Ibsen", "Iowa", "Charles de Gaulle", "Beatles"} <= names
    assert not {"Henrik Ibsen's", "north-west Iowa", "the Beatles"} & names


def test_what_a_speaker_calls_mine_is_theirs(spacy_extractor: Any) -> None:
    """ "My old area" is John's, not Maria's; an appositive names it ("my old area, West
    County"), so a later mention of the place joins the earlier one."""
    ex = spacy_extractor.extract_many(
        [
            [{"role": "user", "name": "John", "content": "My old area was hit by a flood."}],
            [{"role": "user", "name": "Maria", "content": "My old area had a storm."}],
            [
                {
                    "role": "user",
                    "name": "John",
                    "content": "I want to help my old area, West County, too.",
                }
            ],
        ]
    )
    mentioned = [set(f.entities) for e in ex for f in e.facts]
    assert "John's old area" in mentioned[0] and "Maria's old area" in mentioned[1]
    assert {"John's old area", "West County"} <= mentioned[2]
    rels = {(r.source, r.relation, r.target) for f in ex[2].facts for r in f.relations}
    assert ("John's old area", "IS", "West County") in rels


def test_joining_is_membership_and_weekdays_are_not_names(spacy_extractor: Any) -> None:
    """Joining a second group does not replace the first (WORKS_AT would invalidate it), and
    "last Tues" is a time, not a person that the group would resolve to. Living one's dream
    is not an address (LIVES_IN would be replaced by "living my true self")."""
    lived = triples(spacy_extractor, "I am living my dream. Anna lives at 5 Main Street.")
    assert ("Anna", "LIVES_IN", "Main Street") in lived
    assert not any(r == "LIVES_IN" and s == "USER" for s, r, _ in lived)
    text = (
        "Last weekend I joined a mentorship program. I just joined a new activist group last Tues."
    )
    ex = spacy_extractor.extract([{"role": "user", "content": text}])
    t = {(r.source, r.relation, r.target) for f in ex.facts for r in f.relations}
    assert {
        ("USER", "MEMBER_OF", "mentorship program"),
        ("USER", "MEMBER_OF", "new activist group"),
    } <= t
    assert not {"Tues", "Last weekend"} & {e.name for e in ex.entities}


def test_greetings_are_not_names(spacy_extractor: Any) -> None:
    """The small pipeline tags "Congrats Joanna" and "Bye Caroline" as people: the greeting is
    cut, so the mention links to Joanna herself. "Great Britain" keeps its whole name."""
    text = "Congrats Joanna! Bye Caroline, see you. Yep, Nate lives in Great Britain."
    ex = spacy_extractor.extract([{"role": "user", "name": "Max", "content": text}])
    names = {e.name for e in ex.entities}
    assert {"Joanna", "Caroline", "Great Britain"} <= names
    assert not {"Congrats Joanna", "Bye Caroline", "Congrats", "Bye"} & names
