"""Structured output on any OpenAI-compatible server: the request of each mode, the JSON
read back from a reply, and what a refusal of a mode looks like.

Modes, from the strictest:

- ``json_schema``: ``response_format={"type": "json_schema", ...}`` (OpenAI, vLLM, Ollama,
  llama.cpp's ``llama-server``): the server constrains the reply to the schema.
- ``json_object``: ``{"type": "json_object", "schema": ...}`` (llama-cpp-python's server,
  which compiles the schema to a grammar; others take plain JSON mode and ignore it), the
  schema also in the prompt. Length limits and other keywords grammar converters reject are
  left out of the schema sent (llama-cpp-python crashed on a ``maxLength``); the reply is
  still validated against the full model.
- ``prompt``: no ``response_format``; the schema in the prompt, the JSON taken from the reply
  (the whole reply, a fenced ```` ```json ```` block, else its first balanced object).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel

Mode = Literal["json_schema", "json_object", "prompt"]
MODES: tuple[Mode, ...] = ("json_schema", "json_object", "prompt")

#: schema keywords a grammar converter may reject or mishandle (the reply is validated anyway)
_LIMITS = frozenset(
    {
        "maxLength",
        "minLength",
        "pattern",
        "format",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minProperties",
        "maxProperties",
    }
)
#: keywords whose value maps names to schemas (the names are not keywords)
_NAMED = frozenset({"properties", "$defs", "definitions", "patternProperties"})
_FENCED = re.compile(r"```[ \t]*(?:json[ \t]*)?\n?(.*?)```", re.DOTALL | re.IGNORECASE)
#: what a server says when it refuses a response_format
_REFUSAL = re.compile(r"response_format|json_schema|json_object|schema", re.IGNORECASE)
_REFUSAL_STATUS = frozenset({400, 422, 500, 501})


def without_limits(schema: Any) -> Any:
    """``schema`` without the keywords in ``_LIMITS`` (at any depth)."""
    return _pruned(schema, _LIMITS)


def for_prompt(schema: Any) -> Any:
    """``schema`` without what only tells a reader of the code (titles, the docstrings of the
    models); the fields' descriptions stay."""
    return _pruned(schema, frozenset({"title"}), docs=True)


def _pruned(schema: Any, keywords: frozenset[str], docs: bool = False) -> Any:
    if isinstance(schema, list):
        return [_pruned(s, keywords, docs) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _NAMED and isinstance(value, dict):
            out[key] = {name: _pruned(s, keywords, docs) for name, s in value.items()}
        elif key not in keywords and not (docs and key == "description" and "properties" in schema):
            out[key] = _pruned(value, keywords, docs)
    return out


def schema_prompt(schema: type[BaseModel]) -> str:
    """The instruction added to the system prompt when the server does not enforce the schema."""
    text = json.dumps(
        for_prompt(schema.model_json_schema()), ensure_ascii=False, separators=(",", ":")
    )
    return (
        "\n\nReply with one JSON object and nothing else, valid against this JSON schema:\n" + text
    )


def response_format(mode: Mode, schema: type[BaseModel]) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
        }
    if mode == "json_object":
        return {"type": "json_object", "schema": without_limits(schema.model_json_schema())}
    return None


def pull_json(text: str) -> str | None:
    """The JSON a reply holds: all of it, else the first fenced block that parses, else the
    first balanced ``{...}`` that parses; None when there is none."""
    text = text.strip()
    candidates = [text, *(m.group(1).strip() for m in _FENCED.finditer(text))]
    for candidate in candidates:
        if _parses(candidate):
            return candidate
    start = text.find("{")
    while start != -1:
        end = _balanced_end(text, start)
        if end is not None and _parses(text[start:end]):
            return text[start:end]
        start = text.find("{", start + 1)
    return None


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return bool(text)


def _balanced_end(text: str, start: int) -> int | None:
    """The end of the object opened at ``start`` (strings and escapes respected)."""
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def refusal(status: int, message: str) -> bool:
    """An HTTP error that refuses the request's ``response_format`` (llama-cpp-python: 500
    "Input should be 'text' or 'json_object'"; others 400/422 naming the field)."""
    return status in _REFUSAL_STATUS and _REFUSAL.search(message) is not None


def next_mode(mode: Mode) -> Mode | None:
    i = MODES.index(mode)
    return MODES[i + 1] if i + 1 < len(MODES) else None
