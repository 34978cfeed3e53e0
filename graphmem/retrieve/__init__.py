"""The read path: dense + graph retrieval fused into one explained ranking. No LLM call."""

from .config import PRESETS, SearchConfig
from .search import Retriever

__all__ = ["PRESETS", "Retriever", "SearchConfig"]
