"""LLM access through the ``openai`` client, and the one-call LLM extractor."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ExtractionError
from ..prompts import EXTRACT_SYSTEM, Extraction
from ..prompts.fence import fence, inline
from ..prompts.items import brief
from ..protocols import LLM, T

log = logging.getLogger("graphmem")
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


class OpenAILLM:
    """Structured output over any OpenAI-compatible chat endpoint.

    Transport failures (timeouts, 5xx, rate limits) are retried by the ``openai`` client
    itself (``max_retries``); replies that are not valid JSON for ``schema`` are retried here
    ``reply_retries`` times with the validation error fed back, then :class:`ExtractionError`.
    """

    def __init__(self, client: Any, model: str, reply_retries: int = 2) -> None:
        self._client = client
        self.model = model
        self.reply_retries = reply_retries
        self.calls = 0

    def complete(
        self, system: str, user: str, schema: type[T], context: dict[str, Any] | None = None
    ) -> T:
        import openai

        messages: list[dict[str, str]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
        }
        problem = ""
        for _attempt in range(self.reply_retries + 1):
            self.calls += 1
            try:
                resp = self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=0,
                    response_format=response_format,
                )
            except openai.OpenAIError as e:
                raise ExtractionError(f"LLM request failed ({type(e).__name__}): {e}") from e
            content = (resp.choices[0].message.content or "").strip() if resp.choices else ""
            try:
                return schema.model_validate_json(
                    _FENCE.sub("", content) or "null", context=context
                )
            except ValidationError as e:
                problem = brief(e)
                log.warning("LLM reply rejected (%s); retrying", problem)
                messages += [
                    {"role": "assistant", "content": content[:4000]},
                    {
                        "role": "user",
                        "content": f"That reply is invalid: {problem}. "
                        "Answer again with JSON that matches the schema exactly.",
                    },
                ]
        raise ExtractionError(
            f"LLM gave no valid {schema.__name__} after {self.reply_retries + 1} attempts: "
            f"{problem}"
        )


class LLMExtractor:
    """One LLM call per ``add``: facts, entities and relations together."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    def extract(self, messages: Sequence[dict[str, str]]) -> Extraction:
        lines = [
            f"{inline(m.get('name') or m.get('role', 'user'))}: {inline(m['content'])}"
            for m in messages
        ]  # one line per message: no content can pose as another speaker
        user = fence("memory-input", "\n".join(lines))
        return self.llm.complete(EXTRACT_SYSTEM, user, Extraction)

    def extract_many(self, batches: Sequence[Sequence[dict[str, str]]]) -> list[Extraction]:
        return [self.extract(b) for b in batches]  # one call per item


def dumps(model: BaseModel) -> str:
    return json.dumps(model.model_dump(), ensure_ascii=False)
