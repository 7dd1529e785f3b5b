"""The periodic sweep over time and under concurrency (SPEC §6.3, §6.4, §6.6, §10).

Time moves with the injected clock (``clock_at``): a due-soon window opening, a calendar
limit passing, tolerance running out. Concurrency is real: two sweeps are held at the same
point (both seen waiting on a lock in ``pg_locks``), then released together.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import Caller
from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.due import jobs
from amss.due.generator import generate
from amss.kit.timefmt import clock_at
from tests.support.api import Actor
from tests.support.dates import frozen_now
from tests.support.factories import make_aircraft, make_org, make_program, make_record
from tests.support.polling import until_waiting_on_locks
from tests.support.tenant import Tenant

T = TypeVar("T")


@asynccontextmanager
async def tasks_table_held(database: Database) -> AsyncIterator[None]:
    """Hold maintenance_tasks against writers; released (rolled back) when the block ends."""
    async with database.engine.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(text("LOCK TABLE maintenance_tasks IN SHARE ROW EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await transaction.rollback()


async def together(database: Database, *runs: Awaitable[T]) -> list[T]:
    """Start every run, see all of them waiting to write tasks, then let them go at once."""

    async with tasks_table_held(database):
        started = [asyncio.ensure_future(run) for run in runs]
        try:
            # Waiting on the held task table, or (sweeps lock their organization's aircraft
            # first) on an aircraft row another sweep holds.
            await until_waiting_on_locks(database, len(runs), timeout=30)
        except BaseException:
            for task in started:
                task.cancel()
            raise
    return list(await asyncio.gather(*started))


async def test_two_concurrent_sweeps_create_no_duplicates(database: Database) -> None:
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Sweep {uuid.uuid4().hex[:8]}")
        await conn.execute(
            text(
                "INSERT INTO aircraft (org_id, tail_number, model) "
                "SELECT :o, 'N' || g, 'DA40' FROM generate_series(1, 40) AS g"
            ),
            {"o": org_id},
        )
        await make_program(conn, org_id, name="50-hour", aircraft_model="DA40", interval_hours=50)
        await make_program(conn, org_id, name="Fleet 100-hour", interval_hours=100)

    async def sweep() -> int:
        async with UnitOfWork(database.session_factory) as uow:
            made = await generate(
                uow.session,
                Caller.system(org_id),
                now=datetime.now(UTC),
                reason="sweep",
            )
            await uow.commit()
            return len(made)

    first, second = await together(database, sweep(), sweep())
    assert sorted([first, second]) == [0, 80]  # one made them all, the other found them
    async with database.engine.connect() as conn:
        per_pair = await conn.execute(
            text(
                "SELECT count(*) AS n FROM maintenance_tasks WHERE org_id = :o"
                " GROUP BY program_id, aircraft_id"
            ),
            {"o": org_id},
        )
        counts = [row.n for row in per_pair]
    assert len(counts) == 80 and set(counts) == {1}


async def test_two_concurrent_full_sweeps_generate_ground_and_tell_once(
    database: Database,
) -> None:
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Ground {uuid.uuid4().hex[:8]}")
        craft = await make_aircraft(
            conn, org_id, tail_number="N1GR", model="PA28", flight_hours_total=480
        )
        # Done at 370 h, due at 470 h, flown to 480 h: overdue as soon as the task exists.
        program = await make_program(conn, org_id, name="100-hour", interval_hours=100)
        await make_record(conn, org_id, program, craft, days_ago=30, hours=370)

    first, second = await together(database, jobs.sweep(database), jobs.sweep(database))
    assert first.grounded + second.grounded >= 1
    async with database.engine.connect() as conn:
        tasks = await conn.scalar(
            text("SELECT count(*) FROM maintenance_tasks WHERE org_id = :o"), {"o": org_id}
        )
        status = await conn.scalar(text("SELECT status FROM aircraft WHERE id = :a"), {"a": craft})
        events = await conn.execute(
            text(
                "SELECT event_type, count(*) AS n FROM outbox_events WHERE org_id = :o"
                " GROUP BY event_type"
            ),
            {"o": org_id},
        )
        by_type = {row.event_type: row.n for row in events}
        groundings = await conn.scalar(
            text(
                "SELECT count(*) FROM audit_logs WHERE org_id = :o AND entity_id = :a"
                " AND action = 'state_change'"
            ),
            {"o": org_id, "a": craft},
        )
    assert tasks == 1
    assert status == "grounded"
    assert by_type == {
        "program_task_generated": 1,
        "task_overdue": 1,
        "aircraft_status_updated": 1,
    }
    assert groundings == 1


class Hangar:
    """A scheduler of a fresh organization, with every call made at a given moment."""

    def __init__(self, actor: Actor, org_id: uuid.UUID):
        self.actor, self.org_id = actor, org_id

    async def call(self, at: datetime, method: str, path: str, body: Any = None) -> Any:
        with clock_at(at):
            response = await self.actor.request(method, path, json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()


@pytest.fixture
async def hangar(tenant: Tenant) -> Hangar:
    return Hangar(tenant.as_("scheduler"), tenant.id)


async def sweep_at(db: Database, moment: datetime) -> jobs.SweepResult:
    with clock_at(moment):
        return await jobs.sweep(db)


async def told(connection: AsyncConnection, org_id: uuid.UUID) -> dict[str, int]:
    rows = await connection.execute(
        text(
            "SELECT event_type, count(*) AS n FROM outbox_events WHERE org_id = :o"
            " AND event_type IN ('task_due_soon', 'task_overdue', 'aircraft_status_updated')"
            " GROUP BY event_type"
        ),
        {"o": org_id},
    )
    return {row.event_type: row.n for row in rows}


async def test_due_soon_due_and_overdue_arrive_with_time_and_are_told_once(
    hangar: Hangar, db: Database, connection: AsyncConnection
) -> None:
    start = frozen_now()
    craft = await hangar.call(start, "POST", "/aircraft", {"tail_number": "N60D", "model": "C172"})
    await hangar.call(
        start,
        "POST",
        "/maintenance-programs",
        {"name": "60-day", "interval_days": 60, "tolerance_days": 5, "aircraft_id": craft["id"]},
    )
    [task] = await hangar.call(start, "GET", f"/maintenance-tasks?aircraft_id={craft['id']}")
    # 60 days counted from the injected now, to the end of the 60th day (UTC organization).
    due_at = datetime.combine((start + timedelta(days=60)).date(), time(23, 59, 59), tzinfo=UTC)
    assert datetime.fromisoformat(task["due_at"]) == due_at

    async def status_at(moment: datetime) -> tuple[str, str]:
        await sweep_at(db, moment)
        current = await hangar.call(moment, "GET", f"/maintenance-tasks/{task['id']}")
        aircraft = await hangar.call(moment, "GET", f"/aircraft/{craft['id']}")
        return current["due_status"], aircraft["status"]

    # 31 days left: outside the 30-day window.
    assert await status_at(due_at - timedelta(days=31)) == ("ok", "operational")
    assert await told(connection, hangar.org_id) == {}
    # 29 days left: due soon, told once however often the sweep runs.
    assert await status_at(due_at - timedelta(days=29)) == ("due_soon", "operational")
    assert await status_at(due_at - timedelta(days=28)) == ("due_soon", "operational")
    assert await told(connection, hangar.org_id) == {"task_due_soon": 1}
    due_list = await hangar.call(
        due_at - timedelta(days=28), "GET", f"/aircraft/{craft['id']}/due-list"
    )
    assert [(i["task_id"], i["due_status"], i["remaining_days"]) for i in due_list] == [
        (task["id"], "due_soon", 28.0)
    ]
    # The limit passed, within the 5 days of tolerance: due, not yet grounding.
    assert await status_at(due_at + timedelta(days=1)) == ("due", "operational")
    assert await told(connection, hangar.org_id) == {"task_due_soon": 1}
    # Tolerance run out: overdue, the aircraft grounded, each told once.
    assert await status_at(due_at + timedelta(days=5, seconds=1)) == ("overdue", "grounded")
    assert await status_at(due_at + timedelta(days=6)) == ("overdue", "grounded")
    assert await told(connection, hangar.org_id) == {
        "task_due_soon": 1,
        "task_overdue": 1,
        "aircraft_status_updated": 1,
    }


async def test_a_calendar_month_limit_turns_due_on_its_last_second(
    hangar: Hangar, db: Database, connection: AsyncConnection
) -> None:
    start = frozen_now()
    craft = await hangar.call(start, "POST", "/aircraft", {"tail_number": "N1MO", "model": "C152"})
    await hangar.call(
        start,
        "POST",
        "/maintenance-programs",
        {"name": "Monthly", "interval_months": 1, "aircraft_id": craft["id"]},
    )
    [task] = await hangar.call(start, "GET", f"/maintenance-tasks?aircraft_id={craft['id']}")
    due_at = datetime.fromisoformat(task["due_at"])
    # The end of next month, 23:59:59 UTC.
    assert (due_at.hour, due_at.minute, due_at.second) == (23, 59, 59)
    assert (due_at + timedelta(seconds=1)).day == 1
    assert (due_at.year * 12 + due_at.month) - (start.year * 12 + start.month) == 1

    async def status_at(moment: datetime) -> str:
        await sweep_at(db, moment)
        status: str = (await hangar.call(moment, "GET", f"/maintenance-tasks/{task['id']}"))[
            "due_status"
        ]
        return status

    assert await status_at(due_at - timedelta(seconds=1)) == "due_soon"
    assert await status_at(due_at) == "due"
    assert await status_at(due_at + timedelta(seconds=1)) == "overdue"  # no tolerance
    assert await told(connection, hangar.org_id) == {
        "task_due_soon": 1,
        "task_overdue": 1,
        "aircraft_status_updated": 1,
    }
