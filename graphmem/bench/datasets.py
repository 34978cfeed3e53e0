"""Loaders for the evaluation sets, in their native formats (see ``shared/datasets``).

Multi-hop sets live in a directory with ``questions.json`` and ``corpus.json`` in one of three
shapes, told apart by the first question:

- MuSiQue: questions carry ``paragraphs[].is_supporting``; corpus is a list of ``{title, text}``.
- HotpotQA: questions carry ``supporting_facts``; corpus is a dict ``title → [sentences]``.
- generic: questions carry ``supporting_titles``; corpus is a list of ``{title, text}``.

LoCoMo is one JSON file: a list of conversations with their QA.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

Format = Literal["musique", "hotpotqa", "generic"]
LOCOMO_DATE = "%I:%M %p on %d %B, %Y"  # "1:56 pm on 8 May, 2023"
LOCOMO_CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}


class BenchError(ValueError):
    """A benchmark cannot run as asked (bad options, unusable data)."""


class DatasetError(BenchError):
    """A data file is missing or not in a format the benchmark knows."""


@dataclass(frozen=True, slots=True)
class Question:
    question: str
    answer: str
    gold_titles: tuple[str, ...]
    index: int = 0  # position in questions.json


@dataclass(frozen=True, slots=True)
class Passage:
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class MultihopSet:
    name: str
    format: Format
    questions: list[Question]
    passages: list[Passage]


@dataclass(frozen=True, slots=True)
class Turn:
    dia_id: str
    speaker: str
    text: str
    session: int
    timestamp: str  # ISO-8601 (the session's date)


@dataclass(frozen=True, slots=True)
class LocomoQuestion:
    question: str
    answer: str
    evidence: tuple[str, ...]
    category: int
    index: int = 0  # position in the conversation's qa list


@dataclass(frozen=True, slots=True)
class Conversation:
    sample_id: str
    speakers: tuple[str, str]
    turns: list[Turn]
    questions: list[LocomoQuestion]


# -- multi-hop ------------------------------------------------------------------------------
def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DatasetError(f"missing {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON: {e}") from e


def detect_format(questions: Any, corpus: Any) -> Format:
    """MuSiQue, HotpotQA or generic, from the keys of the first question."""
    if not isinstance(questions, list) or not questions or not isinstance(questions[0], dict):
        raise DatasetError("questions.json must be a non-empty list of objects")
    first = questions[0]
    paragraphs = first.get("paragraphs")
    if isinstance(paragraphs, list) and any("is_supporting" in p for p in paragraphs):
        fmt: Format = "musique"
    elif "supporting_facts" in first:
        fmt = "hotpotqa"
    elif "supporting_titles" in first:
        fmt = "generic"
    else:
        raise DatasetError(
            "unknown questions format: expected paragraphs[].is_supporting (MuSiQue), "
            f"supporting_facts (HotpotQA) or supporting_titles (generic); got keys {sorted(first)}"
        )
    want_dict = fmt == "hotpotqa"
    if isinstance(corpus, dict) != want_dict or not isinstance(corpus, dict | list):
        shape = "a dict title → sentences" if want_dict else "a list of {title, text}"
        raise DatasetError(f"{fmt} corpus.json must be {shape}")
    return fmt


def _unique(titles: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(titles))


def _question(q: dict[str, Any], fmt: Format, index: int) -> Question:
    if fmt == "musique":
        gold = [p["title"] for p in q["paragraphs"] if p.get("is_supporting")]
    elif fmt == "hotpotqa":
        gold = [fact[0] for fact in q["supporting_facts"]]
    else:
        gold = list(q["supporting_titles"])
    return Question(str(q["question"]), str(q.get("answer", "")), _unique(gold), index)


def _passages(corpus: Any, fmt: Format) -> list[Passage]:
    if fmt == "hotpotqa":
        return [
            Passage(title, " ".join(s.strip() for s in sentences if s.strip()))
            for title, sentences in corpus.items()
        ]
    return [Passage(str(p["title"]), str(p["text"])) for p in corpus]


def load_multihop(data_dir: Path) -> MultihopSet:
    """Questions (with gold passage titles) and passages of a multi-hop set."""
    questions = _read_json(data_dir / "questions.json")
    corpus = _read_json(data_dir / "corpus.json")
    fmt = detect_format(questions, corpus)
    try:
        qs = [_question(q, fmt, i) for i, q in enumerate(questions)]
        ps = [p for p in _passages(corpus, fmt) if p.text.strip()]
    except (KeyError, TypeError, IndexError) as e:
        raise DatasetError(f"malformed {fmt} data in {data_dir}: {e!r}") from e
    name = data_dir.resolve().name or "dataset"
    return MultihopSet(name, fmt, qs, ps)


# -- LoCoMo ---------------------------------------------------------------------------------
def locomo_timestamp(text: str) -> str:
    """``"1:56 pm on 8 May, 2023"`` → ``"2023-05-08T13:56:00"``."""
    try:
        return datetime.strptime(text.strip(), LOCOMO_DATE).isoformat()
    except ValueError as e:
        raise DatasetError(f"unexpected LoCoMo session date {text!r}") from e


def _turn_text(turn: dict[str, Any]) -> str:
    text = str(turn.get("text", "")).strip()
    caption = turn.get("blip_caption")
    if caption:
        text = f"{text} [image: {caption}]".strip()
    return text


def _sessions(conv: dict[str, Any]) -> list[int]:
    found = (re.fullmatch(r"session_(\d+)", k) for k in conv)
    return sorted(int(m.group(1)) for m in found if m)


def _turns(conv: dict[str, Any]) -> list[Turn]:
    turns = []
    for n in _sessions(conv):
        when = locomo_timestamp(conv[f"session_{n}_date_time"])
        for t in conv[f"session_{n}"]:
            text = _turn_text(t)
            if text:
                turns.append(Turn(str(t["dia_id"]), str(t["speaker"]), text, n, when))
    return turns


def _locomo_question(q: dict[str, Any], index: int) -> LocomoQuestion:
    answer = q.get("answer", q.get("adversarial_answer", ""))
    evidence = tuple(str(e) for e in q["evidence"])
    return LocomoQuestion(str(q["question"]), str(answer), evidence, int(q["category"]), index)


def load_locomo(path: Path) -> list[Conversation]:
    """Every conversation with its turns (in order) and all its questions (every category)."""
    data = _read_json(path)
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a list of conversations")
    try:
        return [
            Conversation(
                str(s["sample_id"]),
                (str(s["conversation"]["speaker_a"]), str(s["conversation"]["speaker_b"])),
                _turns(s["conversation"]),
                [_locomo_question(q, i) for i, q in enumerate(s["qa"])],
            )
            for s in data
        ]
    except (KeyError, TypeError) as e:
        raise DatasetError(f"malformed LoCoMo data in {path}: {e!r}") from e
