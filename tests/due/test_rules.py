"""The due rules (SPEC §6.2-6.3): the worked examples of the issue, and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from amss.due.rules import (
    MAX_FORECAST_DAYS,
    UTC_ZONE,
    DueSoonWindow,
    Interval,
    Limits,
    Meters,
    Point,
    Rates,
    Tolerance,
    calendar_due,
    due_status,
    end_of_calendar_month,
    limits_from,
    next_limits_after_completion,
    projection,
    remaining,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
D = Decimal


def test_100_fh_from_1000_is_due_at_1100() -> None:
    limits = limits_from(Point(NOW, D("1000.0"), 0), Interval(hours=D(100)))
    assert limits.due_hours == D("1100.0")
    assert limits.due_at is None and limits.due_cycles is None


def test_hours_govern_when_flying_10_hours_a_day() -> None:
    limits = limits_from(Point(NOW, D("1000.0"), 0), Interval(hours=D(100), days=365))
    when, governing = projection(limits, Meters(D("1000.0"), 0), Rates(hours_per_day=D(10)), NOW)
    assert governing == "hours"
    assert when == NOW + timedelta(days=10)


def test_annual_in_calendar_months_runs_to_the_end_of_the_month() -> None:
    done = datetime(2024, 3, 5, 9, 30, tzinfo=UTC)
    limits = limits_from(Point(done, D(0), 0), Interval(months=12))
    assert limits.due_at == datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (datetime(2024, 1, 31, tzinfo=UTC), 1, datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)),
        (datetime(2023, 1, 31, tzinfo=UTC), 1, datetime(2023, 2, 28, 23, 59, 59, tzinfo=UTC)),
        (datetime(2024, 11, 15, tzinfo=UTC), 3, datetime(2025, 2, 28, 23, 59, 59, tzinfo=UTC)),
        (datetime(2024, 12, 1, tzinfo=UTC), 0, datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (
            datetime(2024, 3, 31, 23, 0, tzinfo=UTC),
            24,
            datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC),
        ),
    ],
)
def test_calendar_month_ends(start: datetime, months: int, end: datetime) -> None:
    assert end_of_calendar_month(start, months) == end


def test_day_intervals_end_at_the_end_of_the_local_day() -> None:
    """ "30 days" includes the 30th day (SPEC §6.2): due at its end, whatever the hour the
    work was signed."""
    at = datetime(2026, 1, 10, 14, 45, tzinfo=UTC)
    assert calendar_due(at, 30, None) == datetime(2026, 2, 9, 23, 59, 59, tzinfo=UTC)
    assert calendar_due(at, 400, 12) == datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC)


NEW_YORK = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")


def test_an_annual_signed_late_evening_in_new_york_is_due_at_the_end_of_that_local_month() -> None:
    """14 CFR 91.409(a): the annual runs to the end of the 12th calendar month after the
    month it was done in — the month on the operator's calendar. Signed at 20:30 on
    31 October in New York (already 1 November in UTC), it is due at the end of October
    next year, not November."""
    signed = datetime(2024, 10, 31, 20, 30, tzinfo=NEW_YORK)
    due = calendar_due(signed, None, 12, NEW_YORK)
    assert due == datetime(2025, 10, 31, 23, 59, 59, tzinfo=NEW_YORK)
    assert due == datetime(2025, 11, 1, 3, 59, 59, tzinfo=UTC)
    # Read in UTC, the same moment would have earned a month it was not owed.
    assert calendar_due(signed, None, 12) == datetime(2025, 11, 30, 23, 59, 59, tzinfo=UTC)


def test_the_end_of_a_month_is_local_midnight_less_a_second() -> None:
    """5 March 2024 + 12 calendar months in New York: the end of 31 March 2025 local,
    stored in UTC as 2025-04-01T03:59:59Z (SPEC §6.2)."""
    done = datetime(2024, 3, 5, 10, 0, tzinfo=NEW_YORK)
    assert end_of_calendar_month(done, 12, NEW_YORK) == datetime(2025, 4, 1, 3, 59, 59, tzinfo=UTC)


def test_a_day_interval_across_the_spring_change_ends_at_local_midnight() -> None:
    """Europe/Paris moves to summer time on 29 March 2026: ten days from 20 March end at
    23:59:59 CEST on 30 March, an hour earlier in UTC than in winter."""
    done = datetime(2026, 3, 20, 9, 0, tzinfo=PARIS)
    assert calendar_due(done, 10, None, PARIS) == datetime(2026, 3, 30, 21, 59, 59, tzinfo=UTC)


HUNDRED_HOUR = Interval(hours=D(100))
TEN_HOURS = Tolerance(hours=D(10))
DUE_1100 = Limits(due_hours=D(1100))


@pytest.mark.parametrize(
    ("basis", "done_at_hours", "next_due"),
    [
        ("scheduled", "1108", "1200"),  # late within tolerance: from the limit
        ("scheduled", "1087", "1187"),  # early: from the completion
        ("scheduled", "1100", "1200"),  # exactly at the limit
        ("scheduled", "1112", "1200"),  # beyond tolerance: the overrun is charged too
        ("actual", "1108", "1208"),
        ("actual", "1087", "1187"),
    ],
)
def test_next_due_basis(basis: str, done_at_hours: str, next_due: str) -> None:
    """14 CFR 91.409(b): the 10 hours a 100-hour may be overflown are charged to the next
    interval; under the scheduled basis even an irregular overrun beyond them is (a 100-hour
    overflown to 1,112 h against 1,100 is next due at 1,200, never 1,212)."""
    completion = Point(NOW, D(done_at_hours), 500)
    limits = next_limits_after_completion(DUE_1100, completion, HUNDRED_HOUR, basis)  # type: ignore[arg-type]
    assert limits.due_hours == D(next_due)


def test_scheduled_basis_works_per_meter_and_on_the_calendar() -> None:
    due_at = datetime(2026, 5, 31, 23, 59, 59, tzinfo=UTC)
    previous = Limits(due_at=due_at, due_hours=D(1100), due_cycles=800)
    completion = Point(due_at + timedelta(days=3), D("1090.0"), 805)
    limits = next_limits_after_completion(
        previous, completion, Interval(hours=D(100), cycles=400, months=12), "scheduled"
    )
    assert limits.due_hours == D("1190.0")  # early on hours: from the completion
    assert limits.due_cycles == 1200  # late within tolerance on cycles: from the limit
    assert limits.due_at == datetime(2027, 5, 31, 23, 59, 59, tzinfo=UTC)  # from the limit


def test_c_check_is_governed_by_hours_on_day_500() -> None:
    start = Point(NOW, D(0), 0)
    limits = limits_from(start, Interval(hours=D(7500), days=730))
    when, governing = projection(limits, Meters(D(0), 0), Rates(hours_per_day=D(15)), NOW)
    assert governing == "hours"
    assert when == NOW + timedelta(days=500)


WINDOW = DueSoonWindow(days=30, hours=D(25), cycles=25)


@pytest.mark.parametrize(
    ("hours", "status"),
    [
        ("1000", "ok"),
        ("1075", "due_soon"),  # 25 h left: inside the window
        ("1100", "due"),  # at the limit
        ("1110", "due"),  # at limit + tolerance: still within tolerance
        ("1110.1", "overdue"),  # past limit + tolerance
    ],
)
def test_due_status_with_tolerance(hours: str, status: str) -> None:
    assert due_status(DUE_1100, TEN_HOURS, Meters(D(hours), 0), NOW, WINDOW) == status


def test_calendar_tolerance_and_due_soon() -> None:
    limits = Limits(due_at=NOW)
    tolerance = Tolerance(days=10)
    assert due_status(limits, tolerance, Meters(D(0), 0), NOW - timedelta(days=31), WINDOW) == "ok"
    assert (
        due_status(limits, tolerance, Meters(D(0), 0), NOW - timedelta(days=29), WINDOW)
        == "due_soon"
    )
    assert due_status(limits, tolerance, Meters(D(0), 0), NOW + timedelta(days=9), WINDOW) == "due"
    assert (
        due_status(limits, tolerance, Meters(D(0), 0), NOW + timedelta(days=11), WINDOW)
        == "overdue"
    )


def test_no_rate_means_no_forecast_for_that_meter() -> None:
    limits = Limits(due_hours=D(1100), due_cycles=900)
    assert projection(limits, Meters(D(1000), 800), Rates(), NOW) == (None, None)
    when, governing = projection(limits, Meters(D(1000), 800), Rates(cycles_per_day=D(4)), NOW)
    assert (when, governing) == (NOW + timedelta(days=25), "cycles")


def test_remaining_is_limit_minus_meter() -> None:
    left = remaining(Limits(NOW + timedelta(days=2), D(1100), 900), Meters(D("1012.5"), 880), NOW)
    assert (left.hours, left.cycles, left.days) == (D("87.5"), 20, 2.0)


def test_an_interval_needs_a_limit() -> None:
    with pytest.raises(ValueError):
        Interval()


hours = st.decimals(min_value=0, max_value=100_000, places=1)
positive_hours = st.decimals(min_value=D("0.1"), max_value=20_000, places=1)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)
intervals = (
    st.tuples(
        st.none() | positive_hours,
        st.none() | st.integers(1, 20_000),
        st.none() | st.integers(1, 5000),
        st.none() | st.integers(1, 240),
    )
    .filter(lambda values: any(v is not None for v in values))
    .map(lambda values: Interval(*values))
)
rates = st.builds(
    Rates,
    hours_per_day=st.none() | st.decimals(min_value=D("0.1"), max_value=24, places=2),
    cycles_per_day=st.none() | st.decimals(min_value=D("0.1"), max_value=50, places=2),
)


ORDER = {"calendar": 0, "hours": 1, "cycles": 2}


def earliest_limit_date(
    limits: Limits, meters: Meters, rate: Rates, now: datetime
) -> tuple[datetime | None, str | None]:
    """SPEC §6.3 read literally: the calendar limit, and for each meter the date now +
    remaining / rate (none without a rate or beyond MAX_FORECAST_DAYS; now once the limit is
    reached, whatever the rate); the earliest, ties to the calendar, then hours, then
    cycles."""
    dates: list[tuple[datetime, str]] = []
    if limits.due_at is not None:
        dates.append((limits.due_at, "calendar"))
    for kind, due, current, per_day in (
        ("hours", limits.due_hours, meters.hours, rate.hours_per_day),
        ("cycles", limits.due_cycles, meters.cycles, rate.cycles_per_day),
    ):
        if due is None:
            continue
        if due <= current:  # a reached limit is due now (SPEC §6.3)
            dates.append((now, kind))
            continue
        if not per_day:
            continue
        days_left = D(due - current) / per_day
        if days_left <= MAX_FORECAST_DAYS:
            dates.append((now + timedelta(days=float(days_left)), kind))
    if not dates:
        return None, None
    return min(dates, key=lambda item: (item[0], ORDER[item[1]]))


@given(
    moments,
    hours,
    st.integers(0, 100_000),
    intervals,
    rates,
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
)
def test_projection_is_the_earliest_limit_date_as_meters_and_time_advance(
    at: datetime,
    start_hours: Decimal,
    start_cycles: int,
    interval: Interval,
    rate: Rates,
    elapsed: timedelta,
    hours_share: float,
    cycles_share: float,
) -> None:
    """From the limits set at ``at``, time moves on by ``elapsed`` and the meters by a share
    of up to twice what is left to each limit (so past it too): the projection is exactly
    the earliest limit date, and says which limit it is."""
    limits = limits_from(Point(at, start_hours, start_cycles), interval)
    flown = D(0)
    if limits.due_hours is not None:
        flown = (D(limits.due_hours - start_hours) * D(2 * hours_share)).quantize(D("0.1"))
    cycled = 0
    if limits.due_cycles is not None:
        cycled = int((limits.due_cycles - start_cycles) * 2 * cycles_share)
    now = at + elapsed
    meters = Meters(start_hours + flown, start_cycles + cycled)
    assert projection(limits, meters, rate, now) == earliest_limit_date(limits, meters, rate, now)


@given(
    moments,
    hours,
    intervals,
    st.decimals(min_value=D("0.1"), max_value=24, places=2),
    st.integers(0, 400),
)
def test_flying_at_the_forecast_rate_keeps_the_hours_date(
    at: datetime, start_hours: Decimal, interval: Interval, per_day: Decimal, days: int
) -> None:
    """Days pass and the aircraft flies exactly its rate: the hours forecast stays put."""
    limits = limits_from(Point(at, start_hours, 0), Interval(hours=interval.hours or D(100)))
    assert limits.due_hours is not None
    days = min(days, int((limits.due_hours - start_hours) / per_day))
    rate = Rates(hours_per_day=per_day)
    first, _ = projection(limits, Meters(start_hours, 0), rate, at)
    assume(first is not None)  # within the forecast horizon
    later, governing = projection(
        limits, Meters(start_hours + per_day * days, 0), rate, at + timedelta(days=days)
    )
    assert first is not None and later is not None and governing == "hours"
    assert abs(later - first) <= timedelta(milliseconds=1)  # float days, rounded to µs


@given(moments, hours, st.integers(0, 100_000), intervals, st.sampled_from(["actual", "scheduled"]))
def test_completing_exactly_at_the_limit_gives_limit_plus_interval(
    at: datetime, start_hours: Decimal, start_cycles: int, interval: Interval, basis: str
) -> None:
    limits = limits_from(Point(at, start_hours, start_cycles), interval)
    completion = Point(
        limits.due_at or at,
        limits.due_hours if limits.due_hours is not None else start_hours,
        limits.due_cycles if limits.due_cycles is not None else start_cycles,
    )
    following = next_limits_after_completion(
        limits,
        completion,
        interval,
        basis,  # type: ignore[arg-type]
    )
    assert following == limits_from(completion, interval)
    if limits.due_hours is not None:
        assert following.due_hours == limits.due_hours + interval.hours  # type: ignore[operator]
    if limits.due_cycles is not None:
        assert following.due_cycles == limits.due_cycles + interval.cycles  # type: ignore[operator]


@given(moments, positive_hours, positive_hours)
def test_scheduled_basis_never_gives_a_later_limit_than_actual(
    at: datetime, due_hours: Decimal, lateness: Decimal
) -> None:
    previous = Limits(due_hours=due_hours)
    completion = Point(at, due_hours + lateness, 0)
    interval = Interval(hours=D(100))
    scheduled = next_limits_after_completion(previous, completion, interval, "scheduled")
    actual = next_limits_after_completion(previous, completion, interval, "actual")
    assert scheduled.due_hours is not None and actual.due_hours is not None
    assert scheduled.due_hours <= actual.due_hours


@given(
    moments,
    positive_hours,
    st.integers(1, 20_000),
    st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=400)),
    st.decimals(min_value=D(-500), max_value=D(500), places=1),
    st.integers(-500, 500),
    st.sampled_from([UTC_ZONE, NEW_YORK, PARIS, ZoneInfo("Australia/Lord_Howe")]),
)
def test_completing_later_never_earns_a_later_next_due_under_the_scheduled_basis(
    due_at: datetime,
    due_hours: Decimal,
    due_cycles: int,
    offset: timedelta,
    hours_offset: Decimal,
    cycles_offset: int,
    where: ZoneInfo,
) -> None:
    """14 CFR 91.409(b) read strictly: however late (or early) the work, the next limits
    under the scheduled basis are never later than those of work done exactly at the limit,
    on every meter and on the local calendar."""
    assume(due_hours + hours_offset >= 0 and due_cycles + cycles_offset >= 0)
    previous = Limits(due_at=due_at, due_hours=due_hours, due_cycles=due_cycles)
    interval = Interval(hours=D(100), cycles=500, months=12)
    on_time = next_limits_after_completion(
        previous, Point(due_at, due_hours, due_cycles), interval, "scheduled", where
    )
    whenever = next_limits_after_completion(
        previous,
        Point(due_at + offset, due_hours + hours_offset, due_cycles + cycles_offset),
        interval,
        "scheduled",
        where,
    )
    assert whenever.due_at is not None and on_time.due_at is not None
    assert whenever.due_at <= on_time.due_at
    assert whenever.due_hours is not None and on_time.due_hours is not None
    assert whenever.due_hours <= on_time.due_hours
    assert whenever.due_cycles is not None and on_time.due_cycles is not None
    assert whenever.due_cycles <= on_time.due_cycles


def test_a_limit_reached_long_ago_projects_to_now_never_to_a_past_date() -> None:
    """SPEC §6.3: a task at due_hours 0 on an aircraft at 100,000 h flying 0.01 h/day is due
    now. now - 10,000,000 days is no date at all (it would overflow): the projection is now,
    so the due list and next_due put it first."""
    limits = Limits(due_hours=D(0))
    when, governing = projection(limits, Meters(D(100_000), 0), Rates(hours_per_day=D("0.01")), NOW)
    assert (when, governing) == (NOW, "hours")
    # Without any rate at all, a reached limit is still due now.
    assert projection(limits, Meters(D(100_000), 0), Rates(), NOW) == (NOW, "hours")
