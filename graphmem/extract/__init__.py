"""Extractors: messages → facts, entities and relations."""

from .llm import LLMExtractor, OpenAILLM
from .offline import SpacyExtractor

__all__ = ["LLMExtractor", "OpenAILLM", "SpacyExtractor"]
