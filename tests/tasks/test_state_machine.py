"""Maintenance tasks through the API: manual tasks, planning changes and the state machine
(SPEC §6.5, §6.6), with their audit rows and events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import ROLES as EVERY_ROLE
from amss.auth.rules import Role
from amss.kit.timefmt import clock_at
from tests.support.api import assert_error, ok
from tests.support.dates import frozen_now
from tests.support.factories import make_aircraft, make_org, make_user
from tests.support.steps import PAPER_RECORD, add_aircraft
from tests.support.tenant import Scenario, make_tenant

# An id no row has: fixed, so test ids are the same on every collection.
NOBODY = "00000000-0000-4000-8000-00000000dead"

# Every role, and a second mechanic.
ROLES: dict[str, Role] = {**{role: role for role in EVERY_ROLE}, "mechanic2": "mechanic"}


@dataclass
class Shop(Scenario):
    """One organization with a user of every role and an aircraft at 1000 h / 500 cycles."""

    aircraft: dict[str, Any]
    now: datetime  # when the test started: planned windows are relative to it

    @property
    def past(self) -> str:
        return (self.now - timedelta(hours=2)).isoformat()

    @property
    def recent(self) -> str:
        return (self.now - timedelta(hours=1)).isoformat()

    @property
    def tomorrow(self) -> str:
        return (self.now + timedelta(days=1)).isoformat()

    async def task(self, role: str = "scheduler", **fields: Any) -> dict[str, Any]:
        body = {
            "aircraft_id": self.aircraft["id"],
            "type": "repair",
            "title": "Replace brake pads",
            "start_time": self.past,
            "end_time": self.recent,
            **fields,
        }
        created: dict[str, Any] = await self.ok("POST", "/maintenance-tasks", role, body, 201)
        return created

    async def move(
        self, task_id: str, new_state: str, role: str = "scheduler", **fields: Any
    ) -> httpx.Response:
        return await self.call(
            "PATCH", f"/maintenance-tasks/{task_id}/state", role, {"new_state": new_state, **fields}
        )

    async def finish(
        self, task_id: str, final: str, role: str = "scheduler", **fields: Any
    ) -> httpx.Response:
        """End a task as ``role``: a planner's completion is a record entry from the signed
        paper record; a mechanic signs it."""
        if final == "completed" and role in ("scheduler", "tenant_admin", "admin"):
            fields = {**PAPER_RECORD, **fields}
        return await self.move(task_id, final, role, **fields)

    async def started(self, role: str = "scheduler", **fields: Any) -> dict[str, Any]:
        task = await self.task(**fields)
        started: dict[str, Any] = ok(await self.move(task["id"], "in_progress", role))
        return started

    async def craft(self) -> dict[str, Any]:
        found: dict[str, Any] = await self.ok("GET", f"/aircraft/{self.aircraft['id']}")
        return found

    async def generated(self, **program: Any) -> dict[str, Any]:
        body = {"name": "100-hour", "interval_hours": 100, "aircraft_id": self.aircraft["id"]}
        made = await self.ok("POST", "/maintenance-programs", json={**body, **program}, expect=201)
        [task] = await self.ok("GET", f"/maintenance-tasks?program_id={made['id']}&state=scheduled")
        assert task["program_id"] == made["id"]
        found: dict[str, Any] = task
        return found


@pytest.fixture
async def shop(client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI) -> Shop:
    tenant = await make_tenant(connection, app.state.signer, client, roles=ROLES)
    # Through the API: the meters it enters with are an initial utilization entry.
    aircraft = await add_aircraft(
        tenant.as_("scheduler"),
        tail_number="N1SM",
        model="C172",
        flight_hours_total=1000,
        cycles_total=500,
        avg_daily_hours=2,
    )
    return Shop(tenant, connection, aircraft, datetime.now(UTC))


# --- creating and planning ----------------------------------------------------------------


async def test_a_manual_task_is_created_scheduled_with_its_detail(shop: Shop) -> None:
    mechanic = shop.users["mechanic"]
    task = await shop.task(assigned_mechanic_id=str(mechanic.id), type="overhaul", notes="plan")
    assert task["state"] == "scheduled"
    assert task["type"] == "overhaul"
    assert task["program_id"] is None
    assert task["assigned_mechanic_id"] == str(mechanic.id)
    assert task["tail_number"] == "N1SM"
    assert task["version"] == 1
    assert task["reservations"] == [] and task["compliance_items"] == []
    assert datetime.fromisoformat(task["start_time"]) == datetime.fromisoformat(shop.past)


@pytest.mark.parametrize(
    ("case", "status", "needle"),
    [
        ("unknown_user", 404, "user not found"),
        ("foreign_mechanic", 404, "user not found"),
        ("not_a_mechanic", 400, "assigned_mechanic_id"),
        ("foreign_aircraft", 404, "aircraft not found"),
        ("unknown_aircraft", 404, "aircraft not found"),
        ("end_before_start", 400, "end_time"),
        ("unknown_type", 400, "type"),
        ("unknown_field", 400, "colour"),
        ("mechanic_creates", 403, ""),
        ("viewer_creates", 403, ""),
    ],
)
async def test_creating_a_task_checks_its_references_and_the_role(
    shop: Shop, case: str, status: int, needle: str
) -> None:
    other_org = await make_org(shop.conn)
    body: dict[str, Any] = {"aircraft_id": shop.aircraft["id"], "title": "Fix"}
    role = "scheduler"
    if case == "unknown_user":
        body["assigned_mechanic_id"] = str(uuid.uuid4())
    elif case == "foreign_mechanic":
        body["assigned_mechanic_id"] = str((await make_user(shop.conn, other_org, "mechanic")).id)
    elif case == "not_a_mechanic":
        body["assigned_mechanic_id"] = str(shop.users["viewer"].id)
    elif case == "foreign_aircraft":
        foreign = await make_aircraft(shop.conn, other_org, tail_number="N9X", model="M")
        body["aircraft_id"] = str(foreign)
    elif case == "unknown_aircraft":
        body["aircraft_id"] = str(uuid.uuid4())
    elif case == "end_before_start":
        body.update(start_time=shop.recent, end_time=shop.past)
    elif case == "unknown_type":
        body["type"] = "painting"
    elif case == "unknown_field":
        body["colour"] = "red"
    elif case == "mechanic_creates":
        role = "mechanic"
    else:
        role = "viewer"
    body_out = assert_error(await shop.call("POST", "/maintenance-tasks", role, body), status)
    assert needle in body_out["error"]


async def test_patch_changes_planning_fields_and_bumps_the_version(shop: Shop) -> None:
    task = await shop.task()
    mechanic = shop.users["mechanic"]
    changed = await shop.ok(
        "PATCH",
        f"/maintenance-tasks/{task['id']}",
        json={
            "title": "Replace both brake pads",
            "end_time": shop.tomorrow,
            "assigned_mechanic_id": str(mechanic.id),
            "version": 1,
        },
    )
    assert changed["title"] == "Replace both brake pads"
    assert changed["assigned_mechanic_id"] == str(mechanic.id)
    assert changed["version"] == 2
    cleared = await shop.ok(
        "PATCH", f"/maintenance-tasks/{task['id']}", json={"assigned_mechanic_id": None}
    )
    assert cleared["assigned_mechanic_id"] is None


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"title": "x", "version": 7}, 409, "version"),
        ({"assigned_mechanic_id": "viewer"}, 400, "assigned_mechanic_id"),
        ({"assigned_mechanic_id": "unknown"}, 404, "user not found"),
        ({"title": None}, 400, "title"),
        ({"end_time": "2000-01-01T00:00:00Z"}, 400, "end_time"),
        ({"state": "completed"}, 400, "state"),
    ],
)
async def test_patch_refuses_bad_changes(
    shop: Shop, body: dict[str, Any], status: int, needle: str
) -> None:
    task = await shop.task()
    if body.get("assigned_mechanic_id") == "viewer":
        body = {"assigned_mechanic_id": str(shop.users["viewer"].id)}
    elif body.get("assigned_mechanic_id") == "unknown":
        body = {"assigned_mechanic_id": str(uuid.uuid4())}
    response = await shop.call("PATCH", f"/maintenance-tasks/{task['id']}", json=body)
    assert needle in assert_error(response, status)["error"]


@pytest.mark.parametrize("final", ["completed", "cancelled"])
async def test_patch_of_a_closed_task_is_409(shop: Shop, final: str) -> None:
    task = await shop.started()
    response = await shop.finish(task["id"], final, notes="done")
    assert response.status_code == 200, response.text
    patch = await shop.call("PATCH", f"/maintenance-tasks/{task['id']}", json={"title": "again"})
    assert_error(patch, 409, contains=final)


@pytest.mark.parametrize("field", ["due_at", "due_hours", "due_cycles"])
async def test_patch_of_the_limits_of_a_generated_task_is_409(shop: Shop, field: str) -> None:
    task = await shop.generated()
    value = {"due_at": shop.tomorrow, "due_hours": 1500, "due_cycles": 900}[field]
    response = await shop.call("PATCH", f"/maintenance-tasks/{task['id']}", json={field: value})
    assert_error(response, 409, contains="program")
    renamed = await shop.ok(
        "PATCH", f"/maintenance-tasks/{task['id']}", json={"title": "100-hour (hangar 2)"}
    )
    assert renamed["title"] == "100-hour (hangar 2)"
    assert renamed["due_hours"] == task["due_hours"]


async def test_delete_removes_a_scheduled_manual_task(shop: Shop) -> None:
    task = await shop.task()
    await shop.ok("DELETE", f"/maintenance-tasks/{task['id']}", expect=204)
    assert_error(await shop.call("GET", f"/maintenance-tasks/{task['id']}"), 404)
    listed = await shop.ok("GET", f"/maintenance-tasks?aircraft_id={shop.aircraft['id']}")
    assert task["id"] not in [t["id"] for t in listed]


@pytest.mark.parametrize("state", ["in_progress", "completed", "cancelled", "generated"])
async def test_delete_of_anything_but_a_scheduled_manual_task_is_409(
    shop: Shop, state: str
) -> None:
    if state == "generated":
        task = await shop.generated()
    else:
        task = await shop.started()
        if state != "in_progress":
            assert (await shop.finish(task["id"], state, notes="done")).status_code == 200
    response = await shop.call("DELETE", f"/maintenance-tasks/{task['id']}")
    assert_error(response, 409, contains="cancel" if state == "generated" else state)
    assert (await shop.call("GET", f"/maintenance-tasks/{task['id']}")).status_code == 200


async def test_mechanic_cannot_delete_a_task(shop: Shop) -> None:
    task = await shop.task()
    assert_error(await shop.call("DELETE", f"/maintenance-tasks/{task['id']}", "mechanic"), 403)


# --- the state machine --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "new_state", "needle"),
    [
        ([], "scheduled", "already scheduled"),
        (["in_progress"], "in_progress", "already in_progress"),
        (["in_progress", "completed"], "completed", "already completed"),
        (["in_progress", "completed"], "in_progress", "final"),
        (["in_progress", "completed"], "cancelled", "final"),
        (["cancelled"], "in_progress", "final"),
        (["cancelled"], "completed", "final"),
        (["cancelled"], "cancelled", "already cancelled"),
        ([], "completed", "start it"),
    ],
)
async def test_transitions_the_machine_does_not_have_are_409(
    shop: Shop, path: list[str], new_state: str, needle: str
) -> None:
    task = await shop.task()
    for step in path:
        assert (await shop.finish(task["id"], step, notes="done")).status_code == 200
    response = await shop.finish(task["id"], new_state, notes="again")
    assert_error(response, 409, contains=needle)


@pytest.mark.parametrize("new_state", ["done", "IN_PROGRESS", "", None])
async def test_an_unknown_new_state_is_400(shop: Shop, new_state: Any) -> None:
    task = await shop.task()
    body = assert_error(await shop.move(task["id"], new_state), 400)
    assert any(problem["field"] == "new_state" for problem in body["details"])


async def test_a_stale_version_is_409(shop: Shop) -> None:
    task = await shop.task()
    await shop.ok("PATCH", f"/maintenance-tasks/{task['id']}", json={"title": "Renamed"})
    assert_error(await shop.move(task["id"], "in_progress", version=1), 409, contains="version 2")
    moved = await shop.move(task["id"], "in_progress", version=2)
    assert moved.status_code == 200, moved.text


async def test_start_records_started_at_and_puts_the_aircraft_in_maintenance(shop: Shop) -> None:
    task = await shop.task()
    moment = frozen_now()
    with clock_at(moment):
        started = await shop.move(task["id"], "in_progress")
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["state"] == "in_progress"
    assert datetime.fromisoformat(body["started_at"]) == moment
    assert body["version"] == task["version"] + 1
    assert (await shop.craft())["status"] == "maintenance"


async def test_a_mechanic_starting_an_unassigned_task_becomes_assigned(shop: Shop) -> None:
    task = await shop.task()
    assert task["assigned_mechanic_id"] is None
    response = await shop.move(task["id"], "in_progress", "mechanic")
    assert response.status_code == 200, response.text
    assert response.json()["assigned_mechanic_id"] == str(shop.users["mechanic"].id)


async def test_a_scheduler_starting_leaves_the_task_unassigned(shop: Shop) -> None:
    started = await shop.started()
    assert started["assigned_mechanic_id"] is None


@pytest.mark.parametrize(
    ("role", "new_state", "assigned", "status"),
    [
        ("mechanic", "in_progress", "mechanic2", 403),
        ("mechanic", "in_progress", "mechanic", 200),
        ("mechanic", "cancelled", None, 403),
        ("mechanic", "cancelled", "mechanic", 403),
        ("viewer", "in_progress", None, 403),
        ("auditor", "in_progress", None, 403),
        ("auditor", "cancelled", None, 403),
        ("tenant_admin", "in_progress", "mechanic2", 200),
        ("admin", "in_progress", "mechanic2", 200),
        ("scheduler", "cancelled", None, 200),
        ("tenant_admin", "cancelled", None, 200),
        ("admin", "cancelled", None, 200),
    ],
)
async def test_who_may_start_and_cancel(
    shop: Shop, role: str, new_state: str, assigned: str | None, status: int
) -> None:
    fields = {"assigned_mechanic_id": str(shop.users[assigned].id)} if assigned else {}
    task = await shop.task(**fields)
    response = await shop.move(task["id"], new_state, role, notes="grounded by weather")
    assert response.status_code == status, response.text
    state = (await shop.ok("GET", f"/maintenance-tasks/{task['id']}"))["state"]
    assert state == (new_state if status == 200 else "scheduled")


async def test_a_mechanic_cannot_complete_a_task_assigned_to_another(shop: Shop) -> None:
    task = await shop.started(assigned_mechanic_id=str(shop.users["mechanic2"].id))
    response = await shop.move(task["id"], "completed", "mechanic", notes="done")
    assert_error(response, 403)
    done = await shop.move(task["id"], "completed", "mechanic2", notes="done")
    assert done.status_code == 200, done.text


@pytest.mark.parametrize("notes", [None, "", "   "])
async def test_cancel_needs_a_reason_in_notes(shop: Shop, notes: str | None) -> None:
    task = await shop.task()
    body = assert_error(
        await shop.move(task["id"], "cancelled", notes=notes), 400, contains="notes"
    )
    assert body["details"][0]["field"] == "notes"


@pytest.mark.parametrize("notes", [None, "", "  \n "])
async def test_completion_needs_notes(shop: Shop, notes: str | None) -> None:
    task = await shop.started()
    body = assert_error(
        await shop.move(task["id"], "completed", notes=notes), 400, contains="notes"
    )
    assert body["details"][0]["field"] == "notes"
    assert (await shop.ok("GET", f"/maintenance-tasks/{task['id']}"))["state"] == "in_progress"


@pytest.mark.parametrize("kind", ["planning_notes", "generated"])
async def test_completion_needs_notes_of_the_work_even_when_the_task_has_notes(
    shop: Shop, kind: str
) -> None:
    if kind == "generated":
        task = await shop.generated()
        assert task["notes"]
    else:
        task = await shop.task(notes="Planned: check the left brake")
    assert (await shop.move(task["id"], "in_progress", "mechanic")).status_code == 200
    response = await shop.move(task["id"], "completed", "mechanic")
    assert_error(response, 400, contains="notes")


async def test_cancel_records_the_reason(shop: Shop) -> None:
    task = await shop.task()
    response = await shop.move(task["id"], "cancelled", notes="aircraft sold")
    assert response.status_code == 200, response.text
    assert response.json()["cancel_reason"] == "aircraft sold"


@pytest.mark.parametrize(
    ("result", "signed", "needle"),
    [
        ("pending", False, "is pending"),
        ("fail", False, "is not signed off"),
        ("fail", True, "is a finding"),
        ("pass", False, "is not signed off"),
    ],
)
async def test_completion_is_blocked_by_an_open_compliance_item(
    shop: Shop, result: str, signed: bool, needle: str
) -> None:
    task = await shop.started()
    ok = await shop.ok(
        "POST",
        "/compliance-items",
        json={"task_id": task["id"], "description": "Brake wear check", "result": "pass"},
        expect=201,
    )
    item = await shop.ok(
        "POST",
        "/compliance-items",
        json={"task_id": task["id"], "description": "Torque check", "result": result},
        expect=201,
    )
    await shop.ok("PATCH", f"/compliance-items/{ok['id']}/sign-off", "mechanic", {})
    if signed:
        await shop.ok("PATCH", f"/compliance-items/{item['id']}/sign-off", "mechanic", {})
    response = await shop.finish(task["id"], "completed", notes="done")
    error = assert_error(response, 409, contains=("Torque check", item["id"], needle))["error"]
    assert "Brake wear check" not in error
    assert (await shop.ok("GET", f"/maintenance-tasks/{task['id']}"))["state"] == "in_progress"


async def test_completion_with_every_item_signed_passes(shop: Shop) -> None:
    task = await shop.started()
    item = await shop.ok(
        "POST",
        "/compliance-items",
        json={"task_id": task["id"], "description": "Torque check"},
        expect=201,
    )
    await shop.ok(
        "PATCH", f"/compliance-items/{item['id']}/sign-off", "mechanic", {"result": "pass"}
    )
    moment = frozen_now()
    with clock_at(moment):
        response = await shop.finish(task["id"], "completed", notes="pads replaced")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "completed"
    assert body["notes"] == "pads replaced"
    assert body["completed_by"] == str(shop.users["scheduler"].id)
    assert body["record_entry"] is True
    assert {name: body[name] for name in PAPER_RECORD} == PAPER_RECORD
    assert body["certified_by_user_id"] is None
    assert body["completed_hours"] == 1000.0 and body["completed_cycles"] == 500
    assert datetime.fromisoformat(body["completed_at"]) == moment
    assert [c["signed_off"] for c in body["compliance_items"]] == [True]


@pytest.mark.parametrize("allow", [False, True])
@pytest.mark.parametrize(
    ("role", "due_hours", "early"),
    [
        ("scheduler", 1500, True),  # 500 h to go: nothing near due
        ("mechanic", 1500, True),
        ("scheduler", 1020, False),  # within the 25 h due-soon window
        ("mechanic", 990, False),  # past its limit
        ("admin", None, None),  # no limit to be early against
    ],
)
async def test_early_completion_is_allowed_flagged_and_never_needs_a_flag(
    shop: Shop, role: str, due_hours: int | None, early: bool | None, allow: bool
) -> None:
    """Early work is always allowed and never credited (SPEC §6.5): the planned window is
    no gate, ``allow_early_completion`` is accepted and ignored, and ``early`` is judged
    against the limits at the moment of completion."""
    task = await shop.started(end_time=shop.tomorrow, due_hours=due_hours)
    response = await shop.finish(
        task["id"], "completed", role, notes="done early", allow_early_completion=allow
    )
    assert response.status_code == 200, response.text
    assert response.json()["early"] is early


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        ({"completed_hours": 1000.1}, 400, "completed_hours"),
        ({"completed_cycles": 501}, 400, "completed_cycles"),
        ({"completed_hours": -1}, 400, "completed_hours"),
        ({"completed_hours": 990.5, "completed_cycles": 480}, 200, None),
    ],
)
async def test_completed_meters_may_not_exceed_the_aircraft(
    shop: Shop, fields: dict[str, Any], status: int, field: str | None
) -> None:
    task = await shop.started()
    response = await shop.finish(task["id"], "completed", notes="done", **fields)
    if field is not None:
        assert field in assert_error(response, status)["error"]
        return
    assert response.status_code == 200, response.text
    assert response.json()["completed_hours"] == 990.5
    assert response.json()["completed_cycles"] == 480


async def test_capacity_slots_limit_work_in_progress(shop: Shop) -> None:
    await shop.started()
    second = await shop.task(title="Replace tyre")
    response = await shop.move(second["id"], "in_progress")
    assert_error(
        response, 409, contains="aircraft N1SM has 1 tasks in progress and capacity_slots is 1"
    )
    assert (await shop.ok("GET", f"/maintenance-tasks/{second['id']}"))["state"] == "scheduled"
    await shop.ok("PATCH", f"/aircraft/{shop.aircraft['id']}", json={"capacity_slots": 2})
    assert (await shop.move(second["id"], "in_progress")).status_code == 200
    third = await shop.task(title="Replace strobe")
    assert_error(
        await shop.move(third["id"], "in_progress"),
        409,
        contains="aircraft N1SM has 2 tasks in progress and capacity_slots is 2",
    )


@pytest.mark.parametrize("final", ["completed", "cancelled"])
async def test_the_aircraft_returns_to_operational_when_the_last_work_ends(
    shop: Shop, final: str
) -> None:
    await shop.ok("PATCH", f"/aircraft/{shop.aircraft['id']}", json={"capacity_slots": 2})
    first = await shop.started()
    second = await shop.started(title="Replace tyre")
    assert (await shop.craft())["status"] == "maintenance"
    assert (await shop.finish(first["id"], final, notes="done")).status_code == 200
    assert (await shop.craft())["status"] == "maintenance"
    assert (await shop.finish(second["id"], final, notes="done")).status_code == 200
    assert (await shop.craft())["status"] == "operational"


@pytest.mark.parametrize("final", ["completed", "cancelled"])
async def test_a_grounding_set_by_hand_is_not_lifted_by_ending_a_task(
    shop: Shop, final: str
) -> None:
    task = await shop.started()
    await shop.ok("PATCH", f"/aircraft/{shop.aircraft['id']}", json={"status": "grounded"})
    assert (await shop.finish(task["id"], final, notes="done")).status_code == 200
    assert (await shop.craft())["status"] == "grounded"


@pytest.mark.parametrize(
    ("final", "status"), [("completed", "operational"), ("cancelled", "grounded")]
)
async def test_completing_the_overdue_task_lifts_its_grounding(
    shop: Shop, final: str, status: str
) -> None:
    # The aircraft is at 1000 h: overdue at once, and mandatory (an AD, say): it grounds.
    task = await shop.task(due_hours=900, mandatory=True)
    assert task["due_status"] == "overdue"
    assert (await shop.craft())["status"] == "grounded"
    assert (await shop.move(task["id"], "in_progress")).status_code == 200
    assert (await shop.craft())["status"] == "grounded"
    assert (await shop.finish(task["id"], final, notes="done")).status_code == 200
    assert (await shop.craft())["status"] == status


async def test_cancelling_a_generated_task_creates_a_replacement_with_the_same_limits(
    shop: Shop,
) -> None:
    task = await shop.generated(interval_cycles=200, interval_months=6)
    response = await shop.move(task["id"], "cancelled", notes="hangar unavailable")
    assert response.status_code == 200, response.text
    [replacement] = await shop.ok(
        "GET", f"/maintenance-tasks?program_id={task['program_id']}&state=scheduled"
    )
    assert replacement["id"] != task["id"]
    for field in ("due_at", "due_hours", "due_cycles", "title", "type"):
        assert replacement[field] == task[field], field


async def test_completing_a_generated_task_generates_the_next_one(shop: Shop) -> None:
    task = await shop.generated()
    assert (await shop.move(task["id"], "in_progress", "mechanic")).status_code == 200
    done = await shop.move(task["id"], "completed", "mechanic", notes="100-hour done")
    assert done.status_code == 200, done.text
    [following] = await shop.ok(
        "GET", f"/maintenance-tasks?program_id={task['program_id']}&state=scheduled"
    )
    assert following["id"] != task["id"]
    assert following["due_hours"] == 1100.0  # completed at 1000 h: the next 100 h from there


async def test_every_transition_writes_an_audit_row_and_an_event(shop: Shop) -> None:
    completed = await shop.started()
    assert (await shop.finish(completed["id"], "completed", notes="done")).status_code == 200
    cancelled = await shop.task(title="Replace tyre")
    assert (await shop.move(cancelled["id"], "cancelled", notes="no")).status_code == 200

    async def trail(task_id: str) -> tuple[list[Any], list[Any]]:
        audit = await shop.conn.execute(
            text(
                "SELECT details, entity_version, user_id FROM audit_logs WHERE org_id = :o"
                " AND entity_id = :id AND action = 'state_change' ORDER BY seq"
            ),
            {"o": shop.org_id, "id": task_id},
        )
        events = await shop.conn.execute(
            text(
                "SELECT payload->'data' AS data FROM outbox_events WHERE org_id = :o"
                " AND aggregate_id = :id AND event_type = 'task_state_changed'"
                " ORDER BY (payload->'data'->>'version')::int"
            ),
            {"o": shop.org_id, "id": task_id},
        )
        return list(audit.all()), [row.data for row in events.all()]

    audit, events = await trail(completed["id"])
    assert [row.details["changes"]["state"] for row in audit] == [
        {"old": "scheduled", "new": "in_progress"},
        {"old": "in_progress", "new": "completed"},
    ]
    assert all(row.user_id == shop.users["scheduler"].id for row in audit)
    assert audit[1].details["notes"] == "done"
    # A record entry: the row is the scheduler's, and says who certified the work.
    assert audit[1].details["record_entry"] is True
    assert audit[1].details["certified_by_name"] == PAPER_RECORD["certified_by_name"]
    assert audit[1].details["certificate_number"] == PAPER_RECORD["certificate_number"]
    assert audit[1].details["record_reference"] == PAPER_RECORD["record_reference"]
    assert [(e["old_state"], e["new_state"]) for e in events] == [
        ("scheduled", "in_progress"),
        ("in_progress", "completed"),
    ]
    assert [e["version"] for e in events] == [row.entity_version for row in audit]

    audit, events = await trail(cancelled["id"])
    assert [row.details["changes"]["state"]["new"] for row in audit] == ["cancelled"]
    assert audit[0].details["reason"] == "no"
    assert [(e["old_state"], e["new_state"]) for e in events] == [("scheduled", "cancelled")]


async def test_a_refused_transition_writes_nothing(shop: Shop) -> None:
    task = await shop.task()
    assert (await shop.move(task["id"], "cancelled")).status_code == 400
    count = await shop.conn.scalar(
        text(
            "SELECT (SELECT count(*) FROM audit_logs WHERE entity_id = :id AND action ="
            " 'state_change') + (SELECT count(*) FROM outbox_events WHERE aggregate_id = :id"
            " AND event_type = 'task_state_changed')"
        ),
        {"id": task["id"]},
    )
    assert count == 0


# --- the detail and the parts of a task ----------------------------------------------------


async def _part_items(shop: Shop, serials: list[str]) -> list[dict[str, Any]]:
    definition = await shop.ok(
        "POST", "/part-definitions", json={"name": f"Brake pad {serials[0]}"}, expect=201
    )
    return [
        await shop.ok(
            "POST",
            "/part-items",
            json={"part_definition_id": definition["id"], "serial_number": serial},
            expect=201,
        )
        for serial in serials
    ]


async def test_task_detail_includes_reservations_and_compliance_items(shop: Shop) -> None:
    task = await shop.task()
    [item] = await _part_items(shop, ["BP-1"])
    reservation = await shop.ok(
        "POST",
        "/part-reservations",
        json={"task_id": task["id"], "part_item_id": item["id"]},
        expect=201,
    )
    compliance = await shop.ok(
        "POST",
        "/compliance-items",
        json={"task_id": task["id"], "description": "Brake wear check"},
        expect=201,
    )
    detail = await shop.ok("GET", f"/maintenance-tasks/{task['id']}", "viewer")
    [listed] = detail["reservations"]
    assert listed["id"] == reservation["id"]
    assert (listed["serial_number"], listed["state"]) == ("BP-1", "reserved")
    [step] = detail["compliance_items"]
    assert step["id"] == compliance["id"]
    assert (step["result"], step["signed_off"]) == ("pending", False)


async def test_completion_uses_the_listed_parts_and_releases_the_rest(shop: Shop) -> None:
    task = await shop.started()
    used, spare = await _part_items(shop, ["BP-1", "BP-2"])
    for item in (used, spare):
        await shop.ok(
            "POST",
            "/part-reservations",
            json={"task_id": task["id"], "part_item_id": item["id"]},
            expect=201,
        )
    response = await shop.finish(task["id"], "completed", notes="done", parts_used=[used["id"]])
    assert response.status_code == 200, response.text
    states = {r["serial_number"]: r["state"] for r in response.json()["reservations"]}
    assert states == {"BP-1": "used", "BP-2": "released"}
    assert (await shop.ok("GET", f"/part-items/{used['id']}"))["status"] == "used"
    spare_now = await shop.ok("GET", f"/part-items/{spare['id']}")
    assert (spare_now["status"], spare_now["reserved"]) == ("in_stock", False)


async def test_completion_with_an_unreserved_part_is_409(shop: Shop) -> None:
    task = await shop.started()
    [item] = await _part_items(shop, ["BP-9"])
    response = await shop.finish(task["id"], "completed", notes="done", parts_used=[item["id"]])
    assert_error(response, 409, contains=(item["id"], "not reserved"))


@pytest.mark.parametrize("how", ["cancel", "delete"])
async def test_cancelling_or_deleting_a_task_releases_its_reservations(
    shop: Shop, how: str
) -> None:
    task = await shop.task()
    [item] = await _part_items(shop, ["BP-5"])
    reservation = await shop.ok(
        "POST",
        "/part-reservations",
        json={"task_id": task["id"], "part_item_id": item["id"]},
        expect=201,
    )
    if how == "cancel":
        assert (await shop.move(task["id"], "cancelled", notes="no")).status_code == 200
    else:
        await shop.ok("DELETE", f"/maintenance-tasks/{task['id']}", expect=204)
    [after] = await shop.ok("GET", f"/part-reservations?part_item_id={item['id']}")
    assert (after["id"], after["state"]) == (reservation["id"], "released")
    assert (await shop.ok("GET", f"/part-items/{item['id']}"))["reserved"] is False


@pytest.mark.parametrize(
    ("method", "path", "params", "status"),
    [
        ("GET", "/maintenance-tasks/not-a-uuid", None, 400),
        ("PATCH", "/maintenance-tasks/not-a-uuid/state", None, 400),
        ("GET", f"/maintenance-tasks/{NOBODY}", None, 404),
        ("PATCH", f"/maintenance-tasks/{NOBODY}/state", None, 404),
        ("DELETE", f"/maintenance-tasks/{NOBODY}", None, 404),
        ("GET", "/maintenance-tasks", {"state": "paused"}, 400),
        ("GET", "/maintenance-tasks", {"type": "painting"}, 400),
        ("GET", "/maintenance-tasks", {"due_status": "late"}, 400),
        ("GET", "/maintenance-tasks", {"aircraft_id": "N1SM"}, 400),
        ("GET", "/maintenance-tasks", {"limit": 0}, 400),
    ],
)
async def test_bad_ids_and_filters(
    shop: Shop, method: str, path: str, params: dict[str, Any] | None, status: int
) -> None:
    body = {"new_state": "in_progress"} if path.endswith("/state") else None
    response = await shop.tenant.as_("scheduler").request(method, path, params=params, json=body)
    assert_error(response, status)


async def test_list_filters_by_state_and_mechanic(shop: Shop) -> None:
    mechanic = str(shop.users["mechanic"].id)
    mine = await shop.task(assigned_mechanic_id=mechanic)
    started = await shop.started(title="Replace tyre")
    params = {"aircraft_id": shop.aircraft["id"], "assigned_mechanic_id": mechanic}
    viewer = shop.tenant.as_("viewer")
    response = await viewer.get("/maintenance-tasks", params=params)
    assert [t["id"] for t in response.json()] == [mine["id"]]
    response = await viewer.get("/maintenance-tasks", params={"state": "in_progress"})
    assert [t["id"] for t in response.json()] == [started["id"]]
    assert response.headers["x-total-count"] == "1"
