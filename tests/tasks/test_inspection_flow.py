"""The whole life of a generated 100-hour inspection (issue acceptance, SPEC §6.5-§6.8)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.api import Actor, ok
from tests.support.dates import day
from tests.support.tenant import Tenant


async def test_a_100_hour_inspection_from_start_to_the_next_one(
    tenant: Tenant, connection: AsyncConnection
) -> None:
    scheduler, mechanic = tenant.as_("scheduler"), tenant.as_("mechanic")
    mechanic_user = tenant.users["mechanic"]

    async def call(
        method: str, path: str, actor: Actor, body: Any = None, expect: int = 200
    ) -> Any:
        return ok(await actor.request(method, path, json=body), expect)

    craft = await call(
        "POST",
        "/aircraft",
        scheduler,
        {
            "tail_number": "N100FL",
            "model": "C172S",
            "flight_hours_total": 1092.0,
            "cycles_total": 1500,
        },
        201,
    )
    oil = await call(
        "POST",
        "/part-definitions",
        scheduler,
        {"name": "Oil filter", "part_number": "CH48110-1", "min_stock": 1},
        201,
    )
    plugs = await call(
        "POST", "/part-definitions", scheduler, {"name": "Spark plug", "min_stock": 0}, 201
    )
    # Expiry dates relative to today: fixed dates would expire one day and fail the test.
    in_five_years, in_three_years = day(5 * 365), day(3 * 365)
    for serial, expiry in (
        ("OF-2", in_five_years),
        ("OF-1", in_three_years),  # the earliest expiry: reserved first
        ("OF-3", None),
    ):
        await call(
            "POST",
            "/part-items",
            scheduler,
            {"part_definition_id": oil["id"], "serial_number": serial, "expiry_date": expiry},
            201,
        )
    for serial in ("SP-1", "SP-2"):
        await call(
            "POST",
            "/part-items",
            scheduler,
            {"part_definition_id": plugs["id"], "serial_number": serial},
            201,
        )
    program = await call(
        "POST",
        "/maintenance-programs",
        scheduler,
        {
            "name": "100-hour inspection",
            "aircraft_model": "C172S",
            "interval_hours": 100,
            "tolerance_hours": 10,
            "next_due_basis": "scheduled",
            "required_parts": [
                {"part_definition_id": oil["id"], "quantity": 1},
                {"part_definition_id": plugs["id"], "quantity": 2},
            ],
        },
        201,
    )
    assert sorted(program["required_parts"], key=lambda p: p["quantity"]) == [
        {"part_definition_id": oil["id"], "quantity": 1},
        {"part_definition_id": plugs["id"], "quantity": 2},
    ]
    # The logbook: last done 60 days ago at 1,000 h. The task rests on that record.
    await call(
        "POST",
        f"/aircraft/{craft['id']}/compliance-records",
        scheduler,
        {
            "program_id": program["id"],
            "performed_at": day(-60),
            "performed_hours": 1000,
            "reference": "Airframe logbook p. 41",
        },
        201,
    )
    [task] = await call("GET", f"/maintenance-tasks?aircraft_id={craft['id']}", mechanic)
    assert (task["due_hours"], task["basis_source"]) == (1100.0, "record")

    # Fly past the limit, within tolerance: the inspection is due, not overdue.
    await call("PATCH", f"/aircraft/{craft['id']}", scheduler, {"flight_hours_total": 1108.0})

    # Start: the aircraft goes to maintenance, the required parts are reserved (earliest expiry).
    started = await call(
        "PATCH",
        f"/maintenance-tasks/{task['id']}/state",
        mechanic,
        {"new_state": "in_progress", "version": task["version"]},
    )
    assert started["state"] == "in_progress" and started["started_at"]
    assert started["assigned_mechanic_id"] == str(mechanic_user.id)
    assert (await call("GET", f"/aircraft/{craft['id']}", mechanic))["status"] == "maintenance"
    reserved = {r["serial_number"]: r for r in started["reservations"]}
    assert set(reserved) == {"OF-1", "SP-1", "SP-2"}

    # Compliance items created and signed.
    for step in ("Engine compression check", "Flight control cable tension"):
        item = await call(
            "POST", "/compliance-items", mechanic, {"task_id": task["id"], "description": step}, 201
        )
        signed = await call(
            "PATCH", f"/compliance-items/{item['id']}/sign-off", mechanic, {"result": "pass"}
        )
        assert signed["signed_off"] is True and signed["sign_off_user_id"] == str(mechanic_user.id)

    # Complete with the parts used: the oil filter and one plug; the other plug goes back.
    done = await call(
        "PATCH",
        f"/maintenance-tasks/{task['id']}/state",
        mechanic,
        {
            "new_state": "completed",
            "notes": "100-hour done; oil filter and one plug replaced",
            "parts_used": [reserved["OF-1"]["part_item_id"], reserved["SP-1"]["part_item_id"]],
        },
    )
    assert done["state"] == "completed"
    assert done["completed_hours"] == 1108.0 and done["completed_by"] == str(mechanic_user.id)
    states = {r["serial_number"]: r["state"] for r in done["reservations"]}
    assert states == {"OF-1": "used", "SP-1": "used", "SP-2": "released"}
    items = {
        i["serial_number"]: i["status"] for i in await call("GET", "/part-items?limit=10", mechanic)
    }
    assert items["OF-1"] == "used" and items["SP-1"] == "used" and items["SP-2"] == "in_stock"
    craft_after = await call("GET", f"/aircraft/{craft['id']}", mechanic)
    assert craft_after["status"] == "operational" and craft_after["last_maintenance"]

    # The next 100-hour task counts from the limit (scheduled basis, late within tolerance).
    [following] = await call(
        "GET", f"/maintenance-tasks?aircraft_id={craft['id']}&state=scheduled", mechanic
    )
    assert following["program_id"] == program["id"]
    assert following["due_hours"] == 1200.0

    # Audit rows say who did what, when, with which parts.
    audit = (
        (
            await connection.execute(
                text(
                    "SELECT details FROM audit_logs"
                    " WHERE entity_id = :id AND action = 'state_change' ORDER BY seq"
                ),
                {"id": task["id"]},
            )
        )
        .scalars()
        .all()
    )
    assert [row["changes"]["state"]["new"] for row in audit] == ["in_progress", "completed"]
    assert sorted(audit[1]["parts_used"]) == sorted(
        [reserved["OF-1"]["part_item_id"], reserved["SP-1"]["part_item_id"]]
    )
    events = (
        (
            await connection.execute(
                text("SELECT event_type FROM outbox_events WHERE org_id = :o ORDER BY created_at"),
                {"o": tenant.id},
            )
        )
        .scalars()
        .all()
    )
    for kind in (
        "task_state_changed",
        "part_reserved",
        "part_used",
        "part_released",
        "compliance_signed",
        "aircraft_status_updated",
        "program_task_generated",
    ):
        assert kind in events, kind
