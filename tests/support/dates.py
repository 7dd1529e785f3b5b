"""Dates and moments relative to now, computed when used (never at import: the suite may
run across midnight), for the dates tests send and the moments they freeze the clock at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any


def today() -> date:
    """Today's date in UTC, the calendar the API's dates are checked against."""
    return datetime.now(UTC).date()


def day(offset: int = 0) -> str:
    """The ISO date ``offset`` days from today: ``day(-1)`` is yesterday, ``day(30)`` a
    month ahead."""
    return str(today() + timedelta(days=offset))


def frozen_now() -> datetime:
    """A moment to freeze the clock at (``clock_at``): now, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Day:
    """A day relative to today in test parameters, made a date only when the test runs
    (``resolved``): ``Day(1, "T00:30:00Z")`` is half past midnight tomorrow."""

    offset: int
    suffix: str = ""

    def __str__(self) -> str:
        return day(self.offset) + self.suffix


def resolved(value: Any) -> Any:
    """``value`` with every ``Day`` in it (inside dicts and lists too) made its date."""
    if isinstance(value, Day):
        return str(value)
    if isinstance(value, dict):
        return {key: resolved(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [resolved(inner) for inner in value]
    return value
