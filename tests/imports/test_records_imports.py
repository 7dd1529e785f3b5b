"""Programs, last-done records and flight logs imported (SPEC §8): imported programs
generate their tasks, imported records set the due limits, a re-imported log adds nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from amss.imports import service
from tests.imports.support import csv_of, process, rows_of, upload
from tests.support.api import Actor, ok
from tests.support.dates import day
from tests.support.steps import add_aircraft, add_program, open_tasks
from tests.support.tenant import Tenant


def errors_by_row(rows: list[dict[str, Any]]) -> dict[int, list[str]]:
    return {row["row_number"]: [e.split(":", 1)[0] for e in row["errors"]] for row in rows}


async def _meters(actor: Actor, aircraft_id: str) -> tuple[float, int]:
    craft = ok(await actor.get(f"/aircraft/{aircraft_id}"))
    return craft["flight_hours_total"], craft["cycles_total"]


async def test_imported_programs_generate_their_tasks_once(tenant: Tenant, db: Database) -> None:
    planner = tenant.as_("scheduler")
    one = await add_aircraft(planner, tail_number="N100", model="C172S", flight_hours_total=500)
    other = await add_aircraft(planner, tail_number="N200", model="PA28")
    content = csv_of(
        ["name", "aircraft_model", "tail_number", "interval_hours", "interval_months", "mandatory"],
        [
            ["100-hour", "C172S", "", "100", "", "true"],
            ["Annual", "", "", "", "12", ""],
            ["Oil change", "", "N100", "50", "", "no"],
            ["Bad", "", "", "", "", ""],
            ["Both", "C172S", "N100", "10", "", ""],
            ["Annual", "", "", "", "12", ""],
        ],
    )
    done = await process(db, planner, await upload(planner, "programs", content))

    assert done["summary"] | {"unchanged": 0} == {
        "total": 6,
        "valid": 3,
        "invalid": 3,
        "applied": 3,
        "unchanged": 0,
    }
    invalid = errors_by_row(await rows_of(planner, done["id"], status="invalid"))
    assert invalid == {4: ["row"], 5: ["tail_number"], 6: ["name"]}
    titles = sorted(task["title"] for task in await open_tasks(planner, one["id"]))
    assert len(titles) == 3 and any("100-hour" in t for t in titles)
    assert len(await open_tasks(planner, other["id"])) == 1
    oil = next(t for t in await open_tasks(planner, one["id"]) if "Oil" in t["title"])
    assert oil["due_hours"] == 550.0
    assert oil["mandatory"] is False

    again = await process(db, planner, await upload(planner, "programs", content))
    assert again["summary"]["unchanged"] == 3
    assert len(await open_tasks(planner, one["id"])) == 3


@pytest.mark.parametrize("chunk", [service.VALIDATION_CHUNK, 3])
async def test_imported_last_done_records_set_the_due_limits(
    tenant: Tenant,
    db: Database,
    connection: AsyncConnection,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
) -> None:
    monkeypatch.setattr(service, "VALIDATION_CHUNK", chunk)
    planner = tenant.as_("scheduler")
    craft = await add_aircraft(planner, tail_number="N300", model="C172S", flight_hours_total=500)
    await add_program(planner, name="100-hour", aircraft_model="C172S", interval_hours=100)
    header = ["tail_number", "program", "performed_at", "performed_hours", "reference", "x"]
    content = csv_of(
        header,
        [
            ["n300", "100-hour", day(-10), "450", "Logbook p. 4", ""],
            ["N300", "100-hour", day(-20), "", "Logbook p. 3", ""],
            ["N300", "Annual", day(-20), "400", "Logbook p. 3", ""],
            ["N300", "100-hour", day(3), "490", "Logbook p. 5", ""],
            ["N300", "100-hour", day(-5), "650", "Logbook p. 5", ""],
            ["N999", "100-hour", day(-5), "1", "Logbook p. 5", ""],
            ["N300", "100-hour", day(-10), "450", "", ""],
        ],
    )
    done = await process(db, planner, await upload(planner, "compliance", content))

    assert done["summary"]["applied"] == 1
    invalid = errors_by_row(await rows_of(planner, done["id"], status="invalid"))
    assert invalid == {
        2: ["performed_hours"],
        3: ["program"],
        4: ["performed_at"],
        5: ["performed_hours"],
        6: ["tail_number"],
        7: ["reference"],
    }
    [task] = await open_tasks(planner, craft["id"])
    assert (task["due_hours"], task["basis_source"]) == (550.0, "record")
    records = ok(await planner.get(f"/aircraft/{craft['id']}/compliance-records"))
    assert [(r["source"], r["reference"]) for r in records] == [("import", "Logbook p. 4")]

    again = await process(db, planner, await upload(planner, "compliance", content))
    assert again["summary"]["unchanged"] == 1
    count = await connection.scalar(
        text("SELECT count(*) FROM compliance_records WHERE aircraft_id = :id"),
        {"id": craft["id"]},
    )
    assert count == 1


@pytest.mark.parametrize("chunk", [service.VALIDATION_CHUNK, 2])
async def test_a_reimported_flight_log_adds_no_hours(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Also checked two rows at a time: a day's hours and duplicates span the chunks."""
    monkeypatch.setattr(service, "VALIDATION_CHUNK", chunk)
    planner = tenant.as_("scheduler")
    craft = await add_aircraft(planner, tail_number="N400", flight_hours_total=100, cycles_total=50)
    await add_aircraft(planner, tail_number="N401")
    header = ["tail_number", "flight_date", "flight_hours", "cycles", "external_id"]
    content = csv_of(
        header,
        [
            ["N400", day(-3), "2.5", "2", "LOG-1"],
            ["N400", day(-2), "1.5", "1", "LOG-2"],
            ["N400", day(-2), "3.0", "3", "LOG-3"],
            ["N400", day(-1), "25", "1", "LOG-4"],
            ["N401", day(-1), "20", "1", "LOG-5"],
            ["N401", day(-1), "5", "1", "LOG-6"],
            ["N999", day(-1), "1", "1", "LOG-7"],
            ["N400", day(2), "1", "1", "LOG-8"],
            ["N400", day(-1), "1", "1", ""],
            ["N400", day(-1), "0", "3", "LOG-10"],
            ["N400", day(-3), "2.5", "2", "LOG-1"],
        ],
    )
    done = await process(db, planner, await upload(planner, "utilization", content))

    invalid = errors_by_row(await rows_of(planner, done["id"], status="invalid"))
    assert invalid == {
        4: ["flight_hours"],
        6: ["flight_hours"],
        7: ["tail_number"],
        8: ["flight_date"],
        9: ["external_id"],
        10: ["cycles"],
        11: ["external_id"],
    }
    assert done["summary"]["applied"] == 4
    assert await _meters(planner, craft["id"]) == (107.0, 56)

    again = await process(db, planner, await upload(planner, "utilization", content))
    assert again["summary"]["applied"] == again["summary"]["unchanged"] == 4
    assert await _meters(planner, craft["id"]) == (107.0, 56)
    entries = ok(await planner.get(f"/aircraft/{craft['id']}/utilization"))
    assert sorted(e["external_id"] for e in entries if e["source"] == "import") == [
        "LOG-1",
        "LOG-2",
        "LOG-3",
    ]
