"""The period a query names ("on May 3, 2023", "in December 2023", "in June"), so that facts
valid from then can rank first: a question anchored to a date asks about what was said then."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTH = "(" + "|".join(_MONTHS) + ")"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"((?:19|20)\d\d)"
_MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b")
_DAY_MONTH_YEAR = re.compile(rf"\b{_DAY}\s+{_MONTH},?\s+{_YEAR}\b")
_MONTH_YEAR = re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b")
_IN_MONTH = re.compile(rf"\b(?:in|during|early|late|mid)\s+{_MONTH}\b")
_IN_YEAR = re.compile(rf"\b(?:in|during|since|throughout)\s+{_YEAR}\b")
_PAST = re.compile(
    r"\b(?:used to|previous(?:ly)?|former(?:ly)?|before|earlier|originally|at first|"
    r"any ?more|no longer)\b|\bdid\b[^?.]*\buse to\b"
)
#: a ``where`` clause for superseded records
SUPERSEDED: dict[str, Any] = {"valid": False}


def as_of_where(at: datetime, where: dict[str, Any] | None = None) -> dict[str, Any]:
    """``where`` narrowed to the records that held at ``at``: begun by then and not ended.
    It keeps a record begun by its event time *or* its write time (a store cannot ask which
    one a record has), so a record written before ``at`` about a later event also passes:
    ``FactRecord.held_at`` decides."""
    t = at.timestamp()
    began = {"$or": [{"valid_from": {"$lte": t}}, {"created_at": {"$lte": t}}]}
    clauses = [began, {"$or": [{"valid": True}, {"invalid_at": {"$gt": t}}]}]
    return {"$and": [where, *clauses] if where else clauses}


def about_the_past(query: str) -> bool:
    """The query asks what held before ("Where did I live before?", "What did I use to
    like?"), so superseded memories are answers too."""
    return _PAST.search(query.lower()) is not None


@dataclass(frozen=True)
class Period:
    """``[start, end)``, or a month of any year (``month``) when the query names no year."""

    start: datetime | None = None
    end: datetime | None = None
    month: int | None = None

    def contains(self, at: datetime | None, slack: timedelta) -> bool:
        if at is None:
            return False
        if self.month is not None:
            return self.month in {at.month, (at - slack).month}
        assert self.start is not None and self.end is not None
        return self.start - slack <= at < self.end + slack

    def held(
        self, valid_from: datetime | None, invalid_at: datetime | None, slack: timedelta
    ) -> bool:
        """A superseded record ``[valid_from, invalid_at)`` held during the period. Not asked of
        a current record (each held during every later period) nor for a month of any year."""
        if invalid_at is None or self.start is None or self.end is None:
            return False
        began = valid_from is None or valid_from < self.end + slack
        return began and invalid_at >= self.start - slack

    def _bounds(self, slack: timedelta) -> tuple[float, float] | None:
        """The period widened by ``slack``, as timestamps (None for a month of any year)."""
        if self.start is None or self.end is None:
            return None
        return (self.start - slack).timestamp(), (self.end + slack).timestamp()

    def where(self, slack: timedelta) -> dict[str, Any] | None:
        """A Chroma ``where`` clause for facts valid from within the period."""
        if (b := self._bounds(slack)) is None:
            return None
        return {"$and": [{"valid_from": {"$gte": b[0]}}, {"valid_from": {"$lt": b[1]}}]}

    def held_where(self, slack: timedelta) -> dict[str, Any] | None:
        """A ``where`` clause for the superseded records that held during the period."""
        if (b := self._bounds(slack)) is None:
            return None
        return {"$and": [{"valid_from": {"$lt": b[1]}}, {"invalid_at": {"$gte": b[0]}}]}


def _date(year: str, month: str, day: str) -> datetime | None:
    try:
        return datetime(int(year), _MONTHS[month], int(day), tzinfo=UTC)
    except ValueError:  # "February 30"
        return None


def query_period(query: str) -> Period | None:
    """The first date the query names: a day, a month of a year, a month, or a year."""
    text = query.lower()
    if m := _MONTH_DAY_YEAR.search(text):
        day = _date(m.group(3), m.group(1), m.group(2))
    elif m := _DAY_MONTH_YEAR.search(text):
        day = _date(m.group(3), m.group(2), m.group(1))
    else:
        day = None
    if day is not None:
        return Period(day, day + timedelta(days=1))
    if m := _MONTH_YEAR.search(text):
        year, month = int(m.group(2)), _MONTHS[m.group(1)]
        start = datetime(year, month, 1, tzinfo=UTC)
        return Period(start, start + timedelta(days=calendar.monthrange(year, month)[1]))
    if m := _IN_MONTH.search(text):
        return Period(month=_MONTHS[m.group(1)])
    if m := _IN_YEAR.search(text):
        year = int(m.group(1))
        return Period(datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC))
    return None
