"""LLM usage: the calls and tokens behind each result (``add``, ``add_many``, ``ask``) and
the running totals of a ``Memory``.

An LLM client reports each answered call with :func:`record`; it is counted by every
:class:`Meter` made current by :func:`metered` in the calling context (a thread, or a task
run in :func:`contextvars.copy_context` of it). Calls are counted as the server answered
them, repair requests included; requests refused or retried by the transport cost nothing
and are not counted. Tokens are those of the server's ``usage`` (0 when it gives none).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .config import LLMPrice

_METERS: ContextVar[tuple[Meter, ...]] = ContextVar("graphmem_llm_meters", default=())


class Meter:
    """Calls and tokens by model, summed (thread-safe); with ``prices``, their cost."""

    def __init__(self, prices: Mapping[str, LLMPrice] | None = None) -> None:
        self.prices = dict(prices or {})
        self._lock = threading.Lock()
        self._models: dict[str, tuple[int, int, int]] = {}

    def add(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            calls, prompt, completion = self._models.get(model, (0, 0, 0))
            self._models[model] = (
                calls + 1,
                prompt + prompt_tokens,
                completion + completion_tokens,
            )

    def report(self) -> dict[str, Any]:
        """``{"llm_calls", "prompt_tokens", "completion_tokens"}``, and ``cost`` (USD) when a
        price is known for every model called."""
        with self._lock:
            models = dict(self._models)
        out: dict[str, Any] = {
            key: sum(v[i] for v in models.values())
            for i, key in enumerate(("llm_calls", "prompt_tokens", "completion_tokens"))
        }
        if self.prices and all(m in self.prices for m in models):
            cost = sum(
                p * self.prices[m].prompt + c * self.prices[m].completion
                for m, (_, p, c) in models.items()
            )
            out["cost"] = round(cost / 1e6, 9)
        return out


def record(model: str, prompt_tokens: int, completion_tokens: int) -> None:
    """One answered LLM call, counted by the meters current here."""
    for meter in _METERS.get():
        meter.add(model, prompt_tokens, completion_tokens)


@contextmanager
def metered(total: Meter) -> Iterator[Meter]:
    """A new meter of the calls made inside (``total`` counts them too)."""
    call = Meter(total.prices)
    token = _METERS.set(tuple(dict.fromkeys((*_METERS.get(), total, call))))
    try:
        yield call
    finally:
        _METERS.reset(token)
