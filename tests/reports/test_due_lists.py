"""The due lists (SPEC §9, §6.3): overdue and due first under any horizon, every row saying
why, the CSV the same rows in the same order (streamed, audited), one aircraft's list the
same; and who may read which report (SPEC §3)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.kit.timefmt import clock_at
from amss.reports.rules import DUE_LIST_COLUMNS
from tests.support.api import assert_error, ok
from tests.support.dates import frozen_now
from tests.support.factories import make_aircraft, make_org, make_task
from tests.support.tenant import Tenant


@dataclass
class Board:
    now: datetime
    a: UUID
    b: UUID
    tasks: dict[str, UUID]


@pytest.fixture
async def board(connection: AsyncConnection, tenant: Tenant) -> Board:
    """Tasks of every due status on two aircraft (the default 30-day due-soon window)."""
    now = frozen_now()
    org = tenant.id
    a = await make_aircraft(connection, org, flight_hours_total=1000, tail_number="NA100")
    b = await make_aircraft(connection, org, flight_hours_total=200, tail_number="NB200")

    async def task(name: str, craft: UUID, projected: timedelta | None, **limits: object) -> UUID:
        at = now + projected if projected is not None else None
        return await make_task(connection, org, craft, title=name, projected_due_at=at, **limits)

    tasks = {
        "overdue_cal": await task(
            "overdue_cal", a, timedelta(days=-10), due_at=now - timedelta(days=10)
        ),
        "overdue_hours": await task("overdue_hours", a, timedelta(0), due_hours=990),
        "due": await task("due", b, timedelta(0), due_hours=198, tolerance_hours=5),
        "soon_dated": await task(
            "soon_dated", b, timedelta(days=20), due_at=now + timedelta(days=20)
        ),
        "soon_no_rate": await task("soon_no_rate", a, None, due_hours=1010),
        "ok_near": await task("ok_near", a, timedelta(days=40), due_at=now + timedelta(days=40)),
        "ok_far": await task("ok_far", b, timedelta(days=400), due_at=now + timedelta(days=400)),
    }
    await make_task(connection, org, a, title="closed", state="completed", due_hours=10)
    return Board(now, a, b, tasks)


def titles(rows: list[dict[str, object]]) -> list[object]:
    return [row["title"] for row in rows]


URGENT = ["overdue_cal", "overdue_hours", "due", "soon_dated", "soon_no_rate"]


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, URGENT),
        (None, URGENT),  # 30 by default
        (45, ["overdue_cal", "overdue_hours", "due", "soon_dated", "ok_near", "soon_no_rate"]),
        (
            1000,
            [
                "overdue_cal",
                "overdue_hours",
                "due",
                "soon_dated",
                "ok_near",
                "ok_far",
                "soon_no_rate",
            ],
        ),
    ],
)
async def test_overdue_and_due_come_first_and_stay_under_any_horizon(
    tenant: Tenant, board: Board, days: int | None, expected: list[str]
) -> None:
    params = {"days": days} if days is not None else {}
    with clock_at(board.now):
        rows = ok(await tenant.as_("viewer").get("/reports/due-list", params=params))
    assert titles(rows) == expected
    statuses = [row["due_status"] for row in rows]
    assert statuses[:3] == ["overdue", "overdue", "due"]


async def test_every_row_explains_itself(tenant: Tenant, board: Board) -> None:
    with clock_at(board.now):
        rows = ok(await tenant.as_("viewer").get("/reports/due-list", params={"days": 0}))
    hours = next(row for row in rows if row["title"] == "overdue_hours")
    assert hours["tail_number"] == "NA100"
    assert hours["due_hours"] == 990.0 and hours["remaining_hours"] == -10.0
    assert hours["governing_limit"] is None or hours["governing_limit"] == "hours"
    calendar = next(row for row in rows if row["title"] == "overdue_cal")
    assert calendar["remaining_days"] == -10.0
    for row in rows:
        assert {
            "due_at",
            "due_hours",
            "due_cycles",
            "remaining_hours",
            "remaining_cycles",
            "remaining_days",
            "daily_hours_rate",
            "daily_cycles_rate",
            "governing_limit",
            "due_status",
        } <= row.keys()


async def test_filters_by_aircraft_and_status(tenant: Tenant, board: Board) -> None:
    viewer = tenant.as_("viewer")
    with clock_at(board.now):
        only_b = ok(
            await viewer.get(
                "/reports/due-list", params={"aircraft_id": str(board.b), "days": 1000}
            )
        )
        overdue = ok(await viewer.get("/reports/due-list", params={"due_status": "overdue"}))
    assert titles(only_b) == ["due", "soon_dated", "ok_far"]
    assert titles(overdue) == ["overdue_cal", "overdue_hours"]
    assert_error(
        await viewer.get("/reports/due-list", params={"due_status": "late"}),
        400,
        field="due_status",
    )
    assert_error(await viewer.get("/reports/due-list", params={"days": -1}), 400, field="days")


def cell(value: object) -> object:
    """A JSON value as its CSV cell reads (numbers compared as numbers: JSON writes -10 where
    Python writes -10.0)."""
    if value is None:
        return ""
    return float(value) if isinstance(value, int | float) else str(value)


def parsed(line: dict[str, str], row: dict[str, object]) -> dict[str, object]:
    return {
        name: float(line[name]) if isinstance(row[name], int | float) else line[name]
        for name in line
    }


async def test_the_csv_is_the_list_in_the_same_order_streamed_and_audited(
    connection: AsyncConnection, tenant: Tenant, board: Board
) -> None:
    planner = tenant.as_("scheduler")
    with clock_at(board.now):
        rows = ok(await planner.get("/reports/due-list", params={"days": 1000}))
        response = await planner.get(
            "/reports/due-list", params={"days": 1000, "format": "csv", "limit": 2}
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="due-list.csv"' in response.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(response.text))
    assert tuple(reader.fieldnames or ()) == DUE_LIST_COLUMNS
    exported = list(reader)
    assert len(exported) == len(rows) == 7  # every row, not a page
    for row, line in zip(rows, exported, strict=True):
        assert {name: cell(row[name]) for name in DUE_LIST_COLUMNS} == parsed(line, row)
    audit = (
        await connection.execute(
            text(
                "SELECT entity_type, action, details FROM audit_logs"
                " WHERE org_id = :org AND request_id = :rid"
            ),
            {"org": tenant.id, "rid": response.headers["x-request-id"]},
        )
    ).one()
    assert (audit.entity_type, audit.action) == ("report", "export")
    assert audit.details == {"report": "due_list", "format": "csv", "filters": {"days": 1000}}


async def test_one_aircraft_has_the_same_list_without_a_horizon_unless_asked(
    connection: AsyncConnection, tenant: Tenant, board: Board
) -> None:
    viewer = tenant.as_("viewer")
    path = f"/aircraft/{board.b}/due-list"
    with clock_at(board.now):
        everything = ok(await viewer.get(path))
        horizon = ok(await viewer.get(path, params={"days": 0}))
        fleet = ok(
            await viewer.get("/reports/due-list", params={"aircraft_id": str(board.b), "days": 0})
        )
        response = await viewer.get(path, params={"format": "csv"})
    assert titles(everything) == ["due", "soon_dated", "ok_far"]
    assert horizon == fleet
    assert [line["title"] for line in csv.DictReader(io.StringIO(response.text))] == titles(
        everything
    )
    entity = await connection.scalar(
        text("SELECT entity_id FROM audit_logs WHERE org_id = :org AND request_id = :rid"),
        {"org": tenant.id, "rid": response.headers["x-request-id"]},
    )
    assert entity == board.b


async def test_a_json_due_list_writes_nothing(
    connection: AsyncConnection, tenant: Tenant, board: Board
) -> None:
    """Reading is not exporting: no audit row for the JSON forms."""
    response = await tenant.as_("viewer").get("/reports/due-list")
    assert response.status_code == 200
    audited = await connection.scalar(
        text("SELECT count(*) FROM audit_logs WHERE request_id = :rid"),
        {"rid": response.headers["x-request-id"]},
    )
    assert audited == 0


async def test_another_organizations_aircraft_is_404(
    connection: AsyncConnection, tenant: Tenant, board: Board
) -> None:
    other = await make_org(connection)
    foreign = await make_aircraft(connection, other)
    viewer = tenant.as_("viewer")
    for path, params in [
        (f"/aircraft/{foreign}/due-list", {}),
        (f"/aircraft/{foreign}/due-list", {"format": "csv"}),
        ("/reports/due-list", {"aircraft_id": str(foreign)}),
        ("/reports/due-list", {"aircraft_id": str(foreign), "format": "csv"}),
        (f"/reports/aircraft/{foreign}/status", {}),
        (f"/reports/aircraft/{foreign}/status", {"format": "pdf"}),
        ("/reports/due-timeline.svg", {"aircraft_id": str(foreign)}),
    ]:
        assert_error(await viewer.get(path, params=params), 404, contains="aircraft not found")


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("mechanic", {"summary", "due_list", "aircraft_due_list"}),
        (
            "viewer",
            {"summary", "due_list", "aircraft_due_list", "compliance", "status", "timeline"},
        ),
        (
            "auditor",
            {"summary", "due_list", "aircraft_due_list", "compliance", "status", "timeline"},
        ),
        (
            "scheduler",
            {"summary", "due_list", "aircraft_due_list", "compliance", "status", "timeline"},
        ),
    ],
)
async def test_who_reads_which_report(
    tenant: Tenant, board: Board, role: str, allowed: set[str]
) -> None:
    paths = {
        "summary": "/reports/summary",
        "due_list": "/reports/due-list",
        "aircraft_due_list": f"/aircraft/{board.a}/due-list",
        "compliance": "/reports/compliance",
        "status": f"/reports/aircraft/{board.a}/status",
        "timeline": "/reports/due-timeline.svg",
    }
    actor = tenant.as_(role)
    for name, path in paths.items():
        response = await actor.get(path)
        if name in allowed:
            assert response.status_code == 200, (name, response.text)
        else:
            assert_error(response, 403, contains="may not read reports")
