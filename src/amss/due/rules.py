"""When a requirement is due: pure interval, calendar, tolerance and forecast rules.

No I/O. The set-based SQL of the engine (``due.sql``) implements the same rules; property
tests hold the two to each other.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from amss.kit.errors import invalid

# The task ledger's vocabulary: the state machine itself lives in ``tasks.rules``.
TaskState = Literal["scheduled", "in_progress", "completed", "cancelled"]
OPEN_STATES: tuple[TaskState, ...] = ("scheduled", "in_progress")
FINAL_STATES: tuple[TaskState, ...] = ("completed", "cancelled")

Basis = Literal["actual", "scheduled"]
DueStatus = Literal["ok", "due_soon", "due", "overdue"]
Governing = Literal["hours", "cycles", "calendar"]

SECONDS_PER_DAY = 86400
UTC_ZONE = ZoneInfo("UTC")
END_OF_DAY = time(23, 59, 59)
T = TypeVar("T", datetime, Decimal, int)
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

    @classmethod
    def of(cls, program: Mapping[Any, Any]) -> Interval:
        """A program's interval, from its row."""
        return cls(
            hours=program["interval_hours"],
            cycles=program["interval_cycles"],
            days=program["interval_days"],
            months=program["interval_months"],
        )


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


def _end_of_local_day(day: date, zone: ZoneInfo) -> datetime:
    """23:59:59 local on ``day``, in UTC."""
    return datetime.combine(day, END_OF_DAY, tzinfo=zone).astimezone(UTC)


def end_of_calendar_month(at: datetime, months: int, zone: ZoneInfo = UTC_ZONE) -> datetime:
    """End (23:59:59 local) of the month ``months`` after ``at``'s local month: the
    regulatory reading of "N calendar months" (5 March 2024 + 12 → 31 March 2025 23:59:59
    local). The month of the event is its local date: an annual signed at 20:30 on
    31 October in New York is due at the end of October next year, not November."""
    local = at.astimezone(zone).date()
    month_index = local.year * 12 + (local.month - 1) + months
    year, month = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return _end_of_local_day(date(year, month + 1, last_day), zone)


def calendar_due(
    at: datetime, days: int | None, months: int | None, zone: ZoneInfo = UTC_ZONE
) -> datetime | None:
    """Day intervals end at the end of the local day N days after the event's local date
    ("30 days" includes the 30th day); month intervals at the end of the month."""
    candidates = []
    if days is not None:
        candidates.append(_end_of_local_day(at.astimezone(zone).date() + timedelta(days), zone))
    if months is not None:
        candidates.append(end_of_calendar_month(at, months, zone))
    return min(candidates) if candidates else None


def limits_from(point: Point, interval: Interval, zone: ZoneInfo = UTC_ZONE) -> Limits:
    return Limits(
        due_at=calendar_due(point.at, interval.days, interval.months, zone),
        due_hours=point.hours + interval.hours if interval.hours is not None else None,
        due_cycles=point.cycles + interval.cycles if interval.cycles is not None else None,
    )


def _late(done: T, limit: T | None) -> bool:
    return limit is not None and done > limit


def next_basis(previous: Limits, completion: Point, basis: Basis) -> Point:
    """The point the next interval counts from, meter by meter.

    ``actual``: the completion itself (no credit for early work). ``scheduled``: a meter on
    which the work was late — within tolerance or, irregularly, beyond it — counts from the
    limit it was due at, so the overrun is charged to the next interval (14 CFR 91.409(b)):
    finishing later never earns a later next due. Early or on time counts from the
    completion (no credit for early work either).
    """
    if basis == "actual":
        return completion
    at, hours, cycles = completion.at, completion.hours, completion.cycles
    if previous.due_at is not None and _late(at, previous.due_at):
        at = previous.due_at
    if previous.due_hours is not None and _late(hours, previous.due_hours):
        hours = previous.due_hours
    if previous.due_cycles is not None and _late(cycles, previous.due_cycles):
        cycles = previous.due_cycles
    return Point(at=at, hours=hours, cycles=cycles)


def next_limits_after_completion(
    previous: Limits,
    completion: Point,
    interval: Interval,
    basis: Basis,
    zone: ZoneInfo = UTC_ZONE,
) -> Limits:
    """Limits of the next task once a task with ``previous`` limits is completed."""
    return limits_from(next_basis(previous, completion, basis), interval, zone)


def remaining(limits: Limits, meters: Meters, now: datetime) -> Remaining:
    return Remaining(
        hours=limits.due_hours - meters.hours if limits.due_hours is not None else None,
        cycles=limits.due_cycles - meters.cycles if limits.due_cycles is not None else None,
        days=(limits.due_at - now).total_seconds() / SECONDS_PER_DAY
        if limits.due_at is not None
        else None,
    )


def _projected(left: Decimal | int | None, rate: Decimal | None, now: datetime) -> datetime | None:
    """When a meter reaches its limit at ``rate`` per day. A limit already reached projects
    to now — never to a computed date in the past, so no overrun overflows a date."""
    if left is None:
        return None
    if left <= 0:
        return now
    if rate is None or rate <= 0:
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


def applies(program: Mapping[Any, Any], craft: Mapping[Any, Any]) -> bool:
    """Whether a program applies to an aircraft (SPEC §6.2): that one aircraft, every
    aircraft of its model, or, with neither, every aircraft (``due.sql.APPLIES``)."""
    if program["aircraft_id"] is not None:
        return bool(program["aircraft_id"] == craft["id"])
    if program["aircraft_model"] is not None:
        return bool(program["aircraft_model"] == craft["model"])
    return True


@dataclass(frozen=True)
class AnchorFields:
    """How a request names the point of an accomplishment (for its error messages)."""

    at: str = "performed_at"
    hours: str = "performed_hours"
    cycles: str = "performed_cycles"


def check_anchors(
    names: AnchorFields,
    *,
    interval: Interval,
    at: datetime,
    hours: Decimal | None,
    cycles: int | None,
    meters: Meters,
    now: datetime,
) -> None:
    """One event carries one set of anchors (SPEC §6.2): the hours (cycles) at which it was
    done when the requirement counts hours (cycles), none above today's meters, and never a
    moment in the future."""
    if at > now:
        raise invalid(names.at, f"{at.isoformat()} is in the future")
    if interval.hours is not None and hours is None:
        raise invalid(names.hours, "required: the requirement has an hours interval")
    if interval.cycles is not None and cycles is None:
        raise invalid(names.cycles, "required: the requirement has a cycles interval")
    if hours is not None and hours > meters.hours:
        raise invalid(names.hours, f"is above the aircraft's hours meter ({meters.hours})")
    if cycles is not None and cycles > meters.cycles:
        raise invalid(names.cycles, f"is above the aircraft's cycles meter ({meters.cycles})")
