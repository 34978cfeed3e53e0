"""Every LLM prompt of graphmem, each beside the pydantic schema of its reply."""

from .answer import ANSWER_SYSTEM, Answer
from .extract import EXTRACT_SYSTEM, ExtractedEntity, ExtractedFact, ExtractedRelation, Extraction
from .reconcile import RECONCILE_SYSTEM, Decision, Decisions

__all__ = [
    "ANSWER_SYSTEM",
    "EXTRACT_SYSTEM",
    "RECONCILE_SYSTEM",
    "Answer",
    "Decision",
    "Decisions",
    "ExtractedEntity",
    "ExtractedFact",
    "ExtractedRelation",
    "Extraction",
]
