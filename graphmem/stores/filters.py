"""Metadata filters (Mem0 style) → Chroma ``where`` clauses.

Accepted: ``{"key": value}`` (equality),
``{"key": {"eq"|"ne"|"in"|"nin"|"gt"|"gte"|"lt"|"lte": v}}``
and ``{"AND": [...]}`` / ``{"OR": [...]}`` (``$and``/``$or`` too), nested freely. Keys name user
metadata, except ``created_at``, ``updated_at`` and ``valid_from`` (ISO strings or epoch seconds).
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import InvalidInputError
from ..models import encodable, parse_ts

OPS = {"eq", "ne", "in", "nin", "gt", "gte", "lt", "lte"}
TIME_KEYS = {"created_at", "updated_at", "valid_from"}
META_PREFIX = "m:"


def meta_key(key: str) -> str:
    return key if key in TIME_KEYS else META_PREFIX + key


def _value(key: str, op: str, value: Any) -> Any:
    if key in TIME_KEYS:
        if isinstance(value, list):
            return [_value(key, op, v) for v in value]
        ts = parse_ts(value)
        if ts is None:
            raise InvalidInputError(f"filter on {key!r} needs a time")
        return ts.timestamp()
    if op in {"in", "nin"}:
        if not isinstance(value, list | tuple) or not value:
            raise InvalidInputError(f"filter {op!r} on {key!r} needs a non-empty list")
        return [_scalar(key, v) for v in value]
    if op in {"gt", "gte", "lt", "lte"} and (
        not isinstance(value, int | float) or isinstance(value, bool)
    ):
        raise InvalidInputError(f"filter {op!r} on {key!r} needs a number")
    return _scalar(key, value)


def _scalar(key: str, value: Any) -> Any:
    ok = isinstance(value, str | int | float | bool) and (
        encodable(value) if isinstance(value, str) else True
    )
    if isinstance(value, float) and not math.isfinite(value):
        ok = False
    if isinstance(value, int) and abs(value) > 2**63 - 1:
        ok = False
    if not ok:
        raise InvalidInputError(f"filter value for {key!r} must be a scalar: {value!r:.80}")
    return value


def _combine(op: str, clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {op: clauses}


def to_where(filters: dict[str, Any]) -> dict[str, Any]:
    """Translate ``filters`` into a Chroma ``where`` dict (raises :class:`InvalidInputError`)."""
    if not isinstance(filters, dict) or not filters:
        raise InvalidInputError("filters must be a non-empty dict")
    clauses: list[dict[str, Any]] = []
    for key, cond in filters.items():
        if not isinstance(key, str) or not key or not encodable(key):
            raise InvalidInputError(f"bad filter key: {key!r:.80}")
        if key.upper().lstrip("$") in {"AND", "OR"}:
            if not isinstance(cond, list) or not cond:
                raise InvalidInputError(f"{key} needs a non-empty list of filters")
            clauses.append(
                _combine("$" + key.upper().lstrip("$").lower(), [to_where(c) for c in cond])
            )
            continue
        if key.startswith("$"):
            raise InvalidInputError(f"unknown filter operator {key!r} (use AND or OR)")
        ops = cond if isinstance(cond, dict) else {"eq": cond}
        for op, value in ops.items():
            op_name = op.lstrip("$") if isinstance(op, str) else op
            if op_name not in OPS:
                raise InvalidInputError(f"unknown filter operator {op!r} (use {sorted(OPS)})")
            clauses.append({meta_key(key): {"$" + op_name: _value(key, op_name, value)}})
    return _combine("$and", clauses)
