"""Compliance items and sign-off (SPEC §6.8): who may write and sign, editable until signed,
and a signed row that even SQL cannot change (trigger)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.kit.timefmt import clock_at
from tests.support.api import assert_error
from tests.support.dates import frozen_now
from tests.support.factories import make_aircraft, make_task, make_user
from tests.support.steps import PAPER_RECORD
from tests.support.tenant import Scenario, make_tenant


@dataclass
class Desk(Scenario):
    """An organization with a user of every role and an open task on an aircraft."""

    aircraft_id: str
    task_id: str

    async def item(
        self,
        description: str = "Torque check",
        result: str = "pending",
        task_id: str | None = None,
        role: str = "mechanic",
    ) -> dict[str, Any]:
        made: dict[str, Any] = await self.ok(
            "POST",
            "/compliance-items",
            role,
            {"task_id": task_id or self.task_id, "description": description, "result": result},
            201,
        )
        return made

    async def sign(self, item_id: str, role: str = "mechanic", **body: Any) -> httpx.Response:
        return await self.call("PATCH", f"/compliance-items/{item_id}/sign-off", role, body)

    async def task(self) -> str:
        made = await self.ok(
            "POST",
            "/maintenance-tasks",
            json={"aircraft_id": self.aircraft_id, "title": "Annual inspection"},
            expect=201,
        )
        return str(made["id"])


@pytest.fixture
async def desk(client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI) -> Desk:
    # The aircraft and its task are not what these tests are about: written straight.
    tenant = await make_tenant(connection, app.state.signer, client)
    # An admin who holds a certificate may sign (SPEC §3); the tenant's admin does not.
    tenant.users["certified_admin"] = await make_user(
        connection, tenant.id, "admin", certificate_number="ATPL 770001"
    )
    aircraft_id = await make_aircraft(connection, tenant.id, tail_number="N1CP", model="C172")
    task_id = await make_task(connection, tenant.id, aircraft_id, title="Annual inspection")
    return Desk(tenant, connection, str(aircraft_id), str(task_id))


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("mechanic", 201),
        ("scheduler", 201),
        ("admin", 201),
        ("tenant_admin", 201),
        ("viewer", 403),
        ("auditor", 403),
    ],
)
async def test_who_may_create_compliance_items(desk: Desk, role: str, status: int) -> None:
    response = await desk.call(
        "POST",
        "/compliance-items",
        role,
        {"task_id": desk.task_id, "description": "Check the ELT battery date"},
    )
    assert response.status_code == status, response.text
    if status == 201:
        made = response.json()
        assert (made["task_id"], made["description"], made["result"]) == (
            desk.task_id,
            "Check the ELT battery date",
            "pending",
        )
        assert (made["signed_off"], made["sign_off_user_id"], made["sign_off_time"]) == (
            False,
            None,
            None,
        )
        assert made["created_by"] == str(desk.users[role].id)
    assert (await desk.call("GET", "/compliance-items", role)).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"description": ""}, 400),
        ({"description": "   "}, 400),
        ({"description": "x", "result": "maybe"}, 400),
        ({"description": "x", "signed_off": True}, 400),
        ({"description": "x" * 4001}, 400),
        ({"description": "x", "task_id": "unknown"}, 404),
        ({"description": "x", "task_id": "not-a-uuid"}, 400),
    ],
)
async def test_bad_compliance_items(desk: Desk, body: dict[str, Any], status: int) -> None:
    task_id = {"unknown": str(uuid.uuid4())}.get(body.get("task_id", ""), body.get("task_id"))
    response = await desk.call(
        "POST", "/compliance-items", json={**body, "task_id": task_id or desk.task_id}
    )
    assert_error(response, status)


@pytest.mark.parametrize("state", ["completed", "cancelled"])
async def test_a_closed_task_takes_no_new_compliance_items(desk: Desk, state: str) -> None:
    path = f"/maintenance-tasks/{desk.task_id}/state"
    if state == "completed":
        await desk.ok("PATCH", path, json={"new_state": "in_progress"})
    paper = PAPER_RECORD if state == "completed" else {}
    await desk.ok("PATCH", path, json={"new_state": state, "notes": "done", **paper})
    response = await desk.call(
        "POST", "/compliance-items", json={"task_id": desk.task_id, "description": "Late"}
    )
    assert_error(response, 409, contains=state)


async def test_list_filters(desk: Desk) -> None:
    other_task = await desk.task()
    passed = await desk.item("Tyres", "pass")
    failed = await desk.item("Brakes", "fail")
    pending = await desk.item("Lights")
    elsewhere = await desk.item("Wipers", "pass", task_id=other_task)
    assert (await desk.sign(passed["id"])).status_code == 200

    async def ids(**params: Any) -> set[str]:
        # (The test's one transaction gives every row the same created_at: order is not checked.)
        response = await desk.call("GET", "/compliance-items", "viewer", params=params)
        assert response.status_code == 200, response.text
        assert response.headers["x-total-count"] == str(len(response.json()))
        return {item["id"] for item in response.json()}

    assert await ids() == {elsewhere["id"], pending["id"], failed["id"], passed["id"]}
    assert await ids(task_id=desk.task_id) == {pending["id"], failed["id"], passed["id"]}
    assert await ids(result="fail") == {failed["id"]}
    assert await ids(result="pass", task_id=desk.task_id) == {passed["id"]}
    assert await ids(signed="true") == {passed["id"]}
    assert await ids(signed="false", result="pass") == {elsewhere["id"]}
    assert await ids(task_id=str(uuid.uuid4())) == set()


@pytest.mark.parametrize(
    "params",
    [{"result": "maybe"}, {"signed": "perhaps"}, {"task_id": "42"}, {"offset": -1}],
)
async def test_bad_list_filters_are_400(desk: Desk, params: dict[str, Any]) -> None:
    assert_error(await desk.call("GET", "/compliance-items", params=params), 400)


async def test_an_unsigned_item_can_be_changed(desk: Desk) -> None:
    made = await desk.item()
    changed = await desk.ok(
        "PATCH",
        f"/compliance-items/{made['id']}",
        "mechanic",
        {"description": "Torque check, main wheels", "result": "fail"},
    )
    assert (changed["description"], changed["result"], changed["version"]) == (
        "Torque check, main wheels",
        "fail",
        2,
    )
    again = await desk.ok(
        "PATCH", f"/compliance-items/{made['id']}", "scheduler", {"result": "pass"}
    )
    assert (again["result"], again["version"]) == ("pass", 3)


@pytest.mark.parametrize(
    ("role", "body", "status"),
    [
        ("mechanic", {"result": None}, 400),
        ("mechanic", {"description": None}, 400),
        ("mechanic", {"result": "maybe"}, 400),
        ("mechanic", {"signed_off": True}, 400),
        ("viewer", {"result": "pass"}, 403),
        ("auditor", {"result": "pass"}, 403),
    ],
)
async def test_bad_compliance_changes(
    desk: Desk, role: str, body: dict[str, Any], status: int
) -> None:
    made = await desk.item()
    assert_error(await desk.call("PATCH", f"/compliance-items/{made['id']}", role, body), status)


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("mechanic", 200),
        ("certified_admin", 200),
        ("admin", 403),  # no certificate number: signing is a certifying act
        ("scheduler", 403),
        ("tenant_admin", 403),
        ("viewer", 403),
        ("auditor", 403),
    ],
)
async def test_who_may_sign_off(desk: Desk, role: str, status: int) -> None:
    made = await desk.item(result="pass")
    moment = frozen_now()
    with clock_at(moment):
        response = await desk.sign(made["id"], role)
    assert response.status_code == status, response.text
    if status == 200:
        signed = response.json()
        assert signed["signed_off"] is True
        assert signed["sign_off_user_id"] == str(desk.users[role].id)
        assert datetime.fromisoformat(signed["sign_off_time"]) == moment
        assert signed["result"] == "pass"
        assert signed["certificate_number"] in ("A&P 1000001", "ATPL 770001")


async def test_a_pending_item_is_signed_only_with_a_result(desk: Desk) -> None:
    made = await desk.item()
    assert_error(await desk.sign(made["id"]), 409, contains="pending")
    assert_error(await desk.sign(made["id"], result="pending"), 400, contains="result")
    signed = await desk.sign(made["id"], result="fail")
    assert signed.status_code == 200, signed.text
    assert (signed.json()["result"], signed.json()["signed_off"]) == ("fail", True)


async def test_sign_off_without_a_body(desk: Desk) -> None:
    made = await desk.item(result="pass")
    response = await desk.tenant.as_("mechanic").patch(f"/compliance-items/{made['id']}/sign-off")
    assert response.status_code == 200, response.text
    assert response.json()["signed_off"] is True


async def test_a_signed_item_can_no_longer_change(desk: Desk) -> None:
    made = await desk.item(result="pass")
    assert (await desk.sign(made["id"])).status_code == 200
    for role in ("mechanic", "admin", "scheduler"):
        response = await desk.call(
            "PATCH", f"/compliance-items/{made['id']}", role, {"description": "Rewritten"}
        )
        assert_error(response, 409, contains="signed off")
    assert_error(await desk.sign(made["id"], result="fail"), 409, contains="already signed off")
    [found] = await desk.ok("GET", "/compliance-items", params={"task_id": desk.task_id})
    assert (found["description"], found["result"]) == ("Torque check", "pass")


async def test_an_item_of_a_cancelled_task_cannot_be_signed(desk: Desk) -> None:
    made = await desk.item(result="pass")
    await desk.ok(
        "PATCH",
        f"/maintenance-tasks/{desk.task_id}/state",
        json={"new_state": "cancelled", "notes": "not needed"},
    )
    assert_error(await desk.sign(made["id"]), 409, contains="cancelled")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE compliance_items SET description = 'forged' WHERE id = :id",
        "UPDATE compliance_items SET result = 'fail' WHERE id = :id",
        "UPDATE compliance_items SET sign_off_time = NULL, sign_off_user_id = NULL WHERE id = :id",
        "DELETE FROM compliance_items WHERE id = :id",
    ],
)
async def test_updating_a_signed_item_fails_at_the_database_even_when_the_api_is_bypassed(
    desk: Desk, statement: str
) -> None:
    made = await desk.item(result="pass")
    assert (await desk.sign(made["id"])).status_code == 200
    with pytest.raises(DBAPIError, match="signed off"):
        async with desk.conn.begin_nested():
            await desk.conn.execute(text(statement), {"id": made["id"]})
    description = await desk.conn.scalar(
        text("SELECT description FROM compliance_items WHERE id = :id"), {"id": made["id"]}
    )
    assert description == "Torque check"


async def test_an_unsigned_item_is_not_protected_by_the_trigger(desk: Desk) -> None:
    made = await desk.item()
    async with desk.conn.begin_nested():
        await desk.conn.execute(
            text("UPDATE compliance_items SET description = 'edited' WHERE id = :id"),
            {"id": made["id"]},
        )
    [found] = await desk.ok("GET", "/compliance-items", params={"task_id": desk.task_id})
    assert found["description"] == "edited"


async def test_signing_writes_an_event_and_an_audit_row(desk: Desk) -> None:
    made = await desk.item()
    assert (await desk.sign(made["id"], result="pass")).status_code == 200
    events = (
        await desk.conn.execute(
            text(
                "SELECT payload->'data' AS data FROM outbox_events"
                " WHERE org_id = :o AND event_type = 'compliance_signed'"
            ),
            {"o": desk.org_id},
        )
    ).all()
    [event] = [row.data for row in events]
    assert event["compliance_item_id"] == made["id"]
    assert event["task_id"] == desk.task_id
    assert event["aircraft_id"] == desk.aircraft_id
    assert event["result"] == "pass"
    assert event["sign_off_user_id"] == str(desk.users["mechanic"].id)
    audit = (
        await desk.conn.execute(
            text(
                "SELECT action, details, user_id FROM audit_logs WHERE entity_id = :id ORDER BY seq"
            ),
            {"id": made["id"]},
        )
    ).all()
    assert [row.action for row in audit] == ["create", "update"]
    assert audit[1].details["signed_off"] is True
    assert audit[1].user_id == desk.users["mechanic"].id


async def test_a_failed_sign_off_writes_no_event(desk: Desk) -> None:
    made = await desk.item()
    assert (await desk.sign(made["id"])).status_code == 409
    assert (await desk.sign(made["id"], "scheduler", result="pass")).status_code == 403
    count = await desk.conn.scalar(
        text(
            "SELECT count(*) FROM outbox_events WHERE org_id = :o"
            " AND event_type = 'compliance_signed'"
        ),
        {"o": desk.org_id},
    )
    assert count == 0


async def test_unknown_compliance_items_are_404(desk: Desk) -> None:
    missing = str(uuid.uuid4())
    assert_error(
        await desk.call("PATCH", f"/compliance-items/{missing}", json={"result": "pass"}), 404
    )
    assert_error(await desk.sign(missing), 404, contains="compliance item not found")
    assert_error(await desk.call("PATCH", "/compliance-items/nope", json={}), 400)
