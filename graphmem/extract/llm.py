"""LLM access through the ``openai`` client, and the one-call LLM extractor."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from .. import usage
from ..errors import ConfigError, ExtractionError
from ..ontology import Ontology
from ..prompts import EXTRACT_SYSTEM, Extraction
from ..prompts.fence import fence, inline
from ..prompts.items import brief
from ..protocols import LLM, T
from .structured import MODES, Mode, next_mode, pull_json, refusal, response_format, schema_prompt

log = logging.getLogger("graphmem")


class OpenAILLM:
    """Structured output over any OpenAI-compatible chat endpoint.

    The structured-output mode (``extract.structured``) is ``structured_output``, or with
    ``auto`` negotiated by the first call: ``json_schema`` first, one mode down each time the
    server refuses one (an HTTP 400/422/500 naming ``response_format`` or the schema) or
    answers a JSON mode in prose; the mode that worked is kept for every later call
    of this client (extraction, reconciliation, ``ask``), and calls made while it is being
    found wait for it. Every call is bounded by ``max_tokens`` and ``timeout`` (else the
    client's). Transport failures (timeouts, 5xx, 429 with ``Retry-After``) are retried by the
    ``openai`` client itself (``max_retries``); a reply that is not valid JSON for ``schema``
    gets ``reply_retries`` repair requests showing the error, in every mode, then
    :class:`ExtractionError`. Each answered call is recorded in ``graphmem.usage``.
    """

    def __init__(
        self,
        client: Any,
        model: str,
        reply_retries: int = 2,
        structured_output: str = "auto",
        max_tokens: int = 1024,
        timeout: float | None = None,
    ) -> None:
        if structured_output not in ("auto", *MODES):
            raise ConfigError(f"unknown structured output mode {structured_output!r}")
        self._client = client
        self.model = model
        self.reply_retries = reply_retries
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.pinned = structured_output != "auto"
        self._mode: Mode = cast(Mode, structured_output) if self.pinned else MODES[0]
        self._settled = self.pinned
        self._finding = threading.Lock()  # held by the call that finds the mode
        self._count = threading.Lock()
        self._tokens_param = "max_tokens"
        self.calls = 0

    @property
    def mode(self) -> Mode:
        """The structured-output mode calls use (settled once a reply honoured it)."""
        return self._mode

    def complete(
        self, system: str, user: str, schema: type[T], context: dict[str, Any] | None = None
    ) -> T:
        if not self._settled:
            with self._finding:
                if not self._settled:
                    return self._complete(system, user, schema, context)
        return self._complete(system, user, schema, context)

    def _complete(
        self, system: str, user: str, schema: type[T], context: dict[str, Any] | None
    ) -> T:
        messages: list[dict[str, str]] = [{"role": "user", "content": user}]
        problem = ""
        for _attempt in range(self.reply_retries + 1):
            content, cut = self._reply(system, messages, schema)
            try:
                return schema.model_validate_json(
                    pull_json(content) or content or "null", context=context
                )
            except ValidationError as e:
                problem = brief(e) + (" (cut off at the token limit: be brief)" if cut else "")
                log.warning("LLM reply rejected (%s); asking for a repair", problem)
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

    def _reply(
        self, system: str, messages: list[dict[str, str]], schema: type[BaseModel]
    ) -> tuple[str, bool]:
        """One answered request in the current mode (stepping down while it is being found):
        the reply's text, and whether it was cut off at ``max_tokens``."""
        while True:
            mode = self._mode
            resp = self._request(mode, system, messages, schema)
            if resp is None:  # refused: the mode stepped down
                continue
            choice = resp.choices[0] if resp.choices else None
            content = ((choice.message.content if choice else None) or "").strip()
            cut = choice is not None and choice.finish_reason == "length"
            if self._settled or mode == "prompt" or not _prose(content):
                self._settled = True
                return content, cut
            self._step_down(mode, "answered in prose")

    def _request(
        self, mode: Mode, system: str, messages: list[dict[str, str]], schema: type[BaseModel]
    ) -> Any:
        """The server's answer, or None when it refused ``mode`` (then stepped down)."""
        import openai

        fmt = response_format(mode, schema)
        if mode != "json_schema":  # the schema is not (or not only) in response_format
            system += schema_prompt(schema)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, *messages],
            "temperature": 0,
        }
        if fmt is not None:
            kwargs["response_format"] = fmt
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        while True:
            kwargs[self._tokens_param] = self.max_tokens
            try:
                resp = self._client.chat.completions.create(**kwargs)
                break
            except openai.APIStatusError as e:
                message = _message(e)
                if "max_completion_tokens" in message and "max_tokens" in kwargs:
                    self._tokens_param = "max_completion_tokens"  # OpenAI's reasoning models
                    del kwargs["max_tokens"]
                    continue
                if fmt is not None and refusal(e.status_code, message):
                    self._step_down(mode, f"refused it: HTTP {e.status_code} {message[:200]}")
                    return None
                raise self._failed(e) from e
            except openai.OpenAIError as e:
                raise self._failed(e) from e
        with self._count:
            self.calls += 1
        used = getattr(resp, "usage", None)
        usage.record(
            self.model,
            int(getattr(used, "prompt_tokens", 0) or 0),
            int(getattr(used, "completion_tokens", 0) or 0),
        )
        return resp

    def _step_down(self, mode: Mode, why: str) -> None:
        """The server does not do ``mode``: use the next one, unless the mode is pinned (or
        settled, or the last): then the call fails."""
        lower = next_mode(mode)
        if self.pinned or self._settled or lower is None:
            raise ExtractionError(
                f"the LLM server does not support structured output mode {mode!r} ({why}); "
                "set llm_structured_output (GRAPHMEM_LLM_STRUCTURED_OUTPUT) to auto or to "
                + ", ".join(repr(m) for m in MODES if m != mode)
            )
        log.warning("LLM server %s for structured output mode %s: using %s", why, mode, lower)
        if self._mode == mode:
            self._mode = lower

    def _failed(self, e: Exception) -> ExtractionError:
        import openai

        hint = ""
        if isinstance(e, openai.APITimeoutError):
            hint = f" (no reply within llm_timeout = {self._timeout()} s)"
        elif isinstance(e, openai.APIConnectionError):
            hint = f" (is the LLM server at {getattr(self._client, 'base_url', '?')} running?)"
        return ExtractionError(f"LLM request failed ({type(e).__name__}): {e}{hint}")

    def _timeout(self) -> Any:
        if self.timeout is not None:
            return self.timeout
        timeout = getattr(self._client, "timeout", None)
        return getattr(timeout, "read", timeout)


def _prose(content: str) -> bool:
    """A reply that ignored a JSON mode: text without any JSON object in it (a broken or
    empty one is the model's mistake, for the repair loop)."""
    return bool(content) and "{" not in content


def _message(e: Any) -> str:
    """An API error's message with its body (where servers put the details)."""
    body = getattr(e, "body", None)
    return f"{getattr(e, 'message', e)} {json.dumps(body, default=str) if body else ''}"


class LLMExtractor:
    """One LLM call per ``add``: facts, entities and relations together; with an
    ``ontology``, its types are the schema's enums, described in the prompt, and the reply
    is held to it (``Ontology.apply``)."""

    def __init__(self, llm: LLM, ontology: Ontology | None = None) -> None:
        self.llm = llm
        self.ontology = ontology
        self.system = EXTRACT_SYSTEM + (ontology.prompt() if ontology else "")
        self.schema = ontology.reply_schema if ontology else Extraction

    def extract(self, messages: Sequence[dict[str, str]]) -> Extraction:
        lines = [
            f"{inline(m.get('name') or m.get('role', 'user'))}: {inline(m['content'])}"
            for m in messages
        ]  # one line per message: no content can pose as another speaker
        user = fence("memory-input", "\n".join(lines))
        extraction = self.llm.complete(self.system, user, self.schema)
        return self.ontology.apply(extraction) if self.ontology else extraction

    def extract_many(self, batches: Sequence[Sequence[dict[str, str]]]) -> list[Extraction]:
        return [self.extract(b) for b in batches]  # one call per item


def dumps(model: BaseModel) -> str:
    return json.dumps(model.model_dump(), ensure_ascii=False)
