"""Races the database must decide (SPEC §6.5, §6.7): reservations of one item, capacity
slots, two transitions of one task. Real commits, so every organization is new."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from tests.support.api import Actor
from tests.support.dates import day
from tests.support.factories import (
    TestUser,
    bearer,
    make_aircraft,
    make_org,
    make_part_definition,
    make_part_item,
    make_program,
    make_task,
    make_user,
    require_parts,
)
from tests.support.polling import eventually, lock_waiters, until_waiting_on_locks
from tests.support.steps import PAPER_RECORD, move


@dataclass(frozen=True)
class Hangar:
    org_id: uuid.UUID
    scheduler: TestUser
    aircraft_id: uuid.UUID
    tail: str


async def hangar(conn: AsyncConnection, *, capacity_slots: int = 1, model: str = "C172") -> Hangar:
    tag = uuid.uuid4().hex[:8]
    org_id = await make_org(conn, name=f"Race {tag}")
    scheduler = await make_user(conn, org_id, "scheduler")
    tail = f"N{tag[:5].upper()}"
    aircraft_id = await make_aircraft(
        conn, org_id, tail_number=tail, model=model, capacity_slots=capacity_slots
    )
    return Hangar(org_id, scheduler, aircraft_id, tail)


async def tasks(
    conn: AsyncConnection, org_id: uuid.UUID, aircraft_id: uuid.UUID, count: int
) -> list[str]:
    rows = await conn.execute(
        text(
            "INSERT INTO maintenance_tasks (org_id, aircraft_id, title, type)"
            " SELECT :o, :a, 'Race task ' || g, 'repair' FROM generate_series(1, :n) AS g"
            " RETURNING id"
        ),
        {"o": org_id, "a": aircraft_id, "n": count},
    )
    return [str(row.id) for row in rows.all()]


async def start_together(
    client: httpx.AsyncClient, app: FastAPI, place: Hangar, task_ids: list[str]
) -> list[httpx.Response]:
    """Every task (a task listed twice: twice) started at once by the scheduler."""
    scheduler = Actor(client, bearer(app.state.signer, place.scheduler))
    return list(
        await asyncio.gather(*(move(scheduler, task_id, "in_progress") for task_id in task_ids))
    )


def statuses(responses: list[httpx.Response]) -> Counter[int]:
    seen = Counter(response.status_code for response in responses)
    assert 500 not in seen, [r.text for r in responses if r.status_code >= 500]
    return seen


async def test_twenty_reservations_of_one_item_leave_exactly_one(
    committing_client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    async with database.engine.begin() as conn:
        place = await hangar(conn)
        task_ids = await tasks(conn, place.org_id, place.aircraft_id, 20)
        definition = await make_part_definition(conn, place.org_id, name="Filter")
        item = await make_part_item(conn, place.org_id, definition, serial_number="F-1")
    headers = bearer(app.state.signer, place.scheduler)
    responses = await asyncio.gather(
        *(
            committing_client.post(
                "/api/v1/part-reservations",
                json={"task_id": task_id, "part_item_id": str(item)},
                headers=headers,
            )
            for task_id in task_ids
        )
    )
    assert statuses(responses) == {201: 1, 409: 19}
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "conflict"
    [winner] = [r.json() for r in responses if r.status_code == 201]
    async with database.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT task_id, state FROM part_reservations WHERE part_item_id = :i"),
                {"i": item},
            )
        ).all()
    assert [(str(row.task_id), row.state) for row in rows] == [(winner["task_id"], "reserved")]


async def test_twenty_starts_on_two_capacity_slots_start_exactly_two(
    committing_client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    async with database.engine.begin() as conn:
        place = await hangar(conn, capacity_slots=2)
        task_ids = await tasks(conn, place.org_id, place.aircraft_id, 20)
    responses = await start_together(committing_client, app, place, task_ids)
    assert statuses(responses) == {200: 2, 409: 18}
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"] == (
                f"aircraft {place.tail} has 2 tasks in progress and capacity_slots is 2"
            )
    async with database.engine.connect() as conn:
        states = Counter(
            (
                await conn.execute(
                    text("SELECT state FROM maintenance_tasks WHERE aircraft_id = :a"),
                    {"a": place.aircraft_id},
                )
            )
            .scalars()
            .all()
        )
        status = await conn.scalar(
            text("SELECT status FROM aircraft WHERE id = :a"), {"a": place.aircraft_id}
        )
    assert states == {"in_progress": 2, "scheduled": 18}
    assert status == "maintenance"


async def test_two_concurrent_starts_of_one_task_start_it_once(
    committing_client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    async with database.engine.begin() as conn:
        place = await hangar(conn, capacity_slots=5)
        [task_id] = await tasks(conn, place.org_id, place.aircraft_id, 1)
    responses = await start_together(committing_client, app, place, [task_id, task_id])
    assert statuses(responses) == {200: 1, 409: 1}
    [refused] = [r for r in responses if r.status_code == 409]
    assert "already in_progress" in refused.json()["error"]
    async with database.engine.connect() as conn:
        changes = await conn.scalar(
            text(
                "SELECT count(*) FROM audit_logs WHERE entity_id = :t AND action = 'state_change'"
            ),
            {"t": task_id},
        )
    assert changes == 1


async def test_concurrent_starts_competing_for_the_last_required_part(
    committing_client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    """Five aircraft, one program needing one filter, one filter in stock: one start wins."""
    model = f"M{uuid.uuid4().hex[:6]}"
    async with database.engine.begin() as conn:
        place = await hangar(conn, model=model)
        await conn.execute(
            text(
                "INSERT INTO aircraft (org_id, tail_number, model)"
                " SELECT :o, 'N' || g || 'RP', :m FROM generate_series(1, 4) AS g"
            ),
            {"o": place.org_id, "m": model},
        )
        program = await make_program(
            conn, place.org_id, name="Oil change", aircraft_model=model, interval_hours=50
        )
        definition = await make_part_definition(conn, place.org_id, name="Oil filter")
        await require_parts(conn, place.org_id, program, definition, quantity=1)
        item = await make_part_item(conn, place.org_id, definition, serial_number="OF-1")
        task_ids = [
            str(row.id)
            for row in (
                await conn.execute(
                    text(
                        "INSERT INTO maintenance_tasks (org_id, aircraft_id, program_id, title)"
                        " SELECT org_id, id, :p, 'Oil change' FROM aircraft WHERE org_id = :o"
                        " RETURNING id"
                    ),
                    {"o": place.org_id, "p": program},
                )
            ).all()
        ]
    assert len(task_ids) == 5
    responses = await start_together(committing_client, app, place, task_ids)
    assert statuses(responses) == {200: 1, 409: 4}
    [started] = [r.json() for r in responses if r.status_code == 200]
    assert [r["part_item_id"] for r in started["reservations"]] == [str(item)]
    async with database.engine.connect() as conn:
        reserved = await conn.scalar(
            text("SELECT count(*) FROM part_reservations WHERE org_id = :o"), {"o": place.org_id}
        )
    assert reserved == 1


async def test_a_compliance_item_added_during_completion_does_not_slip_through(
    committing_client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    async with database.engine.begin() as conn:
        place = await hangar(conn)
        task_id = await make_task(
            conn,
            place.org_id,
            place.aircraft_id,
            title="Race completion",
            state="in_progress",
            started_at=func.now(),
        )
    headers = bearer(app.state.signer, place.scheduler)
    async with database.engine.connect() as blocker:
        transaction = await blocker.begin()
        # Hold the aircraft: the completion checks the compliance items, then waits here.
        await blocker.execute(
            text("SELECT 1 FROM aircraft WHERE id = :a FOR UPDATE"), {"a": place.aircraft_id}
        )
        completion = asyncio.ensure_future(
            committing_client.patch(
                f"/api/v1/maintenance-tasks/{task_id}/state",
                json={"new_state": "completed", "notes": "done", **PAPER_RECORD},
                headers=headers,
            )
        )
        await until_waiting_on_locks(database, 1)
        added = asyncio.ensure_future(
            committing_client.post(
                "/api/v1/compliance-items",
                json={"task_id": str(task_id), "description": "Late step", "result": "pending"},
                headers=headers,
            )
        )

        # The new item either waits behind the completion's lock on the task, or went in
        # first; only then is the aircraft released.
        async def item_waits_or_is_in() -> bool:
            return added.done() or await lock_waiters(database) >= 2

        await eventually(item_waits_or_is_in, what="the compliance item request settled")
        await transaction.commit()
    completed, created = await completion, await added
    assert completed.status_code in (200, 409) and created.status_code in (201, 409)
    async with database.engine.connect() as conn:
        pending = await conn.scalar(
            text(
                "SELECT count(*) FROM compliance_items c JOIN maintenance_tasks t"
                " ON t.id = c.task_id WHERE t.id = :t AND t.state = 'completed'"
                " AND c.result = 'pending'"
            ),
            {"t": task_id},
        )
    assert pending == 0, (completed.status_code, created.status_code)


async def test_transitions_racing_utilization_on_one_aircraft_never_deadlock(
    committing_client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    """The lock order (aircraft, then task): a start and a completion racing two
    utilization entries on the same aircraft, 50 rounds. Utilization locks the aircraft and
    re-projects its tasks; a transition locks the aircraft before its task. Taken in the
    other order they deadlock, which PostgreSQL breaks by aborting one (a 500)."""
    async with database.engine.begin() as conn:
        place = await hangar(conn, capacity_slots=2)
        await conn.execute(
            text("UPDATE aircraft SET flight_hours_total = 1000 WHERE id = :a"),
            {"a": place.aircraft_id},
        )
    headers = bearer(app.state.signer, place.scheduler)
    task_url = "/api/v1/maintenance-tasks"

    async def new_task(number: int) -> str:
        response = await committing_client.post(
            task_url,
            json={
                "aircraft_id": str(place.aircraft_id),
                "title": f"Lock order {number}",
                "due_hours": 1500 + number,
            },
            headers=headers,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    previous = await new_task(0)
    started = await committing_client.patch(
        f"{task_url}/{previous}/state", json={"new_state": "in_progress"}, headers=headers
    )
    assert started.status_code == 200, started.text
    seen: Counter[int] = Counter()
    for number in range(1, 51):
        current = await new_task(number)
        flights = [
            committing_client.post(
                f"/api/v1/aircraft/{place.aircraft_id}/utilization",
                json={
                    "flight_date": day(-((2 * number + k) % 80)),
                    "flight_hours": 1.0,
                    "cycles": 1,
                },
                headers=headers,
            )
            for k in range(2)
        ]
        responses = await asyncio.gather(
            committing_client.patch(
                f"{task_url}/{current}/state", json={"new_state": "in_progress"}, headers=headers
            ),
            committing_client.patch(
                f"{task_url}/{previous}/state",
                json={
                    "new_state": "completed",
                    "notes": f"round {number} done",
                    **PAPER_RECORD,
                },
                headers=headers,
            ),
            *flights,
        )
        seen += statuses(list(responses))
        assert [r.status_code for r in responses] == [200, 200, 201, 201], [
            r.text for r in responses
        ]
        previous = current
    assert seen == {200: 100, 201: 100}
    async with database.engine.connect() as conn:
        hours = await conn.scalar(
            text("SELECT flight_hours_total FROM aircraft WHERE id = :a"), {"a": place.aircraft_id}
        )
        completed = await conn.scalar(
            text(
                "SELECT count(*) FROM maintenance_tasks WHERE aircraft_id = :a AND state = 'completed'"
            ),
            {"a": place.aircraft_id},
        )
    assert hours == 1100 and completed == 50
