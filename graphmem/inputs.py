"""What ``Memory`` accepts: checked input items, and the sources (messages, passages) made
from them. Bad input is an ``InvalidInputError`` here, before anything is parsed or stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from .errors import InvalidInputError
from .models import TITLE_KEY, Scope, Source, fact_id, parse_ts, searchable

#: a message is read with up to this many messages before it (its item's context counts)
READ_BEFORE = 2


class Input(NamedTuple):
    """One checked ``add_many`` item."""

    messages: list[dict[str, str]]
    metadata: dict[str, Any]
    valid_from: datetime | None
    title: str | None
    context: tuple[str, ...]


#: message roles; ``system`` messages set an agent up, are no part of the conversation and
#: are not stored
ROLES = ("user", "assistant", "system", "tool")


def messages(value: Any, max_chars: int) -> list[dict[str, str]]:
    """A string or ``[{"role", "content", "name"?}]`` as a list of non-empty messages, system
    messages left out."""
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise InvalidInputError("messages must be a non-empty string or list of {role, content}")
    out = []
    for m in value:
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            raise InvalidInputError(f"each message needs a string 'content': {m!r:.80}")
        role = m.get("role") or "user"
        if role not in ROLES:
            known = ", ".join(ROLES)
            raise InvalidInputError(f"unknown message role {role!r} (use one of: {known})")
        content = m["content"].strip()
        if content and role != "system":
            msg = {**m, "role": role, "content": content}
            out.append({k: str(v) for k, v in msg.items() if v is not None})
    if not out:
        raise InvalidInputError("messages contain no text (system messages are not stored)")
    total = sum(len(m["content"]) for m in out)
    if total > max_chars:
        raise InvalidInputError(
            f"input is {total} characters; the limit is {max_chars} "
            "(split documents into passages, or raise GRAPHMEM_MAX_TEXT_CHARS)"
        )
    return out


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError("text must be a non-empty string")
    return value.strip()


def as_of(value: Any) -> datetime | None:
    """A point in time to read memory as of (ISO string, epoch seconds, datetime), or None."""
    if value is None:
        return None
    if not isinstance(value, str | int | float | datetime):  # a bool: parse_ts says no
        raise InvalidInputError("as_of must be an ISO-8601 time, epoch seconds or a datetime")
    at = parse_ts(value)
    if at is None:
        raise InvalidInputError("as_of must not be empty")
    return at


def metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InvalidInputError("metadata must be a dict with string keys")
    return dict(value)


def item(value: Any, base: dict[str, Any], max_chars: int) -> Input:
    """A string, a message list or ``{"messages", "metadata"?, "timestamp"?, "title"?,
    "context"?}``; its metadata is merged over ``base``."""
    if not isinstance(value, dict) or "messages" not in value:
        value = {"messages": value}
    msgs = messages(value["messages"], max_chars)
    meta = {**base, **metadata(value.get("metadata"))}
    title, context = value.get("title"), value.get("context") or ()
    if title is not None and not isinstance(title, str):
        raise InvalidInputError("title must be a string")
    context = (context,) if isinstance(context, str) else context
    if not isinstance(context, list | tuple) or not all(isinstance(c, str) for c in context):
        raise InvalidInputError("context must be a string or a list of strings")
    before = tuple(c for c in context if c)[-READ_BEFORE:]
    return Input(msgs, meta, parse_ts(value.get("timestamp")), title, before)


def sources(it: Input, scope: Scope, at: datetime) -> list[Source]:
    """One source per message, titled by the item's title or the message's speaker. A later
    message is read with the ones before (up to ``READ_BEFORE``), as their sources are
    embedded."""
    titles = [it.title or m.get("name") for m in it.messages]
    said = [searchable(m["content"], {TITLE_KEY: t}) for m, t in zip(it.messages, titles)]
    read = [*it.context, *said]
    befores = [tuple(read[max(0, i - READ_BEFORE) : i]) for i in range(len(it.context), len(read))]
    return [
        Source(
            fact_id(scope),
            scope,
            m["content"],
            m["role"],
            title,
            it.valid_from or at,
            it.metadata,
            context,
        )
        for m, title, context in zip(it.messages, titles, befores)
    ]
