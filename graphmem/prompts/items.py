"""Lenient lists in LLM reply schemas: an invalid item is dropped and logged, the rest kept.

A reply is only rejected (and so retried, see ``OpenAILLM.complete``) when it is not the
shape at all; one bad item in an otherwise good reply costs that item, not the reply.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

log = logging.getLogger("graphmem")
M = TypeVar("M", bound=BaseModel)


def brief(e: ValidationError) -> str:
    """The first few problems of a validation error, one short line."""
    errs = e.errors()
    parts = [f"{'.'.join(str(p) for p in x['loc']) or 'reply'}: {x['msg']}" for x in errs[:3]]
    return "; ".join(parts) or str(e)


def usable(items: Any, model: type[M], what: str, *, required: bool = False) -> Any:
    """The items of a raw list that validate as ``model`` (the others logged and dropped).
    Anything but a list is returned as it is, for the schema to reject. ``required``: a
    non-empty list of which nothing is usable is an error (the reply is retried rather than
    taken as saying nothing)."""
    if not isinstance(items, list):
        return items
    kept: list[M] = []
    problem = ""
    for raw in items:
        try:
            kept.append(model.model_validate(raw))
        except ValidationError as e:
            problem = brief(e)
            log.warning("LLM reply: dropping an invalid %s (%s): %.200r", what, problem, raw)
    if required and items and not kept:
        raise ValueError(f"no usable {what} ({problem})")
    return kept
