"""Aircraft imports end to end through the API (SPEC §8): rows checked with the API's rules,
valid rows applied even when others are not, upserts by tail number, dry runs, audit."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from amss.imports import service
from amss.kit.metrics import imports_rows_total
from tests.imports.support import csv_of, process, rows_of, upload
from tests.support.api import ok
from tests.support.tenant import Tenant

HEADER = [
    "Tail_Number",
    "model",
    "serial_number",
    "status",
    "capacity_slots",
    "flight_hours_total",
    "cycles_total",
    "colour",
]


def fleet_file(size: int = 1000) -> tuple[bytes, dict[int, str]]:
    """``size`` aircraft rows of which 37 are bad, four ways; ``{row: column at fault}``."""
    rows: list[list[str]] = []
    bad: dict[int, str] = {}
    for number in range(1, size + 1):
        row = [f"N{number:05d}", "C172", f"SN{number}", "operational", "1", "1200.5", "900", "red"]
        if number % 27 == 0 and len(bad) < 10:
            row[3], bad[number] = "flying", "status"
        elif number % 27 == 5 and len(bad) < 19:
            row[5], bad[number] = "-3", "flight_hours_total"
        elif number % 27 == 9 and len(bad) < 28:
            row[0], bad[number] = f"N{number - 1:05d}", "tail_number"  # the row above's tail
        elif number % 27 == 13 and len(bad) < 37:
            row[1], bad[number] = "", "model"
        rows.append(row)
    assert len(bad) == 37 or size < 1000
    return csv_of(HEADER, rows), bad


@pytest.mark.parametrize("chunk", [service.VALIDATION_CHUNK, 8])
async def test_a_thousand_rows_with_37_bad_apply_963_and_name_each_column(
    tenant: Tenant,
    db: Database,
    connection: AsyncConnection,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
) -> None:
    """Also checked 8 rows at a time: row 9 repeats the tail of row 8, in the chunk before."""
    monkeypatch.setattr(service, "VALIDATION_CHUNK", chunk)
    content, bad = fleet_file()
    planner = tenant.as_("scheduler")
    pending = await upload(planner, "aircraft", content, filename="fleet.csv")
    assert pending["status"] == "pending"
    assert pending["ignored_columns"] == ["colour"]

    done = await process(db, planner, pending)
    assert done["status"] == "completed"
    assert done["summary"] == {
        "total": 1000,
        "valid": 963,
        "invalid": 37,
        "applied": 963,
        "unchanged": 0,
    }
    invalid = await rows_of(planner, done["id"], status="invalid")
    assert {row["row_number"] for row in invalid} == set(bad)
    for row in invalid:
        column = bad[row["row_number"]]
        assert [error.split(":", 1)[0] for error in row["errors"]] == [column], row
    duplicate = next(row for row in invalid if bad[row["row_number"]] == "tail_number")
    assert f"(row {duplicate['row_number'] - 1})" in duplicate["errors"][0]
    count = await connection.scalar(
        text("SELECT count(*) FROM aircraft WHERE org_id = :org"), {"org": tenant.id}
    )
    assert count == 963
    initial = await connection.scalar(
        text(
            "SELECT count(*) FROM utilization_entries WHERE org_id = :org AND source = 'initial'"
            " AND flight_hours = 1200.5 AND cycles = 900"
        ),
        {"org": tenant.id},
    )
    assert initial == 963
    applied = await rows_of(planner, done["id"], status="applied", limit=5)
    craft = ok(await planner.get(f"/aircraft/{applied[0]['entity_id']}"))
    assert craft["tail_number"] == applied[0]["raw"]["Tail_Number"]
    assert applied[0]["outcome"] == "created"


async def test_importing_the_same_file_again_changes_nothing(
    tenant: Tenant, db: Database, connection: AsyncConnection
) -> None:
    content, _ = fleet_file(200)
    planner = tenant.as_("scheduler")
    await process(db, planner, await upload(planner, "aircraft", content))
    before = await _state(connection, tenant.id)

    again = await process(db, planner, await upload(planner, "aircraft", content))

    assert again["status"] == "completed"
    assert again["summary"]["applied"] == again["summary"]["valid"]
    assert again["summary"]["unchanged"] == again["summary"]["applied"]
    assert await _state(connection, tenant.id) == before


async def test_finished_imports_count_their_rows_for_the_dashboard(
    tenant: Tenant, db: Database
) -> None:
    # The "Import rows by status" panel charts amss_imports_rows_total (deploy/grafana).
    def counted(status: str) -> float:
        return imports_rows_total.labels(type="aircraft", status=status)._value.get()

    content, _ = fleet_file(20)
    planner = tenant.as_("scheduler")
    before = {status: counted(status) for status in ("applied", "unchanged", "invalid")}
    first = await process(db, planner, await upload(planner, "aircraft", content))
    again = await process(db, planner, await upload(planner, "aircraft", content))
    assert first["summary"]["applied"] > 0 and again["summary"]["unchanged"] > 0
    assert counted("applied") - before["applied"] == first["summary"]["applied"]
    assert counted("unchanged") - before["unchanged"] == again["summary"]["unchanged"]
    assert counted("invalid") - before["invalid"] == 2 * first["summary"]["invalid"]


async def _state(connection: AsyncConnection, org_id: UUID) -> dict[str, Any]:
    """What an import could change: aircraft rows with their versions, entries, audit rows
    other than the imports' own."""
    aircraft = await connection.execute(
        text(
            "SELECT tail_number, model, version, flight_hours_total FROM aircraft"
            " WHERE org_id = :org ORDER BY tail_number"
        ),
        {"org": org_id},
    )
    entries = await connection.scalar(
        text("SELECT count(*) FROM utilization_entries WHERE org_id = :org"), {"org": org_id}
    )
    audit = await connection.scalar(
        text(
            "SELECT count(*) FROM audit_logs WHERE org_id = :org AND NOT"
            " (entity_type = 'import' AND action IN ('create', 'state_change'))"
        ),
        {"org": org_id},
    )
    return {"aircraft": [tuple(row) for row in aircraft], "entries": entries, "audit": audit}


async def test_a_changed_row_updates_its_aircraft_and_says_so(
    tenant: Tenant, db: Database, connection: AsyncConnection
) -> None:
    planner = tenant.as_("scheduler")
    first = csv_of(["tail_number", "model"], [["N1", "C172"], ["N2", "C172"]])
    await process(db, planner, await upload(planner, "aircraft", first))
    second = csv_of(
        ["tail_number", "model", "capacity_slots"], [["n1", "C172S", "2"], ["N2", "C172", ""]]
    )

    done = await process(db, planner, await upload(planner, "aircraft", second))

    rows = await rows_of(planner, done["id"])
    assert [row["outcome"] for row in rows] == ["updated", "unchanged"]
    craft = ok(await planner.get(f"/aircraft/{rows[0]['entity_id']}"))
    assert (craft["tail_number"], craft["model"], craft["capacity_slots"], craft["version"]) == (
        "N1",
        "C172S",
        2,
        2,
    )
    audit = await connection.execute(
        text(
            "SELECT details FROM audit_logs WHERE org_id = :org AND entity_id = :id"
            " AND action = 'update'"
        ),
        {"org": tenant.id, "id": UUID(done["id"])},
    )
    [details] = [row.details for row in audit]
    assert details["applied"]["updated"] == [rows[0]["entity_id"]]
    assert details["applied"]["created"] == []


async def test_a_dry_run_validates_and_applies_nothing(
    tenant: Tenant, db: Database, connection: AsyncConnection
) -> None:
    content, bad = fleet_file(100)
    planner = tenant.as_("scheduler")

    done = await process(db, planner, await upload(planner, "aircraft", content, dry_run=True))

    assert done["dry_run"] is True
    assert done["status"] == "completed"
    assert done["summary"]["invalid"] == len([n for n in bad if n <= 100])
    assert done["summary"]["applied"] == 0
    count = await connection.scalar(
        text("SELECT count(*) FROM aircraft WHERE org_id = :org"), {"org": tenant.id}
    )
    assert count == 0


async def test_an_existing_aircraft_keeps_its_status_and_meters(
    tenant: Tenant, db: Database
) -> None:
    planner = tenant.as_("scheduler")
    await process(
        db,
        planner,
        await upload(
            planner,
            "aircraft",
            csv_of(["tail_number", "model", "flight_hours_total"], [["N7", "PA28", "100"]]),
        ),
    )
    again = csv_of(
        ["tail_number", "model", "status", "flight_hours_total"],
        [["N7", "PA28", "grounded", "90"], ["N7 ", "PA28", "", "150"]],
    )
    done = await process(db, planner, await upload(planner, "aircraft", again))
    rows = await rows_of(planner, done["id"])
    assert [row["status"] for row in rows] == ["invalid", "invalid"]
    assert rows[0]["errors"][0].startswith("status: N7 is operational in AMSS")
    assert any(
        error.startswith("flight_hours_total: N7 has 100.0 h") for error in rows[1]["errors"]
    )


async def test_the_import_completed_event_carries_the_summary(
    tenant: Tenant, db: Database, connection: AsyncConnection
) -> None:
    planner = tenant.as_("scheduler")
    done = await process(
        db,
        planner,
        await upload(
            planner, "aircraft", csv_of(["tail_number", "model"], [["N9", "B737"], ["", "B737"]])
        ),
    )
    events = await connection.execute(
        text(
            "SELECT event_type, payload FROM outbox_events"
            " WHERE org_id = :org AND event_type = 'import_completed'"
        ),
        {"org": tenant.id},
    )
    [(_, payload)] = [tuple(row) for row in events]
    data = payload.get("data", payload)
    assert data["import_id"] == done["id"]
    assert (data["status"], data["total"], data["valid"], data["invalid"], data["applied"]) == (
        "completed",
        2,
        1,
        1,
        1,
    )


async def test_another_organization_cannot_see_an_import(
    tenant: Tenant, db: Database, client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    from tests.support.api import assert_error
    from tests.support.tenant import make_tenant

    planner = tenant.as_("scheduler")
    pending = await upload(planner, "aircraft", csv_of(["tail_number", "model"], [["N3", "C152"]]))
    other = await make_tenant(connection, tenant.signer, client)
    assert_error(await other.as_("scheduler").get(f"/imports/{pending['id']}"), 404)
    assert_error(await other.as_("scheduler").get(f"/imports/{pending['id']}/rows"), 404)
    listed = ok(await other.as_("scheduler").get("/imports"))
    assert listed == []


async def test_lists_page_filter_and_refuse_unknown_filters(tenant: Tenant, db: Database) -> None:
    from tests.support.api import assert_error

    planner = tenant.as_("scheduler")
    content = csv_of(["tail_number", "model"], [["N21", "C172"], ["", "C172"], ["N22", "C172"]])
    first = await process(db, planner, await upload(planner, "aircraft", content))
    second = await upload(planner, "aircraft", content, dry_run=True)

    listed = await planner.get("/imports")
    assert [item["id"] for item in ok(listed)] == [second["id"], first["id"]]
    assert listed.headers["x-total-count"] == "2"
    pending = ok(await planner.get("/imports", params={"status": "pending"}))
    assert [item["id"] for item in pending] == [second["id"]]
    page = await planner.get(f"/imports/{first['id']}/rows", params={"limit": 1, "offset": 1})
    assert [row["row_number"] for row in ok(page)] == [2]
    assert page.headers["x-total-count"] == "3"
    assert [row["row_number"] for row in await rows_of(planner, first["id"], status="applied")] == [
        1,
        3,
    ]
    assert_error(await planner.get("/imports", params={"status": "done"}), 400)
    assert_error(await planner.get(f"/imports/{first['id']}/rows", params={"status": "ok"}), 400)
    assert_error(await planner.get("/imports/not-a-uuid"), 400)
