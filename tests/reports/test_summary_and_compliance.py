"""The fleet summary and the compliance report (SPEC §9): in a fresh organization with a known
fleet every count equals the direct SQL count, another organization's rows never count, and
the compliance export streams every item with formula cells neutralised, audited."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.api import assert_error, ok
from tests.support.dates import day
from tests.support.factories import (
    make_aircraft,
    make_compliance_item,
    make_part_definition,
    make_part_item,
    make_reservation,
    make_task,
)
from tests.support.tenant import Tenant, make_tenant


@dataclass
class Fleet:
    """What the fixture built, by name."""

    aircraft: dict[str, UUID]
    tasks: dict[str, UUID]
    items: dict[str, UUID]


async def build_fleet(conn: AsyncConnection, tenant: Tenant) -> Fleet:
    """Aircraft in every status, tasks in every state and due status (hours limits only, so
    the direct SQL below is plain arithmetic), stock with low and healthy definitions, and
    compliance items of every result, signed and not."""
    org = tenant.id
    mechanic = tenant.users["mechanic"].id
    craft = {
        "op": await make_aircraft(conn, org, flight_hours_total=1000, status="operational"),
        "op2": await make_aircraft(conn, org, flight_hours_total=500, status="operational"),
        "mx": await make_aircraft(conn, org, flight_hours_total=2000, status="maintenance"),
        "gr": await make_aircraft(conn, org, flight_hours_total=3000, status="grounded"),
    }
    deleted = await make_aircraft(conn, org, deleted_at=datetime.now(UTC))
    tasks = {
        # 1000 h on the meter: 990 + 5 tolerance is passed → overdue.
        "overdue": await make_task(conn, org, craft["op"], due_hours=990, tolerance_hours=5),
        # Within tolerance: due (neither overdue nor due soon).
        "due": await make_task(conn, org, craft["op"], due_hours=998, tolerance_hours=5),
        # 10 h left under the default 25 h window: due soon.
        "soon": await make_task(conn, org, craft["op2"], due_hours=510),
        "ok": await make_task(conn, org, craft["op2"], due_hours=900),
        "started": await make_task(
            conn, org, craft["mx"], due_hours=1990, state="in_progress"
        ),  # overdue and in progress
        "done": await make_task(conn, org, craft["gr"], state="completed", due_hours=10),
        "cancelled": await make_task(conn, org, craft["gr"], state="cancelled", due_hours=10),
        "gone": await make_task(conn, org, craft["gr"], due_hours=10, deleted_at=datetime.now(UTC)),
    }
    await make_task(conn, org, deleted, due_hours=1000)  # a task of a deleted aircraft counts
    low = await make_part_definition(conn, org, min_stock=3)
    healthy = await make_part_definition(conn, org, min_stock=1)
    reserved_away = await make_part_definition(conn, org, min_stock=1)
    expired_away = await make_part_definition(conn, org, min_stock=1)
    await make_part_item(conn, org, low)
    await make_part_item(conn, org, low)
    await make_part_item(conn, org, healthy)
    await make_part_item(conn, org, healthy, status="used")
    await make_part_item(conn, org, healthy, status="disposed")
    item = await make_part_item(conn, org, reserved_away)
    await make_reservation(conn, org, tasks["ok"], item)
    await make_part_item(
        conn, org, expired_away, expiry_date=datetime.now(UTC).date() - timedelta(days=1)
    )
    items = {
        "pass_signed": await make_compliance_item(
            conn, org, tasks["started"], result="pass", signed_by=mechanic
        ),
        "fail_signed": await make_compliance_item(
            conn, org, tasks["started"], result="fail", signed_by=mechanic
        ),
        "pending": await make_compliance_item(conn, org, tasks["soon"], result="pending"),
        "pass_unsigned": await make_compliance_item(conn, org, tasks["ok"], result="pass"),
        "formula": await make_compliance_item(
            conn, org, tasks["ok"], result="fail", description='=HYPERLINK("http://x","y")'
        ),
    }
    return Fleet(craft, tasks, items)


async def sql_counts(conn: AsyncConnection, org: UUID) -> dict[str, Any]:
    """The summary counted straight from the tables."""

    async def count(sql: str) -> int:
        return int(await conn.scalar(text(sql), {"org": org}) or 0)

    tasks = "FROM maintenance_tasks t JOIN aircraft a ON a.id = t.aircraft_id WHERE t.org_id = :org AND t.deleted_at IS NULL"
    open_ = "t.state IN ('scheduled', 'in_progress')"
    return {
        "tasks": {
            state: await count(f"SELECT count(*) {tasks} AND t.state = '{state}'")
            for state in ("scheduled", "in_progress", "completed", "cancelled")
        }
        | {
            "overdue": await count(
                f"SELECT count(*) {tasks} AND {open_}"
                " AND a.flight_hours_total > t.due_hours + coalesce(t.tolerance_hours, 0)"
            ),
            "due_soon": await count(
                f"SELECT count(*) {tasks} AND {open_} AND a.flight_hours_total < t.due_hours"
                " AND t.due_hours - a.flight_hours_total <= 25"
            ),
        },
        "aircraft": {
            "total": await count(
                "SELECT count(*) FROM aircraft WHERE org_id = :org AND deleted_at IS NULL"
            ),
        }
        | {
            status: await count(
                "SELECT count(*) FROM aircraft WHERE org_id = :org AND deleted_at IS NULL"
                f" AND status = '{status}'"
            )
            for status in ("operational", "maintenance", "grounded")
        },
        "parts": {
            status: await count(
                "SELECT count(*) FROM part_items WHERE org_id = :org AND deleted_at IS NULL"
                f" AND status = '{status}'"
            )
            for status in ("in_stock", "used", "disposed")
        }
        | {
            "low_stock_definitions": await count(
                """SELECT count(*) FROM part_definitions d WHERE d.org_id = :org
                   AND d.min_stock > (SELECT count(*) FROM part_items i
                       WHERE i.part_definition_id = d.id AND i.status = 'in_stock'
                         AND (i.expiry_date IS NULL OR i.expiry_date >= current_date)
                         AND NOT EXISTS (SELECT 1 FROM part_reservations r
                                         WHERE r.part_item_id = i.id AND r.state = 'reserved'))"""
            )
        },
        "compliance": {
            "pending": await count(
                "SELECT count(*) FROM compliance_items WHERE org_id = :org AND sign_off_time IS NULL"
            ),
            "signed": await count(
                "SELECT count(*) FROM compliance_items WHERE org_id = :org"
                " AND sign_off_time IS NOT NULL"
            ),
        },
    }


@pytest.fixture
async def other(connection: AsyncConnection, app: FastAPI, client: httpx.AsyncClient) -> Tenant:
    """Another organization with a fleet of its own: none of it may count."""
    tenant = await make_tenant(connection, app.state.signer, client)
    await build_fleet(connection, tenant)
    return tenant


async def test_summary_counts_equal_direct_sql(
    connection: AsyncConnection, tenant: Tenant, other: Tenant
) -> None:
    await build_fleet(connection, tenant)
    summary = ok(await tenant.as_("viewer").get("/reports/summary"))
    expected = await sql_counts(connection, tenant.id)
    assert summary == expected
    # The construction's own numbers: the SQL above counts what the fixture means.
    assert summary["tasks"]["overdue"] == 2 and summary["tasks"]["due_soon"] == 1
    assert summary["aircraft"] == {"total": 4, "operational": 2, "maintenance": 1, "grounded": 1}
    assert summary["parts"]["low_stock_definitions"] == 3
    assert summary["compliance"] == {"pending": 3, "signed": 2}


async def test_the_summary_is_a_handful_of_statements_whatever_the_fleet(
    connection: AsyncConnection, tenant: Tenant
) -> None:
    """One statement: a fleet of 1 and a fleet of 200 cost the same number of queries."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    await build_fleet(connection, tenant)
    sync_engine = connection.sync_connection.engine  # type: ignore[union-attr]
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        ok(await tenant.as_("viewer").get("/reports/summary"))  # the caller is known now
        statements.clear()
        ok(await tenant.as_("viewer").get("/reports/summary"))
        small = len(statements)
        await connection.execute(
            text(
                "INSERT INTO aircraft (org_id, tail_number, model)"
                " SELECT :org, 'NX' || g, 'C172' FROM generate_series(1, 200) g"
            ),
            {"org": tenant.id},
        )
        statements.clear()
        ok(await tenant.as_("viewer").get("/reports/summary"))
        assert len(statements) == small
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"aircraft": "op2"},
        {"task": "started"},
        {"result": "fail"},
        {"signed": "true"},
        {"signed": "false", "result": "pass"},
        {"from": "past", "to": "future"},
        {"from": "future"},
    ],
)
async def test_compliance_counts_equal_direct_sql(
    connection: AsyncConnection, tenant: Tenant, other: Tenant, filters: dict[str, str]
) -> None:
    fleet = await build_fleet(connection, tenant)
    params: dict[str, str] = {}
    where = ["c.org_id = :org"]
    bound: dict[str, Any] = {"org": tenant.id}
    moments = {
        "past": datetime.now(UTC) - timedelta(days=1),
        "future": datetime.now(UTC) + timedelta(days=1),
    }
    if "aircraft" in filters:
        params["aircraft_id"] = str(fleet.aircraft[filters["aircraft"]])
        where.append("t.aircraft_id = :aircraft")
        bound["aircraft"] = fleet.aircraft[filters["aircraft"]]
    if "task" in filters:
        params["task_id"] = str(fleet.tasks[filters["task"]])
        where.append("c.task_id = :task")
        bound["task"] = fleet.tasks[filters["task"]]
    if "result" in filters:
        params["result"] = filters["result"]
        where.append(f"c.result = '{filters['result']}'")
    if "signed" in filters:
        params["signed"] = filters["signed"]
        where.append(f"c.sign_off_time IS {'NOT ' if filters['signed'] == 'true' else ''}NULL")
    for name in ("from", "to"):
        if name in filters:
            params[name] = moments[filters[name]].isoformat()
            op = ">=" if name == "from" else "<"
            where.append(f"coalesce(c.sign_off_time, c.created_at) {op} :{name}")
            bound[name] = moments[filters[name]]
    response = await tenant.as_("auditor").get("/reports/compliance", params=params)
    report = ok(response)
    base = (
        "SELECT count(*) FROM compliance_items c JOIN maintenance_tasks t ON t.id = c.task_id"
        f" WHERE {' AND '.join(where)}"
    )

    async def count(extra: str = "") -> int:
        return int(await connection.scalar(text(base + extra), bound) or 0)

    expected = {
        "total": await count(),
        "pass": await count(" AND c.result = 'pass'"),
        "fail": await count(" AND c.result = 'fail'"),
        "pending": await count(" AND c.result = 'pending'"),
        "signed": await count(" AND c.sign_off_time IS NOT NULL"),
        "unsigned": await count(" AND c.sign_off_time IS NULL"),
    }
    assert {key: report[key] for key in expected} == expected
    assert len(report["items"]) == expected["total"] == int(response.headers["x-total-count"])
    times = [item["time"] for item in report["items"]]
    assert times == sorted(times, reverse=True)


async def test_compliance_items_name_task_tail_and_signer(
    connection: AsyncConnection, tenant: Tenant
) -> None:
    fleet = await build_fleet(connection, tenant)
    report = ok(
        await tenant.as_("auditor").get(
            "/reports/compliance", params={"task_id": str(fleet.tasks["started"]), "result": "fail"}
        )
    )
    [item] = report["items"]
    mechanic = tenant.users["mechanic"]
    assert item["id"] == str(fleet.items["fail_signed"])
    assert item["task_title"] == "Inspection"
    assert item["aircraft_id"] == str(fleet.aircraft["mx"])
    tail = await connection.scalar(
        text("SELECT tail_number FROM aircraft WHERE id = :id"), {"id": fleet.aircraft["mx"]}
    )
    assert item["tail_number"] == tail
    assert item["signed_off"] is True and item["signer_id"] == str(mechanic.id)
    assert item["signer_name"] == mechanic.email  # the user has no name: its email
    assert item["time"] == item["sign_off_time"]


async def test_compliance_csv_streams_every_item_neutralised_and_audited(
    connection: AsyncConnection, tenant: Tenant, other: Tenant
) -> None:
    fleet = await build_fleet(connection, tenant)
    response = await tenant.as_("auditor").get(
        "/reports/compliance", params={"format": "csv", "limit": 1}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    # Every item, not one page.
    assert {row["id"] for row in rows} == {str(i) for i in fleet.items.values()}
    formula = next(row for row in rows if row["id"] == str(fleet.items["formula"]))
    assert formula["description"] == '\'=HYPERLINK("http://x","y")'
    audit = (
        await connection.execute(
            text(
                "SELECT entity_type, action, user_id, details FROM audit_logs"
                " WHERE org_id = :org AND request_id = :rid"
            ),
            {"org": tenant.id, "rid": response.headers["x-request-id"]},
        )
    ).one()
    assert audit.entity_type == "report" and audit.action == "export"
    assert audit.user_id == tenant.users["auditor"].id
    assert audit.details == {"report": "compliance", "format": "csv", "filters": {}}


async def test_compliance_filters_are_checked(
    tenant: Tenant, other: Tenant, connection: AsyncConnection
) -> None:
    foreign = await make_aircraft(connection, other.id)
    auditor = tenant.as_("auditor")
    assert_error(
        await auditor.get("/reports/compliance", params={"aircraft_id": str(foreign)}),
        404,
        contains="aircraft not found",
    )
    assert_error(
        await auditor.get("/reports/compliance", params={"result": "maybe"}), 400, field="result"
    )
    assert_error(
        await auditor.get("/reports/compliance", params={"from": day(0) + "Tnonsense"}),
        400,
        field="from",
    )
    assert_error(
        await auditor.get("/reports/compliance", params={"format": "xlsx"}), 400, field="format"
    )


async def test_an_admin_reads_another_organizations_summary_by_org_id(
    connection: AsyncConnection, tenant: Tenant, other: Tenant
) -> None:
    await build_fleet(connection, tenant)
    admin = other.as_("admin")
    theirs = ok(await admin.get("/reports/summary", params={"org_id": str(tenant.id)}))
    assert theirs == await sql_counts(connection, tenant.id)
    own = ok(await admin.get("/reports/summary"))
    assert own == await sql_counts(connection, other.id)
    # Anyone else passing org_id stays in their own organization.
    pinned = ok(
        await tenant.as_("viewer").get("/reports/summary", params={"org_id": str(other.id)})
    )
    assert pinned == await sql_counts(connection, tenant.id)
