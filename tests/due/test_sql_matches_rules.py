"""The due rules in SQL and in Python give the same answers (SPEC §6.2-§6.3).

The engine computes limits, statuses, projections and bases set-based in PostgreSQL; the
API explains them with ``due.rules``. One hypothesis strategy feeds both: each example is a
batch of cases sent to the database in one query (``unnest``), and every row must equal
the Python rule — across hours, cycles, days and months, time zones and DST dates.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text

from amss.db.engine import connection_options, sqlalchemy_url
from amss.due import rules, sql

D = Decimal
ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Australia/Lord_Howe",  # a 30-minute daylight-saving shift
    "Pacific/Chatham",  # +12:45 / +13:45
    "Asia/Kathmandu",  # +05:45, no DST
    "America/Santiago",  # DST changes at midnight
]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BATCH = st.integers(1, 25)
# Around DST changes too: any instant between 2000 and 2060.
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)
hours = st.decimals(min_value=0, max_value=200_000, places=1)
cycles = st.integers(0, 200_000)
RUNS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    """A synchronous engine on the test database, with the application's session options
    (UTC session time zone): hypothesis drives plain functions."""
    made = create_engine(
        sqlalchemy_url(database_url), connect_args={"options": connection_options()}
    )
    yield made
    made.dispose()


def _rows(engine: Engine, statement: str, params: dict[str, Any]) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(statement), params))


calendar_cases = st.lists(
    st.tuples(
        moments,
        st.none() | st.integers(1, 3650),
        st.none() | st.integers(0, 240),
        st.sampled_from(ZONES),
    ).filter(lambda case: case[1] is not None or case[2] is not None),
    min_size=1,
    max_size=25,
)


@RUNS
@given(calendar_cases)
def test_the_calendar_limit(
    engine: Engine, cases: list[tuple[datetime, int | None, int | None, str]]
) -> None:
    """Day and calendar-month limits on the organization's local calendar (14 CFR 91.409)."""
    rows = _rows(
        engine,
        f"""SELECT x.i, {sql.calendar_due("x.at", "x.days", "x.months", "x.zone")} AS due
            FROM unnest(CAST(:i AS int[]), CAST(:at AS timestamptz[]), CAST(:days AS int[]),
                        CAST(:months AS int[]), CAST(:zone AS text[]))
                 AS x(i, at, days, months, zone)
            ORDER BY x.i""",
        {
            "i": list(range(len(cases))),
            "at": [c[0] for c in cases],
            "days": [c[1] for c in cases],
            "months": [c[2] for c in cases],
            "zone": [c[3] for c in cases],
        },
    )
    for row, (at, days, months, zone) in zip(rows, cases, strict=True):
        assert row.due == rules.calendar_due(at, days, months, ZoneInfo(zone)), (
            at,
            days,
            months,
            zone,
        )


status_cases = st.lists(
    st.tuples(
        st.none() | st.integers(-4000, 4000),  # due_at, minutes from now
        st.none() | hours,
        st.none() | cycles,
        st.none() | st.decimals(min_value=0, max_value=50, places=1),
        st.none() | st.integers(0, 50),
        st.none() | st.integers(0, 10),
        hours,
        cycles,
        st.integers(0, 90),
        st.decimals(min_value=0, max_value=100, places=1),
        st.integers(0, 100),
    ),
    min_size=1,
    max_size=25,
)


@RUNS
@given(status_cases)
def test_the_due_status(engine: Engine, cases: list[tuple[Any, ...]]) -> None:
    """``overdue`` past limit + tolerance, ``due`` at the limit, ``due_soon`` inside the
    policy's window, on every meter."""
    columns = list(zip(*cases, strict=True))
    due_at = [NOW + timedelta(minutes=m) if m is not None else None for m in columns[0]]
    rows = _rows(
        engine,
        f"""SELECT x.i, {sql.due_status("t", "a", "pol")} AS status
            FROM unnest(CAST(:i AS int[]), CAST(:due_at AS timestamptz[]),
                        CAST(:due_hours AS numeric[]), CAST(:due_cycles AS int[]),
                        CAST(:tol_h AS numeric[]), CAST(:tol_c AS int[]), CAST(:tol_d AS int[]),
                        CAST(:hours AS numeric[]), CAST(:cycles AS int[]),
                        CAST(:ds_days AS int[]), CAST(:ds_hours AS numeric[]),
                        CAST(:ds_cycles AS int[]))
                 AS x(i, due_at, due_hours, due_cycles, tol_h, tol_c, tol_d, hours, cycles,
                      ds_days, ds_hours, ds_cycles)
            CROSS JOIN LATERAL (SELECT x.due_at, x.due_hours, x.due_cycles,
                                       x.tol_h AS tolerance_hours, x.tol_c AS tolerance_cycles,
                                       x.tol_d AS tolerance_days) t
            CROSS JOIN LATERAL (SELECT x.hours AS flight_hours_total,
                                       x.cycles AS cycles_total) a
            CROSS JOIN LATERAL (SELECT x.ds_days AS due_soon_days, x.ds_hours AS due_soon_hours,
                                       x.ds_cycles AS due_soon_cycles) pol
            ORDER BY x.i""",
        {
            "now": NOW,
            "i": list(range(len(cases))),
            "due_at": due_at,
            "due_hours": list(columns[1]),
            "due_cycles": list(columns[2]),
            "tol_h": list(columns[3]),
            "tol_c": list(columns[4]),
            "tol_d": list(columns[5]),
            "hours": list(columns[6]),
            "cycles": list(columns[7]),
            "ds_days": list(columns[8]),
            "ds_hours": list(columns[9]),
            "ds_cycles": list(columns[10]),
        },
    )
    for row, case, at in zip(rows, cases, due_at, strict=True):
        expected = rules.due_status(
            rules.Limits(due_at=at, due_hours=case[1], due_cycles=case[2]),
            rules.Tolerance(hours=case[3], cycles=case[4], days=case[5]),
            rules.Meters(case[6], case[7]),
            NOW,
            rules.DueSoonWindow(days=case[8], hours=case[9], cycles=case[10]),
        )
        assert row.status == expected, case


rates = st.none() | st.decimals(min_value=D("0.01"), max_value=50, places=2)
projection_cases = st.lists(
    st.tuples(
        st.none() | st.integers(-10_000, 40_000),  # due_at, hours from now
        st.none() | hours,
        st.none() | cycles,
        hours,
        cycles,
        rates,
        rates,
    ),
    min_size=1,
    max_size=25,
)


@RUNS
@given(projection_cases)
def test_the_projection_and_its_governing_limit(
    engine: Engine, cases: list[tuple[Any, ...]]
) -> None:
    """The earliest of the calendar limit and each meter's forecast; a reached limit
    projects to now however large the overrun or small the rate; ties to the calendar,
    then hours, then cycles."""
    columns = list(zip(*cases, strict=True))
    due_at = [NOW + timedelta(hours=h) if h is not None else None for h in columns[0]]
    rows = _rows(
        engine,
        f"""SELECT i, LEAST(due_at, by_hours, by_cycles) AS projected,
                   {sql.governing("LEAST(due_at, by_hours, by_cycles)", "due_at", "by_hours")}
                       AS governing
            FROM (SELECT x.i, x.due_at,
                         {sql.meter_date("x.due_hours", "x.hours", "x.rate_h")} AS by_hours,
                         {sql.meter_date("x.due_cycles", "x.cycles", "x.rate_c")} AS by_cycles
                  FROM unnest(CAST(:i AS int[]), CAST(:due_at AS timestamptz[]),
                              CAST(:due_hours AS numeric[]), CAST(:due_cycles AS int[]),
                              CAST(:hours AS numeric[]), CAST(:cycles AS int[]),
                              CAST(:rate_h AS numeric[]), CAST(:rate_c AS numeric[]))
                       AS x(i, due_at, due_hours, due_cycles, hours, cycles, rate_h, rate_c)
                 ) f
            ORDER BY i""",
        {
            "now": NOW,
            "i": list(range(len(cases))),
            "due_at": due_at,
            "due_hours": list(columns[1]),
            "due_cycles": list(columns[2]),
            "hours": list(columns[3]),
            "cycles": list(columns[4]),
            "rate_h": list(columns[5]),
            "rate_c": list(columns[6]),
        },
    )
    for row, case, at in zip(rows, cases, due_at, strict=True):
        limits = rules.Limits(due_at=at, due_hours=case[1], due_cycles=case[2])
        when, governing = rules.projection(
            limits, rules.Meters(case[3], case[4]), rules.Rates(case[5], case[6]), NOW
        )
        if when is None:
            assert (row.projected, row.governing) == (None, None), case
            continue
        # Days are a float in both; the database rounds to whole microseconds its own way.
        assert abs(row.projected - when) <= timedelta(microseconds=2), case
        if row.governing != governing:
            # Only two candidates within those microseconds of each other may swap.
            candidates = _candidates(limits, case, at)
            assert abs(candidates[row.governing] - candidates[governing]) <= timedelta(
                microseconds=2
            ), case


def _candidates(
    limits: rules.Limits, case: tuple[Any, ...], at: datetime | None
) -> dict[str, datetime]:
    found: dict[str, datetime] = {}
    if at is not None:
        found["calendar"] = at
    for kind, due, current, rate in (
        ("hours", limits.due_hours, case[3], case[5]),
        ("cycles", limits.due_cycles, case[4], case[6]),
    ):
        when, _ = rules.projection(
            rules.Limits(due_hours=due) if kind == "hours" else rules.Limits(due_cycles=due),
            rules.Meters(current if kind == "hours" else D(0), current if kind == "cycles" else 0),
            rules.Rates(rate, None) if kind == "hours" else rules.Rates(None, rate),
            NOW,
        )
        if when is not None:
            found[kind] = when
    return found


basis_cases = st.lists(
    st.tuples(
        moments,
        st.none() | moments,
        hours,
        st.none() | hours,
        cycles,
        st.none() | cycles,
        st.sampled_from(["actual", "scheduled"]),
    ),
    min_size=1,
    max_size=25,
)


@RUNS
@given(basis_cases)
def test_the_next_basis(engine: Engine, cases: list[tuple[Any, ...]]) -> None:
    """Where the next interval counts from: the work done, or under the scheduled basis the
    limit late work was due at (14 CFR 91.409(b)), meter by meter."""
    columns = list(zip(*cases, strict=True))
    rows = _rows(
        engine,
        f"""SELECT x.i,
                   {sql.next_basis("x.done_at", "x.due_at", "x.basis")} AS at,
                   {sql.next_basis("x.done_hours", "x.due_hours", "x.basis")} AS hours,
                   {sql.next_basis("x.done_cycles", "x.due_cycles", "x.basis")} AS cycles
            FROM unnest(CAST(:i AS int[]), CAST(:done_at AS timestamptz[]),
                        CAST(:due_at AS timestamptz[]), CAST(:done_hours AS numeric[]),
                        CAST(:due_hours AS numeric[]), CAST(:done_cycles AS int[]),
                        CAST(:due_cycles AS int[]), CAST(:basis AS text[]))
                 AS x(i, done_at, due_at, done_hours, due_hours, done_cycles, due_cycles, basis)
            ORDER BY x.i""",
        {
            "i": list(range(len(cases))),
            "done_at": list(columns[0]),
            "due_at": list(columns[1]),
            "done_hours": list(columns[2]),
            "due_hours": list(columns[3]),
            "done_cycles": list(columns[4]),
            "due_cycles": list(columns[5]),
            "basis": list(columns[6]),
        },
    )
    for row, case in zip(rows, cases, strict=True):
        expected = rules.next_basis(
            rules.Limits(due_at=case[1], due_hours=case[3], due_cycles=case[5]),
            rules.Point(at=case[0], hours=case[2], cycles=case[4]),
            case[6],
        )
        assert (row.at, row.hours, row.cycles) == (expected.at, expected.hours, expected.cycles), (
            case
        )
