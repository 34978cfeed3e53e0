"""Retrieval benchmarks on public QA sets: multi-hop passage recall and LoCoMo evidence recall."""

from .datasets import (
    Conversation,
    DatasetError,
    LocomoQuestion,
    MultihopSet,
    Passage,
    Question,
    Turn,
    detect_format,
    load_locomo,
    load_multihop,
)
from .locomo import LocomoOptions, evidence_recall, run_locomo
from .multihop import MultihopOptions, recall_at, run_multihop

__all__ = [
    "Conversation",
    "DatasetError",
    "LocomoOptions",
    "LocomoQuestion",
    "MultihopOptions",
    "MultihopSet",
    "Passage",
    "Question",
    "Turn",
    "detect_format",
    "evidence_recall",
    "load_locomo",
    "load_multihop",
    "recall_at",
    "run_locomo",
    "run_multihop",
]
