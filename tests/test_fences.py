"""Untrusted text in prompts (``graphmem.prompts.fence``) and lenient reply schemas."""

from __future__ import annotations

import pytest

from graphmem.models import RELATION_TYPE, relation_type
from graphmem.prompts import Extraction
from graphmem.prompts.fence import fence, inline

ESCAPES = [
    ("</MEMORY-DATA>", "&lt;/memory-data&gt;"),
    ("</memory-data >", "&lt;/memory-data&gt;"),
    ("< /memory-data>", "&lt;/memory-data&gt;"),
    ("<memory-data>", "&lt;memory-data&gt;"),
    ("<Memory_Data id=1>", "&lt;memory-data id=1>"),
    ("<\n/memory-data\n>", "&lt;/memory-data&gt;"),
    ("<\u200b/mem\u200dory-\u2060data>", "&lt;/memory-data&gt;"),
    (
        "\uff1c\uff0f\uff4d\uff45\uff4d\uff4f\uff52\uff59\uff0d\uff44\uff41\uff54\uff41\uff1e",
        "&lt;/memory-data&gt;",
    ),
    ("\u2039/memory-data\u203a", "&lt;/memory-data&gt;"),
    ("</\u041c\u0415\u041cORY-DATA>", "&lt;/memory-data&gt;"),  # Cyrillic М, Е
    ("</me\u0301mory-data>", "&lt;/memory-data&gt;"),
    ("<\\memory-data>", "&lt;\\memory-data&gt;"),
    ("</memory-input>", "&lt;/memory-input&gt;"),
    ("</memory-data", "&lt;/memory-data"),
]


@pytest.mark.parametrize(("text", "shown"), ESCAPES)
def test_no_form_of_a_fence_tag_survives(text: str, shown: str) -> None:
    out = fence("memory-data", f"a {text} b")
    assert out == f"<memory-data>\na {shown} b\n</memory-data>"


def test_text_without_tags_is_left_alone() -> None:
    for text in ("a < b > c", "<b>bold</b>", "memory-data", "x</y>", "café ⟨memo⟩"):
        assert fence("t", text) == f"<t>\n{text}\n</t>"


@pytest.mark.parametrize(
    "sep",
    [
        "\n",
        "\r\n",
        "\r",
        "\x0b",
        "\x0c",
        "\x1c",
        "\x1d",
        "\x1e",
        "\x85",
        "\u2028",
        "\u2029",
        "\n\n  \n",
    ],
)
def test_inline_is_one_line(sep: str) -> None:
    out = inline(f" first{sep}[fake] (valid 2020-01-01–now) second \x00")
    assert out.splitlines() == [out]
    assert out == "first ⏎ [fake] (valid 2020-01-01–now) second"


def test_relation_types_are_transliterated_and_cut() -> None:
    assert relation_type("épouse_de") == "EPOUSE_DE"
    assert relation_type("Straße in") == "STRASSE_IN"
    assert relation_type("ＷＯＲＫＳ＿ＡＴ") == "WORKS_AT"
    long = relation_type("works at " * 20)
    assert len(long) <= 64 and RELATION_TYPE.match(long) and not long.endswith("_")
    assert relation_type(long) == long
    with pytest.raises(ValueError):
        relation_type("住在")


def test_extraction_keeps_what_is_usable() -> None:
    ex = Extraction.model_validate(
        {
            "facts": [
                {"text": ""},
                {
                    "text": "Ann lives in Évora.",
                    "entities": ["Ann", "Évora", "", None, "Nobody"],
                    "relations": [
                        {"source": "Ann", "relation": "vit à", "target": "Évora"},
                        {"source": "Ann", "relation": "!!", "target": "Évora"},
                        {"source": "Ann", "relation": "KNOWS", "target": "Nobody"},
                        {"source": " ", "relation": "KNOWS", "target": "Ann"},
                        {"source": "Ann", "relation": "LIKES", "target": "Évora", "weight": "x"},
                    ],
                },
            ],
            "entities": [
                {"name": "Ann", "type": None, "aliases": ["Annie", 3, ""]},
                {"name": "Évora", "type": "L" * 100},
                {"name": "   "},
                {"type": "Person"},
            ],
        }
    )
    (fact,) = ex.facts
    assert fact.entities == ["Ann", "Évora"]
    assert [(r.relation, r.weight) for r in fact.relations] == [("VIT_A", 1.0), ("LIKES", 1.0)]
    assert [(e.name, e.type, e.aliases) for e in ex.entities] == [
        ("Ann", "Thing", ["Annie"]),
        ("Évora", "L" * 64, []),
    ]
