"""Task generation and the forecast in SQL (SPEC §6.2-§6.4), against real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.due import rules
from amss.due.forecast import reproject
from amss.kit.timefmt import clock_at
from tests.support.api import Actor, ok
from tests.support.dates import frozen_now
from tests.support.factories import make_aircraft, make_org, make_task
from tests.support.steps import add_aircraft, add_program, open_tasks
from tests.support.tenant import Tenant

D = Decimal


class Planner:
    """A scheduler of a fresh organization, talking to the API."""

    def __init__(self, actor: Actor, org_id: uuid.UUID) -> None:
        self.actor, self.org_id = actor, org_id

    async def post(self, path: str, body: dict[str, Any], expect: int = 201) -> dict[str, Any]:
        result: dict[str, Any] = ok(await self.actor.post(path, body), expect)
        return result

    async def get(self, path: str) -> Any:
        return ok(await self.actor.get(path))

    async def aircraft(self, tail: str, model: str = "C172", **fields: Any) -> dict[str, Any]:
        return await add_aircraft(self.actor, tail_number=tail, model=model, **fields)

    async def program(self, **fields: Any) -> dict[str, Any]:
        return await add_program(self.actor, **{"name": "Inspection", **fields})

    async def open_tasks(self, aircraft_id: str) -> list[dict[str, Any]]:
        return await open_tasks(self.actor, aircraft_id)


@pytest.fixture
async def planner(tenant: Tenant) -> Planner:
    return Planner(tenant.as_("scheduler"), tenant.id)


async def test_100_hours_from_1000_and_the_forecast(planner: Planner) -> None:
    now = frozen_now()
    with clock_at(now):
        craft = await planner.aircraft("N100AB", flight_hours_total=1000.0, avg_daily_hours=10)
        await planner.program(
            name="100-hour", interval_hours=100, interval_days=365, aircraft_id=craft["id"]
        )
        [task] = await planner.open_tasks(craft["id"])
    assert task["due_hours"] == 1100.0
    assert task["governing_limit"] == "hours"
    assert task["remaining_hours"] == 100.0
    assert task["daily_hours_rate"] == 10.0
    projected = datetime.fromisoformat(task["projected_due_at"])
    assert projected == now + timedelta(days=10)
    assert task["title"] == "100-hour"
    assert task["notes"] == "Generated from maintenance program 100-hour"
    assert datetime.fromisoformat(task["end_time"]) == projected
    assert datetime.fromisoformat(task["start_time"]) == projected - timedelta(hours=2)
    assert (await planner.get(f"/aircraft/{craft['id']}"))["next_due"] == task["projected_due_at"]


async def test_annual_from_last_performed_is_due_at_the_end_of_the_month(planner: Planner) -> None:
    craft = await planner.aircraft("N200AB")
    await planner.program(
        name="Annual", interval_months=12, last_performed="2024-03-05", aircraft_id=craft["id"]
    )
    [task] = await planner.get(f"/maintenance-tasks?aircraft_id={craft['id']}")
    assert task["due_at"] == "2025-03-31T23:59:59Z"
    assert task["governing_limit"] == "calendar"
    # Long past: overdue, and the aircraft was grounded when the task appeared.
    assert task["due_status"] == "overdue"
    assert (await planner.get(f"/aircraft/{craft['id']}"))["status"] == "grounded"


async def test_c_check_is_governed_by_hours_on_day_500(planner: Planner) -> None:
    now = frozen_now()
    with clock_at(now):
        craft = await planner.aircraft("N300AB", model="A320", avg_daily_hours=15)
        await planner.program(
            name="C-check", interval_hours=7500, interval_days=730, aircraft_model="A320"
        )
        [task] = await planner.open_tasks(craft["id"])
    assert task["governing_limit"] == "hours"
    assert datetime.fromisoformat(task["projected_due_at"]) == now + timedelta(days=500)
    # 730 days: to the end of the 730th (UTC organization) day.
    day_730 = (now + timedelta(days=730)).date()
    assert datetime.fromisoformat(task["due_at"]) == datetime.combine(
        day_730, time(23, 59, 59), tzinfo=UTC
    )
    assert task["due_at"] > task["projected_due_at"]


async def test_original_single_interval_fields_are_accepted_and_returned(planner: Planner) -> None:
    program = await planner.program(name="Legacy", interval_type="flight_hours", interval_value=50)
    assert (program["interval_type"], program["interval_value"], program["interval_hours"]) == (
        "flight_hours",
        50.0,
        50.0,
    )
    monthly = await planner.program(name="Monthly", interval_months=1)
    assert (monthly["interval_type"], monthly["interval_value"]) == ("calendar", 30.0)


async def test_tolerance_makes_due_then_overdue_and_grounds(planner: Planner) -> None:
    craft = await planner.aircraft("N400AB", flight_hours_total=1000.0)
    await planner.program(
        name="100-hour", interval_hours=100, tolerance_hours=10, aircraft_id=craft["id"]
    )
    await planner.actor.patch(
        f"/api/v1/aircraft/{craft['id']}",
        json={"flight_hours_total": 1105.0},
    )
    [task] = await planner.open_tasks(craft["id"])
    assert task["due_status"] == "due"
    assert (await planner.get(f"/aircraft/{craft['id']}"))["status"] == "operational"
    await planner.actor.patch(
        f"/api/v1/aircraft/{craft['id']}",
        json={"flight_hours_total": 1110.5},
    )
    [task] = await planner.open_tasks(craft["id"])
    assert task["due_status"] == "overdue"
    assert (await planner.get(f"/aircraft/{craft['id']}"))["status"] == "grounded"
    grounding = await planner.get(f"/audit-logs?entity_id={craft['id']}&action=state_change")
    assert grounding and "overdue" in grounding[0]["details"]["reason"]


async def test_a_model_wide_program_on_50_aircraft_creates_50_tasks_once(
    planner: Planner, connection: AsyncConnection
) -> None:
    for number in range(50):
        await make_aircraft(connection, planner.org_id, tail_number=f"N{number:03d}F", model="B737")
    program = await planner.program(
        name="A-check", interval_hours=500, interval_days=120, aircraft_model="B737"
    )
    count = await connection.scalar(
        text("SELECT count(*) FROM maintenance_tasks WHERE program_id = :p"), {"p": program["id"]}
    )
    assert count == 50
    again = await planner.post(f"/maintenance-programs/{program['id']}/generate", {}, expect=200)
    assert again["generated"] == 0
    events = await connection.scalar(
        text(
            "SELECT count(*) FROM outbox_events"
            " WHERE org_id = :o AND event_type = 'program_task_generated'"
        ),
        {"o": planner.org_id},
    )
    assert events == 50
    audit = await planner.get("/audit-logs?entity_type=maintenance_task&action=create")
    assert audit[0]["details"]["generated"] == 50


async def test_a_late_last_done_record_is_charged_to_the_next_interval(
    planner: Planner,
) -> None:
    """14 CFR 91.409(b): a 100-hour recorded at 1,108 h against a limit of 1,100 (tolerance
    10, scheduled basis) counts the next interval from 1,100: due at 1,200."""
    craft = await planner.aircraft("N500AB", flight_hours_total=1000.0)
    program = await planner.program(
        name="100-hour",
        interval_hours=100,
        tolerance_hours=10,
        next_due_basis="scheduled",
        aircraft_id=craft["id"],
    )
    [task] = await planner.open_tasks(craft["id"])
    assert (task["due_hours"], task["basis_source"]) == (1100.0, "assumed")
    raised = await planner.actor.patch(
        f"/api/v1/aircraft/{craft['id']}",
        json={"flight_hours_total": 1110},
    )
    assert raised.status_code == 200, raised.text
    await planner.post(
        f"/aircraft/{craft['id']}/compliance-records",
        {
            "program_id": program["id"],
            "performed_at": datetime.now(UTC).isoformat(),
            "performed_hours": 1108,
            "reference": "Journey log 14, entry 3",
        },
    )
    [following] = await planner.open_tasks(craft["id"])
    assert following["id"] == task["id"]  # the open task is re-based, not replaced
    assert (following["due_hours"], following["basis_hours"]) == (1200.0, 1100.0)
    assert following["basis_source"] == "record"


async def test_a_cancelled_program_task_is_replaced_with_the_same_limits(
    planner: Planner, connection: AsyncConnection
) -> None:
    craft = await planner.aircraft("N600AB", flight_hours_total=250.0)
    program = await planner.program(
        name="Oil change", interval_hours=50, interval_months=4, aircraft_id=craft["id"]
    )
    [task] = await planner.open_tasks(craft["id"])
    await connection.execute(
        text(
            "UPDATE maintenance_tasks SET state = 'cancelled', cancel_reason = 'test'"
            " WHERE id = :id"
        ),
        {"id": task["id"]},
    )
    await planner.post(f"/maintenance-programs/{program['id']}/generate", {}, expect=200)
    [replacement] = await planner.open_tasks(craft["id"])
    assert replacement["id"] != task["id"]
    for field in ("due_at", "due_hours", "due_cycles"):
        assert replacement[field] == task[field]


async def test_deleting_a_program_cancels_its_open_tasks(planner: Planner) -> None:
    craft = await planner.aircraft("N700AB")
    program = await planner.program(name="Gear", interval_cycles=500, aircraft_id=craft["id"])
    response = await planner.actor.delete(f"/api/v1/maintenance-programs/{program['id']}")
    assert response.status_code == 204
    [task] = await planner.get(f"/maintenance-tasks?aircraft_id={craft['id']}")
    assert task["state"] == "cancelled"
    assert "deleted" in task["cancel_reason"]


async def test_changing_applicability_and_model_moves_tasks(planner: Planner) -> None:
    first = await planner.aircraft("N800AB", model="PA28")
    second = await planner.aircraft("N801AB", model="SR22")
    program = await planner.program(name="Prop", interval_hours=200, aircraft_model="PA28")
    assert len(await planner.open_tasks(first["id"])) == 1
    assert await planner.open_tasks(second["id"]) == []
    await planner.actor.patch(f"/api/v1/aircraft/{second['id']}", json={"model": "PA28"})
    assert len(await planner.open_tasks(second["id"])) == 1
    response = await planner.actor.patch(
        f"/api/v1/maintenance-programs/{program['id']}",
        json={"aircraft_model": "SR22"},
    )
    assert response.status_code == 200
    assert await planner.open_tasks(first["id"]) == []
    assert await planner.open_tasks(second["id"]) == []


async def test_changing_the_interval_moves_open_limits(planner: Planner) -> None:
    craft = await planner.aircraft("N900AB", flight_hours_total=300.0)
    program = await planner.program(name="100-hour", interval_hours=100, aircraft_id=craft["id"])
    response = await planner.actor.patch(
        f"/api/v1/maintenance-programs/{program['id']}",
        json={"interval_hours": 150},
    )
    assert response.status_code == 200
    [task] = await planner.open_tasks(craft["id"])
    assert task["due_hours"] == 450.0


async def test_utilization_reprojects_open_tasks(planner: Planner) -> None:
    now = frozen_now()
    with clock_at(now):
        craft = await planner.aircraft("N110AB", flight_hours_total=0.0, avg_daily_hours=1)
        await planner.program(name="50-hour", interval_hours=50, aircraft_id=craft["id"])
        [before] = await planner.open_tasks(craft["id"])
        for days_ago in range(5):
            await planner.post(
                f"/aircraft/{craft['id']}/utilization",
                {
                    "flight_date": str(now.date() - timedelta(days=days_ago)),
                    "flight_hours": 5,
                    "cycles": 2,
                },
            )
        [after] = await planner.open_tasks(craft["id"])
        due_list = await planner.get(f"/aircraft/{craft['id']}/due-list")
    assert datetime.fromisoformat(before["projected_due_at"]) == now + timedelta(days=50)
    assert after["remaining_hours"] == 25.0
    assert after["daily_hours_rate"] == 5.0
    assert datetime.fromisoformat(after["projected_due_at"]) == now + timedelta(days=5)
    assert [item["task_id"] for item in due_list] == [after["id"]]
    assert due_list[0]["due_status"] == "due_soon"


@pytest.mark.parametrize(
    ("due_offset_days", "tolerance_days", "hours", "due_hours", "tolerance_hours"),
    [
        (40, None, 0, None, None),
        (20, None, 0, None, None),
        (-1, 5, 0, None, None),
        (-6, 5, 0, None, None),
        (None, None, 980, 1000, 10),
        (None, None, 1000, 1000, 10),
        (None, None, 1011, 1000, 10),
        (100, None, 1011, 1000, None),
    ],
)
async def test_sql_due_status_agrees_with_the_rule(
    connection: AsyncConnection,
    due_offset_days: int | None,
    tolerance_days: int | None,
    hours: int,
    due_hours: int | None,
    tolerance_hours: int | None,
) -> None:
    from amss.due.sql import due_status as due_status_sql

    now = datetime(2026, 6, 1, tzinfo=UTC)
    due_at = now + timedelta(days=due_offset_days) if due_offset_days is not None else None
    org_id = await make_org(connection)
    craft = await make_aircraft(
        connection, org_id, tail_number="N1", model="M", flight_hours_total=hours
    )
    await make_task(
        connection,
        org_id,
        craft,
        title="t",
        due_at=due_at,
        due_hours=due_hours,
        tolerance_hours=tolerance_hours,
        tolerance_days=tolerance_days,
    )
    in_sql = await connection.scalar(
        text(
            f"SELECT {due_status_sql()} FROM maintenance_tasks t"
            " JOIN aircraft a ON a.id = t.aircraft_id "
            "JOIN org_policies pol ON pol.org_id = t.org_id WHERE t.org_id = :o"
        ),
        {"o": org_id, "now": now},
    )
    expected = rules.due_status(
        rules.Limits(due_at, D(due_hours) if due_hours is not None else None, None),
        rules.Tolerance(
            D(tolerance_hours) if tolerance_hours is not None else None, None, tolerance_days
        ),
        rules.Meters(D(hours), 0),
        now,
        rules.DueSoonWindow(),
    )
    assert in_sql == expected


async def test_sql_calendar_due_agrees_with_the_rule(connection: AsyncConnection) -> None:
    cases = [
        (datetime(2024, 3, 5, 9, 30, tzinfo=UTC), None, 12),
        (datetime(2024, 1, 31, 23, 0, tzinfo=UTC), None, 1),
        (datetime(2024, 1, 31, 23, 0, tzinfo=UTC), 45, 1),
        (datetime(2023, 12, 31, 12, 0, tzinfo=UTC), 10, None),
    ]
    for at, days, months in cases:
        in_sql = await connection.scalar(
            text("SELECT amss_calendar_due(:at, :days, :months, 'UTC')"),
            {"at": at, "days": days, "months": months},
        )
        assert in_sql == rules.calendar_due(at, days, months), (at, days, months)


@pytest.mark.parametrize(
    ("due_in_days", "due_hours", "due_cycles", "hours", "cycles", "per_day"),
    [
        (365, 1100, None, 1000, 0, (10, None)),  # hours govern: 10 days
        (5, 1100, None, 1000, 0, (10, None)),  # the calendar comes first
        (None, 1100, 900, 1090, 800, (2, 4)),  # 5 days by hours, 25 by cycles
        (None, 1100, 900, 1100, 899, (2, 4)),  # hours limit reached: now
        (None, 1100, 900, 1000, 800, (None, None)),  # no rate, no calendar: no projection
        (30, 5000, None, 0, 0, (D("0.1"), None)),  # beyond the forecast horizon by hours
    ],
)
async def test_sql_projection_agrees_with_the_rule(
    db: Database,
    connection: AsyncConnection,
    due_in_days: int | None,
    due_hours: int | None,
    due_cycles: int | None,
    hours: int,
    cycles: int,
    per_day: tuple[Decimal | int | None, Decimal | int | None],
) -> None:
    """The due list reads the SQL forecast: it gives the rule's date and governing limit."""
    now = frozen_now()
    due_at = now + timedelta(days=due_in_days) if due_in_days is not None else None
    org_id = await make_org(connection)
    craft = await make_aircraft(
        connection,
        org_id,
        tail_number="N1PJ",
        model="M",
        flight_hours_total=hours,
        cycles_total=cycles,
        avg_daily_hours=per_day[0],
        avg_daily_cycles=per_day[1],
    )
    task = await make_task(
        connection,
        org_id,
        craft,
        title="t",
        due_at=due_at,
        due_hours=due_hours,
        due_cycles=due_cycles,
    )
    async with UnitOfWork(db.session_factory) as uow:
        await reproject(uow.session, org_id, [craft], now)
        await uow.commit()
    row = (
        await connection.execute(
            text("SELECT projected_due_at, governing_limit FROM maintenance_tasks WHERE id = :t"),
            {"t": task},
        )
    ).one()
    when, governing = rules.projection(
        rules.Limits(
            due_at,
            D(due_hours) if due_hours is not None else None,
            due_cycles,
        ),
        rules.Meters(D(hours), cycles),
        rules.Rates(
            D(per_day[0]) if per_day[0] is not None else None,
            D(per_day[1]) if per_day[1] is not None else None,
        ),
        now,
    )
    assert row.governing_limit == governing
    if when is None:
        assert row.projected_due_at is None
    else:
        assert abs(row.projected_due_at - when) <= timedelta(milliseconds=1)
