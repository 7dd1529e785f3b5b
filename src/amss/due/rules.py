"""When a requirement is due: pure interval, calendar, tolerance and forecast rules.

No I/O. The set-based SQL of the engine (``due.sql``) implements the same rules; property
tests hold the two to each other.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

# The task ledger's vocabulary: the state machine itself lives in ``tasks.rules``.
TaskState = Literal["scheduled", "in_progress", "completed", "cancelled"]
OPEN_STATES: tuple[TaskState, ...] = ("scheduled", "in_progress")
FINAL_STATES: tuple[TaskState, ...] = ("completed", "cancelled")

Basis = Literal["actual", "scheduled"]
DueStatus = Literal["ok", "due_soon", "due", "overdue"]
Governing = Literal["hours", "cycles", "calendar"]

SECONDS_PER_DAY = 86400
# A meter forecast further out than this is no forecast (and would overflow dates).
MAX_FORECAST_DAYS = 36500


@dataclass(frozen=True)
class Interval:
    """Repeat every ... whichever comes first."""

    hours: Decimal | None = None
    cycles: int | None = None
    days: int | None = None
    months: int | None = None

    def __post_init__(self) -> None:
        if self.hours is None and self.cycles is None and self.days is None and self.months is None:
            raise ValueError("an interval needs hours, cycles, days or months")


@dataclass(frozen=True)
class Tolerance:
    hours: Decimal | None = None
    cycles: int | None = None
    days: int | None = None


@dataclass(frozen=True)
class Point:
    """A moment read on all three clocks: date, flight hours, cycles."""

    at: datetime
    hours: Decimal
    cycles: int


@dataclass(frozen=True)
class Limits:
    due_at: datetime | None = None
    due_hours: Decimal | None = None
    due_cycles: int | None = None


@dataclass(frozen=True)
class Meters:
    hours: Decimal
    cycles: int


@dataclass(frozen=True)
class Rates:
    """Usage per day; None (or zero) gives that meter no forecast."""

    hours_per_day: Decimal | None = None
    cycles_per_day: Decimal | None = None


@dataclass(frozen=True)
class DueSoonWindow:
    days: int = 30
    hours: Decimal = Decimal(25)
    cycles: int = 25


@dataclass(frozen=True)
class Remaining:
    hours: Decimal | None
    cycles: int | None
    days: float | None


def end_of_calendar_month(at: datetime, months: int) -> datetime:
    """End (23:59:59 UTC) of the month ``months`` after ``at``'s month: the regulatory
    reading of "N calendar months" (5 March 2024 + 12 → 31 March 2025 23:59:59Z)."""
    at = at.astimezone(UTC)
    month_index = at.year * 12 + (at.month - 1) + months
    year, month = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return datetime(year, month + 1, last_day, 23, 59, 59, tzinfo=UTC)


def calendar_due(at: datetime, days: int | None, months: int | None) -> datetime | None:
    """Day intervals end at the same time of day; month intervals at the month's end."""
    candidates = []
    if days is not None:
        candidates.append(at + timedelta(days=days))
    if months is not None:
        candidates.append(end_of_calendar_month(at, months))
    return min(candidates) if candidates else None


def limits_from(point: Point, interval: Interval) -> Limits:
    return Limits(
        due_at=calendar_due(point.at, interval.days, interval.months),
        due_hours=point.hours + interval.hours if interval.hours is not None else None,
        due_cycles=point.cycles + interval.cycles if interval.cycles is not None else None,
    )


def _late_within_tolerance(
    done: Decimal | int, limit: Decimal | int | None, tolerance: Decimal | int | None
) -> bool:
    return limit is not None and limit < done <= limit + (tolerance or 0)


def next_basis(previous: Limits, completion: Point, tolerance: Tolerance, basis: Basis) -> Point:
    """The point the next interval counts from, meter by meter.

    ``actual``: the completion itself (no credit for early work). ``scheduled``: a meter on
    which the work was late but within tolerance counts from the limit it was due at (the
    overrun is charged to the next interval, 14 CFR 91.409(b)); early, on time, or beyond
    tolerance counts from the completion.
    """
    if basis == "actual":
        return completion
    hours = completion.hours
    if _late_within_tolerance(completion.hours, previous.due_hours, tolerance.hours):
        assert previous.due_hours is not None
        hours = previous.due_hours
    cycles = completion.cycles
    if _late_within_tolerance(completion.cycles, previous.due_cycles, tolerance.cycles):
        assert previous.due_cycles is not None
        cycles = previous.due_cycles
    at = completion.at
    if (
        previous.due_at is not None
        and previous.due_at < completion.at <= previous.due_at + timedelta(days=tolerance.days or 0)
    ):
        at = previous.due_at
    return Point(at=at, hours=hours, cycles=cycles)


def next_limits_after_completion(
    previous: Limits, completion: Point, interval: Interval, tolerance: Tolerance, basis: Basis
) -> Limits:
    """Limits of the next task once a task with ``previous`` limits is completed."""
    return limits_from(next_basis(previous, completion, tolerance, basis), interval)


def remaining(limits: Limits, meters: Meters, now: datetime) -> Remaining:
    return Remaining(
        hours=limits.due_hours - meters.hours if limits.due_hours is not None else None,
        cycles=limits.due_cycles - meters.cycles if limits.due_cycles is not None else None,
        days=(limits.due_at - now).total_seconds() / SECONDS_PER_DAY
        if limits.due_at is not None
        else None,
    )


def _projected(left: Decimal | int | None, rate: Decimal | None, now: datetime) -> datetime | None:
    if left is None or rate is None or rate <= 0:
        return None
    days = Decimal(left) / rate
    if days > MAX_FORECAST_DAYS:
        return None
    return now + timedelta(days=float(days))


def projection(
    limits: Limits, meters: Meters, rates: Rates, now: datetime
) -> tuple[datetime | None, Governing | None]:
    """The earliest of the calendar limit and each meter's forecast date, and which it is.

    Ties go to the calendar, then hours, then cycles (the SQL forecast uses the same order).
    """
    left = remaining(limits, meters, now)
    candidates: list[tuple[datetime, Governing]] = []
    if limits.due_at is not None:
        candidates.append((limits.due_at, "calendar"))
    by_hours = _projected(left.hours, rates.hours_per_day, now)
    if by_hours is not None:
        candidates.append((by_hours, "hours"))
    by_cycles = _projected(left.cycles, rates.cycles_per_day, now)
    if by_cycles is not None:
        candidates.append((by_cycles, "cycles"))
    if not candidates:
        return None, None
    order = {"calendar": 0, "hours": 1, "cycles": 2}
    when, governing = min(candidates, key=lambda item: (item[0], order[item[1]]))
    return when, governing


def due_status(
    limits: Limits, tolerance: Tolerance, meters: Meters, now: datetime, window: DueSoonWindow
) -> DueStatus:
    """``overdue``: a limit plus its tolerance is passed. ``due``: a limit is reached, within
    tolerance. ``due_soon``: a meter is within the organization's due-soon window."""
    hours_limit, cycles_limit, at_limit = limits.due_hours, limits.due_cycles, limits.due_at
    if (
        (hours_limit is not None and meters.hours > hours_limit + (tolerance.hours or 0))
        or (cycles_limit is not None and meters.cycles > cycles_limit + (tolerance.cycles or 0))
        or (at_limit is not None and now > at_limit + timedelta(days=tolerance.days or 0))
    ):
        return "overdue"
    if (
        (hours_limit is not None and meters.hours >= hours_limit)
        or (cycles_limit is not None and meters.cycles >= cycles_limit)
        or (at_limit is not None and now >= at_limit)
    ):
        return "due"
    left = remaining(limits, meters, now)
    if (
        (left.hours is not None and left.hours <= window.hours)
        or (left.cycles is not None and left.cycles <= window.cycles)
        or (left.days is not None and left.days <= window.days)
    ):
        return "due_soon"
    return "ok"
