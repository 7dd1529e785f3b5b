"""Dates and moments relative to now, computed when used (never at import: the suite may
run across midnight), for the dates tests send and the moments they freeze the clock at."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


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
