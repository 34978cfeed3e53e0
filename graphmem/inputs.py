"""What ``Memory`` accepts: checked input items, and the sources (messages, passages) made
from them. Bad input is an ``InvalidInputError`` here, before anything is parsed or stored."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, NamedTuple

from .errors import InvalidInputError
from .models import TITLE_KEY, Scope, Source, check_id, encodable, fact_id, parse_ts, searchable

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
        if not isinstance(role, str) or role not in ROLES:
            known = ", ".join(ROLES)
            raise InvalidInputError(f"unknown message role {role!r} (use one of: {known})")
        content = string(m["content"], "message content").strip()
        if content and role != "system":
            msg = {"role": role, "content": content}
            if m.get("name") is not None:
                msg["name"] = name(m["name"], "message name")
            out.append(msg)
    if not out:
        raise InvalidInputError("messages contain no text (system messages are not stored)")
    total = sum(len(m["content"]) for m in out)
    if total > max_chars:
        raise InvalidInputError(
            f"input is {total} characters; the limit is {max_chars} "
            "(split documents into passages, or raise GRAPHMEM_MAX_TEXT_CHARS)"
        )
    return out


def string(value: Any, what: str) -> str:
    """Text any store can hold: a string of valid Unicode (no lone surrogates) without NUL."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string: {value!r:.80}")
    if "\x00" in value or not encodable(value):
        raise InvalidInputError(f"{what} contains NUL or invalid Unicode (a lone surrogate)")
    return value


def text(value: Any, what: str = "text") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what} must be a non-empty string")
    return string(value, what).strip()


#: a name (a speaker, a title) becomes an entity: at most this long
MAX_NAME_CHARS = 200


def name(value: Any, what: str) -> str:
    """A speaker's name or a title: one line of at most ``MAX_NAME_CHARS`` characters."""
    out = text(value, what)
    if len(out) > MAX_NAME_CHARS or any(c in out for c in "\r\n\x0b\x0c\x1c\x1d\x1e"):
        raise InvalidInputError(f"{what} must be one line of at most {MAX_NAME_CHARS} characters")
    return out


def memory_id(value: Any) -> str:
    return check_id(value, "memory id")


def number(value: Any, what: str) -> float | None:
    """An optional finite number (a score threshold)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{what} must be a finite number: {value!r:.80}")
    return float(value)


#: the largest integer a metadata value may be (the stores keep 64-bit integers)
MAX_INT = 2**63 - 1
#: how deep metadata may nest (lists and dicts)
MAX_DEPTH = 8


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


def metadata(value: Any, max_bytes: int | None = None) -> dict[str, Any]:
    """JSON metadata: string keys; strings, finite numbers, booleans, None, and lists and
    dicts of them; at most ``max_bytes`` as JSON. Anything else (sets, bytes, NaN, a lone
    surrogate) is an ``InvalidInputError``, before anything is stored."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError("metadata must be a dict with string keys")
    _json_value(value, "metadata", 0)
    if max_bytes is not None:
        size = len(json.dumps(value, ensure_ascii=False).encode())
        if size > max_bytes:
            raise InvalidInputError(
                f"metadata is {size} bytes as JSON; the limit is {max_bytes} "
                "(GRAPHMEM_MAX_METADATA_BYTES)"
            )
    return dict(value)


def _json_value(value: Any, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidInputError(f"{where} nests deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        string(value, where)
    elif isinstance(value, int):
        if abs(value) > MAX_INT:
            raise InvalidInputError(f"{where} is an integer beyond 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{where} is not a finite number")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _json_value(v, f"{where}[{i}]", depth + 1)
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str) or not k:
                raise InvalidInputError(f"{where} keys must be non-empty strings: {k!r:.80}")
            string(k, f"{where} key")
            _json_value(v, f"{where}[{k!r:.40}]", depth + 1)
    else:
        kind = type(value).__name__
        raise InvalidInputError(f"{where} holds a {kind}; only JSON values can be stored")


def item(
    value: Any, base: dict[str, Any], max_chars: int, max_metadata_bytes: int | None = None
) -> Input:
    """A string, a message list or ``{"messages", "metadata"?, "timestamp"?, "title"?,
    "context"?}``; its metadata is merged over ``base``."""
    if not isinstance(value, dict) or "messages" not in value:
        value = {"messages": value}
    msgs = messages(value["messages"], max_chars)
    meta = metadata({**base, **metadata(value.get("metadata"))}, max_metadata_bytes)
    title, context = value.get("title"), value.get("context") or ()
    if title is not None:
        title = name(title, "title")
    context = (context,) if isinstance(context, str) else context
    if not isinstance(context, list | tuple):
        raise InvalidInputError("context must be a string or a list of strings")
    before = tuple(c for c in context if string(c, "context"))[-READ_BEFORE:]
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
