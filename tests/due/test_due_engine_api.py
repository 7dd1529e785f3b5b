"""The due engine for real operators (issue 10), as worked examples through the API.

Each test is a case a planner or an inspector meets, with the rule it rests on: last-done
records per aircraft, back-dated completion, the operator's calendar, the scheduled basis,
projections that never overflow, a due list that never hides due work, sweeps that one
organization cannot stop.
"""

from __future__ import annotations

import uuid
from calendar import monthrange
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from amss.due import jobs
from amss.kit.timefmt import clock_at
from tests.support.factories import bearer, make_org, make_user
from tests.support.tenant import MECHANIC_CERTIFICATE


class Desk:
    """A planner and a mechanic of a fresh organization, talking to the API."""

    def __init__(
        self, client: httpx.AsyncClient, planner: dict[str, str], mechanic: dict[str, str]
    ):
        self.client, self.planner, self.mechanic = client, planner, mechanic

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        expect: int = 200,
        as_: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        response = await self.client.request(
            method, f"/api/v1{path}", json=body, params=params, headers=as_ or self.planner
        )
        assert response.status_code == expect, response.text
        return response.json() if response.content else None

    async def aircraft(self, tail: str, **fields: Any) -> dict[str, Any]:
        body = {"tail_number": tail, "model": "C172S", **fields}
        return dict(await self.call("POST", "/aircraft", body, expect=201))

    async def program(self, **fields: Any) -> dict[str, Any]:
        return dict(await self.call("POST", "/maintenance-programs", fields, expect=201))

    async def record(self, aircraft_id: str, expect: int = 201, **fields: Any) -> Any:
        body = {"reference": "Airframe logbook", **fields}
        return await self.call(
            "POST", f"/aircraft/{aircraft_id}/compliance-records", body, expect=expect
        )

    async def open_task(self, aircraft_id: str, program_id: str) -> dict[str, Any]:
        [task] = await self.call(
            "GET",
            "/maintenance-tasks",
            params={"aircraft_id": aircraft_id, "program_id": program_id, "state": "scheduled"},
        )
        return dict(task)

    async def complete(self, task: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """Start and complete a task as the mechanic, with the completion fields given."""
        started = await self.call(
            "PATCH",
            f"/maintenance-tasks/{task['id']}/state",
            {"new_state": "in_progress"},
            as_=self.mechanic,
        )
        body = {"new_state": "completed", "notes": "Inspected per checklist", **fields}
        done = await self.call(
            "PATCH", f"/maintenance-tasks/{started['id']}/state", body, as_=self.mechanic
        )
        return dict(done)


async def _desk(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI, **policy: Any
) -> Desk:
    org_id = await make_org(connection, **policy)
    planner = bearer(app.state.signer, await make_user(connection, org_id, "scheduler"))
    mechanic = bearer(
        app.state.signer,
        await make_user(connection, org_id, "mechanic", **MECHANIC_CERTIFICATE),
    )
    return Desk(client, planner, mechanic)


@pytest.fixture
async def desk(client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI) -> Desk:
    return await _desk(client, connection, app)


def end_of_local_day(day: Any, zone: ZoneInfo = ZoneInfo("UTC")) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=zone).astimezone(UTC)


# --- last-done records per requirement and aircraft ----------------------------------------


async def test_a_model_wide_100_hour_counts_from_each_aircrafts_own_record(desk: Desk) -> None:
    """SPEC §6.2: one aircraft's hours never become another's baseline. A C172 fleet's
    100-hour over an aircraft at 1,000 h and one at 3,000 h, each with its own last-done
    record, is due at each one's own hours."""
    young = await desk.aircraft("N1000H", flight_hours_total=1000)
    old = await desk.aircraft("N3000H", flight_hours_total=3000)
    program = await desk.program(
        name="100-hour inspection", aircraft_model="C172S", interval_hours=100
    )
    yesterday = str(datetime.now(UTC).date() - timedelta(days=1))
    await desk.record(
        young["id"], program_id=program["id"], performed_at=yesterday, performed_hours=960
    )
    await desk.record(
        old["id"], program_id=program["id"], performed_at=yesterday, performed_hours=2990
    )
    for craft, due in ((young, 1060.0), (old, 3090.0)):
        task = await desk.open_task(craft["id"], program["id"])
        assert (task["due_hours"], task["basis_source"]) == (due, "record")
    # A program-wide baseline on a model-wide program is refused: whose hours would it be?
    refused = await desk.call(
        "PATCH",
        f"/maintenance-programs/{program['id']}",
        {"last_performed": yesterday, "last_performed_hours": 960},
        expect=400,
    )
    assert refused["details"][0]["field"] == "last_performed"


async def test_without_any_record_the_limits_rest_on_an_assumption_and_say_so(desk: Desk) -> None:
    """SPEC §6.2: with no record and no completion, the first due counts from when the
    requirement started applying, and the task says its limits rest on an assumption."""
    craft = await desk.aircraft("N1ASSM", flight_hours_total=500)
    program = await desk.program(
        name="50-hour oil change", aircraft_id=craft["id"], interval_hours=50
    )
    task = await desk.open_task(craft["id"], program["id"])
    assert (task["basis_hours"], task["due_hours"], task["basis_source"]) == (
        500.0,
        550.0,
        "assumed",
    )


async def test_records_keep_a_history_and_only_the_newest_is_the_baseline(desk: Desk) -> None:
    """An older logbook entry entered later (history back-filled) changes nothing: the
    newest accomplishment is the baseline (14 CFR 91.417(a)(2)(i))."""
    craft = await desk.aircraft("N2HIST", flight_hours_total=800)
    program = await desk.program(name="Annual", aircraft_id=craft["id"], interval_months=12)
    today = datetime.now(UTC).date()
    newest = await desk.record(
        craft["id"], program_id=program["id"], performed_at=str(today - timedelta(days=40))
    )
    before = await desk.open_task(craft["id"], program["id"])
    await desk.record(
        craft["id"], program_id=program["id"], performed_at=str(today - timedelta(days=400))
    )
    after = await desk.open_task(craft["id"], program["id"])
    assert after["due_at"] == before["due_at"] and after["version"] == before["version"]
    history = await desk.call("GET", f"/aircraft/{craft['id']}/compliance-records")
    assert [r["performed_at"][:10] for r in history] == [
        str(today - timedelta(days=40)),
        str(today - timedelta(days=400)),
    ]
    assert history[0]["id"] == newest["id"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"performed_hours": None}, "performed_hours"),  # the program counts hours
        ({"performed_hours": 2001}, "performed_hours"),  # above the aircraft's meter
        ({"performed_cycles": 1_000_001}, "performed_cycles"),  # above the cycles meter
        ({"performed_at": "2999-01-01"}, "performed_at"),  # out of any plausible range
        ({"reference": ""}, "reference"),
        ({"program_id": "not-a-uuid"}, "program_id"),
    ],
)
async def test_a_record_that_cannot_be_true_is_refused_naming_the_field(
    desk: Desk, fields: dict[str, Any], field: str
) -> None:
    """One event, one set of anchors (SPEC §6.2): hours when the requirement counts hours,
    never above today's meters, never in the future."""
    craft = await desk.aircraft("N3BAD", flight_hours_total=2000, cycles_total=1_000_000)
    program = await desk.program(name="100-hour", aircraft_id=craft["id"], interval_hours=100)
    body = {
        "program_id": program["id"],
        "performed_at": "2026-01-02",
        "performed_hours": 1900,
        **fields,
    }
    refused = await desk.record(craft["id"], expect=400, **body)
    assert refused["details"][0]["field"] == field


async def test_a_record_dated_tomorrow_is_refused(desk: Desk) -> None:
    craft = await desk.aircraft("N4FUT", flight_hours_total=10)
    program = await desk.program(name="Annual", aircraft_id=craft["id"], interval_months=12)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    refused = await desk.record(
        craft["id"], expect=400, program_id=program["id"], performed_at=tomorrow
    )
    assert refused["details"][0]["field"] == "performed_at"


async def test_a_record_of_a_requirement_that_does_not_apply_is_refused(desk: Desk) -> None:
    craft = await desk.aircraft("N5DA42", model="DA42")
    program = await desk.program(name="C172 100-hour", aircraft_model="C172S", interval_hours=100)
    refused = await desk.record(
        craft["id"],
        expect=409,
        program_id=program["id"],
        performed_at="2026-01-02",
        performed_hours=0,
    )
    assert "does not apply" in refused["error"]


async def test_requirements_show_each_applicable_program_with_its_last_done_and_due(
    desk: Desk,
) -> None:
    """GET /aircraft/{id}/requirements: the aircraft's inspection status in one list."""
    craft = await desk.aircraft("N6REQ", flight_hours_total=1200)
    hundred = await desk.program(name="100-hour", aircraft_model="C172S", interval_hours=100)
    annual = await desk.program(name="Annual", interval_months=12)
    elsewhere = await desk.program(name="DA42 only", aircraft_model="DA42", interval_hours=50)
    await desk.record(
        craft["id"], program_id=hundred["id"], performed_at="2026-01-02", performed_hours=1150
    )
    listed = await desk.call("GET", f"/aircraft/{craft['id']}/requirements")
    by_name = {row["name"]: row for row in listed}
    assert set(by_name) == {"100-hour", "Annual"}  # not the DA42's
    assert elsewhere["id"] not in {row["program_id"] for row in listed}
    assert by_name["100-hour"]["last_done"]["performed_hours"] == 1150.0
    assert by_name["100-hour"]["open_task"]["due_hours"] == 1250.0
    assert by_name["100-hour"]["open_task"]["basis_source"] == "record"
    assert by_name["Annual"]["last_done"] is None
    assert by_name["Annual"]["open_task"]["basis_source"] == "assumed"
    assert by_name["Annual"]["program_id"] == annual["id"]


# --- back-dated completion and the operator's calendar --------------------------------------


async def test_an_annual_finished_31_days_ago_across_a_month_end_counts_from_that_month(
    desk: Desk,
) -> None:
    """Work finished on Friday is entered on Monday (SPEC §6.5): `completed_at` back-dates
    the completion. 14 CFR 91.409(a): the next annual is due at the end of the 12th month
    after the month the work was done in — not the month it was entered."""
    now = datetime.now(UTC)
    craft = await desk.aircraft("N7BACK", flight_hours_total=300)
    program = await desk.program(name="Annual", aircraft_id=craft["id"], interval_months=12)
    # A last-done record older than the back-dated completion, so it is not before it.
    await desk.record(
        craft["id"], program_id=program["id"], performed_at=str((now - timedelta(days=300)).date())
    )
    task = await desk.open_task(craft["id"], program["id"])
    done_on = (now - timedelta(days=31)).date()
    completed = await desk.complete(task, completed_at=str(done_on))
    assert completed["completed_at"].startswith(str(done_on))
    following = await desk.open_task(craft["id"], program["id"])
    # The end of the month of the work, a year on (31 days back always crosses a month end).
    last_day = date(done_on.year + 1, done_on.month, monthrange(done_on.year + 1, done_on.month)[1])
    assert done_on.month != now.month or done_on.year != now.year
    assert following["due_at"] == end_of_local_day(last_day).isoformat().replace("+00:00", "Z")
    assert following["basis_source"] == "completion"


async def test_an_annual_signed_at_2030_on_31_october_in_new_york_is_due_end_of_october(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    """The operator's calendar (SPEC §6.1-§6.2): at 20:30 on 31 October in New York it is
    already 1 November in UTC. The annual is due at the end of October next year — a UTC
    reading would have granted a month the regulation never gave."""
    desk = await _desk(client, connection, app, time_zone="America/New_York")
    craft = await desk.aircraft("N8NYC", flight_hours_total=100)
    program = await desk.program(name="Annual", aircraft_id=craft["id"], interval_months=12)
    signed = datetime(2024, 10, 31, 20, 30, tzinfo=ZoneInfo("America/New_York"))
    await desk.record(craft["id"], program_id=program["id"], performed_at=signed.isoformat())
    task = await desk.open_task(craft["id"], program["id"])
    assert task["due_at"] == "2025-11-01T03:59:59Z"  # 31 October 2025, 23:59:59 EDT


async def test_a_back_dated_completion_records_the_meters_of_its_day(desk: Desk) -> None:
    """The meters at a back-dated completion default to today's less the flying dated
    after it (SPEC §6.5): the 100-hour done on Friday counts from Friday's hours, not
    from the hours flown over the weekend."""
    today = datetime.now(UTC).date()
    craft = await desk.aircraft("N9FRI", flight_hours_total=1000)
    program = await desk.program(name="100-hour", aircraft_id=craft["id"], interval_hours=100)
    await desk.record(
        craft["id"],
        program_id=program["id"],
        performed_at=str(today - timedelta(days=30)),
        performed_hours=995,
    )
    task = await desk.open_task(craft["id"], program["id"])
    assert task["due_hours"] == 1095.0
    for days_ago, hours in ((2, 3.0), (1, 4.5)):
        await desk.call(
            "POST",
            f"/aircraft/{craft['id']}/utilization",
            {
                "flight_date": str(today - timedelta(days=days_ago)),
                "flight_hours": hours,
                "cycles": 2,
            },
            expect=201,
        )
    completed = await desk.complete(task, completed_at=str(today - timedelta(days=3)))
    assert completed["completed_hours"] == 1000.0  # 1,007.5 now, less 7.5 flown after
    following = await desk.open_task(craft["id"], program["id"])
    assert following["due_hours"] == 1100.0


async def test_a_completion_cannot_be_dated_before_the_last_time_the_work_was_done(
    desk: Desk,
) -> None:
    craft = await desk.aircraft("N10OLD", flight_hours_total=500)
    program = await desk.program(name="Annual", aircraft_id=craft["id"], interval_months=12)
    today = datetime.now(UTC).date()
    await desk.record(
        craft["id"], program_id=program["id"], performed_at=str(today - timedelta(days=10))
    )
    task = await desk.open_task(craft["id"], program["id"])
    await desk.call(
        "PATCH",
        f"/maintenance-tasks/{task['id']}/state",
        {"new_state": "in_progress"},
        as_=desk.mechanic,
    )
    refused = await desk.call(
        "PATCH",
        f"/maintenance-tasks/{task['id']}/state",
        {
            "new_state": "completed",
            "notes": "done",
            "completed_at": str(today - timedelta(days=20)),
        },
        expect=400,
        as_=desk.mechanic,
    )
    assert refused["details"][0]["field"] == "completed_at"


async def test_changing_the_time_zone_moves_calendar_limits_in_the_same_request(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    """SPEC §6.3: a policy change re-projects at once. An annual done on 5 March 2024 is due
    at the end of March 2025 — in UTC at 23:59:59Z, in Auckland 11 hours earlier."""
    org_id = await make_org(connection)
    admin = bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin"))
    desk = Desk(client, admin, admin)
    craft = await desk.aircraft("N11TZ")
    program = await desk.program(name="Annual", aircraft_id=craft["id"], interval_months=12)
    await desk.record(craft["id"], program_id=program["id"], performed_at="2024-03-05T12:00:00Z")
    assert (await desk.open_task(craft["id"], program["id"]))["due_at"] == "2025-03-31T23:59:59Z"
    await desk.call("PATCH", f"/organizations/{org_id}/policy", {"time_zone": "Pacific/Auckland"})
    moved = await desk.open_task(craft["id"], program["id"])
    assert moved["due_at"] == "2025-03-31T10:59:59Z"  # 23:59:59 NZDT
    assert moved["projected_due_at"] == moved["due_at"]
    refused = await desk.call(
        "PATCH", f"/organizations/{org_id}/policy", {"time_zone": "Mars/Olympus_Mons"}, expect=400
    )
    assert refused["details"][0]["field"] == "time_zone"


# --- the scheduled basis -----------------------------------------------------------------


async def test_a_100_hour_overflown_to_1112_is_next_due_at_1200(desk: Desk) -> None:
    """14 CFR 91.409(b): the hours by which a 100-hour is overflown are charged to the next
    interval. Done at 1,112 h against 1,100 (tolerance 10: beyond it, irregularly), the next
    is due at 1,200 — finishing later never earns a later next due."""
    craft = await desk.aircraft("N12SCH", flight_hours_total=1000)
    program = await desk.program(
        name="100-hour",
        aircraft_id=craft["id"],
        interval_hours=100,
        tolerance_hours=10,
        next_due_basis="scheduled",
    )
    task = await desk.open_task(craft["id"], program["id"])
    assert task["due_hours"] == 1100.0
    await desk.call("PATCH", f"/aircraft/{craft['id']}", {"flight_hours_total": 1112})
    await desk.complete(task)
    following = await desk.open_task(craft["id"], program["id"])
    assert (following["due_hours"], following["basis_hours"]) == (1200.0, 1100.0)


# --- the due list and projections --------------------------------------------------------


async def test_a_50_hour_past_its_limit_without_a_rate_is_first_on_a_30_day_list(
    desk: Desk,
) -> None:
    """SPEC §6.3: a horizon never hides work that is due. With no utilization rate the
    overrun has no forecast date, yet the task is due now: first, whatever the horizon."""
    craft = await desk.aircraft("N13NOR", flight_hours_total=100)
    oil = await desk.program(name="50-hour oil change", aircraft_id=craft["id"], interval_hours=50)
    annual = await desk.program(name="Annual", aircraft_id=craft["id"], interval_days=45)
    await desk.record(
        craft["id"], program_id=oil["id"], performed_at="2026-01-02", performed_hours=40
    )
    listed = await desk.call("GET", f"/aircraft/{craft['id']}/due-list", params={"days": 30})
    assert [row["program_id"] for row in listed] == [oil["id"]]  # the annual is 45 days out
    assert listed[0]["due_status"] == "overdue"
    assert listed[0]["daily_hours_rate"] is None
    longer = await desk.call("GET", f"/aircraft/{craft['id']}/due-list", params={"days": 60})
    assert [row["program_id"] for row in longer] == [oil["id"], annual["id"]]
    # Even a zero-day horizon keeps the overdue oil change.
    short = await desk.call("GET", f"/aircraft/{craft['id']}/due-list", params={"days": 0})
    assert [row["program_id"] for row in short] == [oil["id"]]
    craft_now = await desk.call("GET", f"/aircraft/{craft['id']}")
    assert craft_now["next_due"] == listed[0]["projected_due_at"]


async def test_the_due_list_orders_overdue_then_due_then_by_date(desk: Desk) -> None:
    """SPEC §6.3 urgency: overdue first, then due (within tolerance), then by projected
    date; undated tasks after the dated ones of their status."""
    craft = await desk.aircraft("N14ORD", flight_hours_total=1000, avg_daily_hours=5)
    made = {}
    for title, due_hours in (("later", 1400), ("due", 1000), ("overdue", 900), ("sooner", 1100)):
        made[title] = await desk.call(
            "POST",
            "/maintenance-tasks",
            {"aircraft_id": craft["id"], "title": title, "due_hours": due_hours},
            expect=201,
        )
    undated = await desk.call(
        "POST", "/maintenance-tasks", {"aircraft_id": craft["id"], "title": "undated"}, expect=201
    )
    listed = await desk.call("GET", f"/aircraft/{craft['id']}/due-list")
    assert [row["title"] for row in listed] == ["overdue", "due", "sooner", "later", "undated"]
    assert listed[-1]["task_id"] == undated["id"]


async def test_a_huge_overrun_on_a_barely_flying_aircraft_answers_and_projects_to_now(
    desk: Desk,
) -> None:
    """SPEC §6.3: a limit reached projects to now, never to a date computed into the past.
    A task due at 0 h on an aircraft at 100,000 h flying 0.01 h a day would otherwise be
    projected ten million days ago — a date no database holds."""
    now = datetime.now(UTC).replace(microsecond=0)
    with clock_at(now):
        craft = await desk.aircraft("N15HUGE", flight_hours_total=100_000, avg_daily_hours=0.01)
        task = await desk.call(
            "POST",
            "/maintenance-tasks",
            {"aircraft_id": craft["id"], "title": "Overrun", "due_hours": 0},
            expect=201,
        )
    assert task["due_status"] == "overdue"
    assert datetime.fromisoformat(task["projected_due_at"]) == now
    assert task["governing_limit"] == "hours"
    listed = await desk.call("GET", f"/aircraft/{craft['id']}/due-list", params={"days": 30})
    assert [row["task_id"] for row in listed] == [task["id"]]


# --- meters -------------------------------------------------------------------------------


async def test_a_9000_hour_typo_is_undone_in_one_correction(desk: Desk) -> None:
    """SPEC §6.1: a correction takes back up to what its entry added. A creation meter of
    10,200 h typed for 1,200 is the initial entry, corrected by -9,000 in one entry."""
    craft = await desk.aircraft("N16TYPO", flight_hours_total=10_200, cycles_total=900)
    [initial] = await desk.call("GET", f"/aircraft/{craft['id']}/utilization")
    assert (initial["source"], initial["flight_hours"]) == ("initial", 10_200.0)
    fixed = await desk.call(
        "POST",
        f"/aircraft/{craft['id']}/utilization",
        {
            "flight_date": initial["flight_date"],
            "flight_hours": -9000,
            "cycles": 0,
            "corrects_id": initial["id"],
        },
        expect=201,
    )
    assert fixed["corrects_id"] == initial["id"]
    assert (await desk.call("GET", f"/aircraft/{craft['id']}"))["flight_hours_total"] == 1200.0
    # No more than the entry still adds: 1,200 h left of it.
    refused = await desk.call(
        "POST",
        f"/aircraft/{craft['id']}/utilization",
        {
            "flight_date": initial["flight_date"],
            "flight_hours": -1200.1,
            "cycles": 0,
            "corrects_id": initial["id"],
        },
        expect=400,
    )
    assert refused["details"][0]["field"] == "flight_hours"


async def test_the_database_session_runs_in_utc_whatever_the_server_says(
    database_url: str, connection: AsyncConnection
) -> None:
    """Dates computed in SQL and in Python must agree: the session time zone is UTC even
    when the database's default is elsewhere (no DST drift between the two)."""
    name = (await connection.execute(text("SELECT current_database()"))).scalar_one()
    admin = Database.connect(database_url)
    try:
        async with admin.engine.connect() as conn:
            await conn.execute(text(f"ALTER DATABASE \"{name}\" SET timezone = 'Pacific/Chatham'"))
            await conn.commit()
        fresh = Database.connect(database_url)
        try:
            async with fresh.engine.connect() as conn:
                assert await conn.scalar(text("SELECT current_setting('TimeZone')")) == "UTC"
        finally:
            await fresh.dispose()
    finally:
        async with admin.engine.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{name}" RESET timezone'))
            await conn.commit()
        await admin.dispose()


# --- the periodic sweep, one organization at a time -----------------------------------------


def _failures(job: str) -> float:
    return REGISTRY.get_sample_value("amss_job_failures_total", {"job": job}) or 0.0


async def test_one_organizations_bad_data_never_stops_anothers_sweep(database: Database) -> None:
    """SPEC §6.4: the sweep works one organization per transaction. An organization whose
    stored time zone no longer exists (a row written around the API) fails alone — logged
    and counted — and the other organization's overdue annual is still found and grounds."""
    tag = uuid.uuid4().hex[:8]
    async with database.engine.begin() as conn:
        poisoned = await make_org(conn, name=f"Poisoned {tag}")
        healthy = await make_org(conn, name=f"Healthy {tag}")
        await conn.execute(
            text("UPDATE org_policies SET time_zone = 'Nowhere/Atlantis' WHERE org_id = :o"),
            {"o": poisoned},
        )
        crafts = {}
        for org in (poisoned, healthy):
            crafts[org] = await conn.scalar(
                text(
                    "INSERT INTO aircraft (org_id, tail_number, model) VALUES (:o, 'N1SW', 'PA28') RETURNING id"
                ),
                {"o": org},
            )
            program = await conn.scalar(
                text(
                    "INSERT INTO maintenance_programs (org_id, name, interval_months) VALUES (:o, 'Annual', 12) RETURNING id"
                ),
                {"o": org},
            )
            await conn.execute(
                text(
                    "INSERT INTO compliance_records (org_id, program_id, aircraft_id, performed_at,"
                    " basis_at, source, reference) VALUES (:o, :p, :a, now() - interval '800 days',"
                    " now() - interval '800 days', 'record', 'logbook')"
                ),
                {"o": org, "p": program, "a": crafts[org]},
            )
    failures_before = _failures("due_sweep")
    try:
        result = await jobs.sweep(database)
        assert poisoned in result.failed and healthy not in result.failed
        assert _failures("due_sweep") == failures_before + 1
        async with database.engine.connect() as conn:
            status = {
                org: await conn.scalar(
                    text("SELECT status FROM aircraft WHERE id = :a"), {"a": crafts[org]}
                )
                for org in crafts
            }
            tasks = {
                org: await conn.scalar(
                    text("SELECT count(*) FROM maintenance_tasks WHERE org_id = :o"), {"o": org}
                )
                for org in crafts
            }
        assert status == {healthy: "grounded", poisoned: "operational"}
        assert tasks == {healthy: 1, poisoned: 0}
    finally:
        async with database.engine.begin() as conn:
            await conn.execute(
                text("UPDATE org_policies SET time_zone = 'UTC' WHERE org_id = :o"), {"o": poisoned}
            )
