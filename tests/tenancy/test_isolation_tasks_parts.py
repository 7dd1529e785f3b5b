"""SPEC §3 tenancy for tasks, parts, reservations and compliance items: another
organization's ids are 404 (never 403), in paths and inside bodies, nothing of it changes,
and lists never show its rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import Role
from amss.auth.tokens import TokenSigner
from tests.support.api import Actor
from tests.support.factories import (
    TestUser,
    bearer,
    make_aircraft,
    make_compliance_item,
    make_part_definition,
    make_part_item,
    make_reservation,
    make_task,
)
from tests.support.tenant import make_tenant


@dataclass
class Two:
    """Organization A with a task, parts, a reservation and compliance items; users of B."""

    client: httpx.AsyncClient
    signer: TokenSigner
    a: UUID
    a_users: dict[str, TestUser]
    b_users: dict[str, TestUser]
    ids: dict[str, str]

    async def call(
        self, user: TestUser, method: str, path: str, json: Any = None, params: Any = None
    ) -> httpx.Response:
        actor = Actor(self.client, bearer(self.signer, user), user)
        return await actor.request(method, path, json=json, params=params)

    async def snapshot(self) -> list[Any]:
        """Everything of A that a foreign request could have touched, read by A."""
        scheduler = self.a_users["scheduler"]
        paths = [
            f"/maintenance-tasks/{self.ids['task']}",
            f"/maintenance-tasks/{self.ids['started']}",
            f"/part-definitions/{self.ids['definition']}",
            f"/part-items/{self.ids['item']}",
            f"/part-items/{self.ids['spare']}",
            "/part-reservations",
            "/compliance-items",
            f"/aircraft/{self.ids['aircraft']}",
        ]
        found = []
        for path in paths:
            response = await self.call(scheduler, "GET", path)
            assert response.status_code == 200, response.text
            found.append(response.json())
        return found


ROLES: tuple[Role, ...] = ("admin", "tenant_admin", "scheduler", "mechanic")


@pytest.fixture
async def two(client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection) -> Two:
    a_tenant = await make_tenant(connection, app.state.signer, roles=ROLES)
    b_tenant = await make_tenant(connection, app.state.signer, roles=ROLES)
    a, a_users, b_users = a_tenant.id, a_tenant.users, b_tenant.users
    pair = Two(client, app.state.signer, a, a_users, b_users, {})
    # What A owns is not what these tests are about: written straight (an aircraft with
    # two slots, one task open and one in progress on it), like the API would leave it.
    conn, b = connection, b_tenant.id
    craft = await make_aircraft(conn, a, tail_number="N1TA", capacity_slots=2, status="maintenance")
    task = await make_task(conn, a, craft, title="A repair")
    started = await make_task(
        conn, a, craft, title="A overhaul", state="in_progress", started_at=datetime.now(UTC)
    )
    definition = await make_part_definition(conn, a, name="Filter", min_stock=1)
    item = await make_part_item(conn, a, definition, serial_number="A-1")
    spare = await make_part_item(conn, a, definition, serial_number="A-2")
    reservation = await make_reservation(conn, a, task, item, created_by=a_users["scheduler"].id)
    compliance = await make_compliance_item(conn, a, task, description="A check")
    signed = await make_compliance_item(
        conn, a, task, description="A signed check", result="pass", signed_by=a_users["mechanic"].id
    )
    b_craft = await make_aircraft(conn, b, tail_number="N1TB")
    b_task = await make_task(conn, b, b_craft, title="B repair")
    b_definition = await make_part_definition(conn, b, name="Filter")
    b_item = await make_part_item(conn, b, b_definition, serial_number="A-1")
    ids = {
        "aircraft": craft,
        "task": task,
        "started": started,
        "definition": definition,
        "item": item,
        "spare": spare,
        "reservation": reservation,
        "compliance": compliance,
        "signed": signed,
        "mechanic": a_users["mechanic"].id,
        "b_aircraft": b_craft,
        "b_task": b_task,
        "b_definition": b_definition,
        "b_item": b_item,
    }
    pair.ids = {"a": str(a)} | {key: str(value) for key, value in ids.items()}
    return pair


def fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


FOREIGN_ROUTES = [
    ("GET", "/maintenance-tasks/{task}", None),
    ("PATCH", "/maintenance-tasks/{task}", {"title": "Hijacked"}),
    ("PATCH", "/maintenance-tasks/{task}", {"title": "Hijacked", "org_id": "{a}"}),
    ("DELETE", "/maintenance-tasks/{task}", None),
    ("PATCH", "/maintenance-tasks/{task}/state", {"new_state": "in_progress"}),
    ("PATCH", "/maintenance-tasks/{task}/state", {"new_state": "cancelled", "notes": "x"}),
    ("PATCH", "/maintenance-tasks/{started}/state", {"new_state": "completed", "notes": "x"}),
    ("GET", "/part-definitions/{definition}", None),
    ("PATCH", "/part-definitions/{definition}", {"min_stock": 50}),
    ("DELETE", "/part-definitions/{definition}", None),
    ("GET", "/part-items/{item}", None),
    ("PATCH", "/part-items/{spare}", {"status": "disposed"}),
    ("PATCH", "/part-items/{spare}", {"location": "B hangar", "org_id": "{a}"}),
    ("DELETE", "/part-items/{spare}", None),
    ("PATCH", "/part-reservations/{reservation}/state", {"new_state": "used"}),
    ("PATCH", "/part-reservations/{reservation}/state", {"new_state": "released"}),
    ("PATCH", "/compliance-items/{compliance}", {"result": "pass"}),
    ("PATCH", "/compliance-items/{compliance}/sign-off", {"result": "pass"}),
    ("PATCH", "/compliance-items/{signed}/sign-off", {}),
    # Foreign ids inside bodies.
    ("POST", "/part-reservations", {"task_id": "{task}", "part_item_id": "{b_item}"}),
    ("POST", "/part-reservations", {"task_id": "{b_task}", "part_item_id": "{spare}"}),
    ("POST", "/part-reservations", {"task_id": "{task}", "part_item_id": "{spare}"}),
    ("POST", "/compliance-items", {"task_id": "{task}", "description": "B step"}),
    ("POST", "/part-items", {"part_definition_id": "{definition}", "serial_number": "B-9"}),
    ("POST", "/maintenance-tasks", {"aircraft_id": "{aircraft}", "title": "B on A"}),
    (
        "POST",
        "/maintenance-tasks",
        {"aircraft_id": "{b_aircraft}", "title": "x", "assigned_mechanic_id": "{mechanic}"},
    ),
    ("PATCH", "/maintenance-tasks/{b_task}", {"assigned_mechanic_id": "{mechanic}"}),
    (
        "POST",
        "/maintenance-programs",
        {
            "name": "B program",
            "interval_hours": 50,
            "required_parts": [{"part_definition_id": "{definition}", "quantity": 1}],
        },
    ),
]


# Creating tasks and programs, and planning tasks, are not a mechanic's to do at all (403
# whatever the ids); every other route is tried as a planner and as a mechanic.
PLANNERS_ONLY = {("POST", "/maintenance-tasks"), ("POST", "/maintenance-programs")}
CASES = [
    pytest.param(role, method, path, body, id=f"{role}-{method}-{path}-{n}")
    for n, (method, path, body) in enumerate(FOREIGN_ROUTES)
    for role in ("scheduler", "mechanic")
    if role != "mechanic"
    or ((method, path) not in PLANNERS_ONLY and path != "/maintenance-tasks/{b_task}")
]


@pytest.mark.parametrize(("role", "method", "path", "body"), CASES)
async def test_foreign_ids_are_404_and_change_nothing(
    two: Two, role: Role, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = await two.snapshot()
    response = await two.call(
        two.b_users[role], method, fill(path, two.ids), fill(body, two.ids) if body else None
    )
    assert response.status_code == 404, response.text
    error = response.json()
    assert error["code"] == "not_found"
    assert error["request_id"] == response.headers["x-request-id"]
    assert two.ids["a"] not in error["error"]
    assert await two.snapshot() == before


LISTS = [
    ("/maintenance-tasks", {}),
    ("/maintenance-tasks", {"aircraft_id": "{aircraft}"}),
    ("/maintenance-tasks", {"assigned_mechanic_id": "{mechanic}"}),
    ("/part-definitions", {}),
    ("/part-items", {}),
    ("/part-items", {"definition_id": "{definition}"}),
    ("/part-reservations", {}),
    ("/part-reservations", {"task_id": "{task}"}),
    ("/part-reservations", {"part_item_id": "{item}"}),
    ("/compliance-items", {}),
    ("/compliance-items", {"task_id": "{task}"}),
    ("/compliance-items", {"signed": "true"}),
]


@pytest.mark.parametrize("role", ["scheduler", "mechanic", "tenant_admin", "admin"])
async def test_lists_never_show_foreign_rows(two: Two, role: Role) -> None:
    keys = ["task", "started", "definition", "item", "spare", "reservation", "compliance", "signed"]
    foreign = {two.ids[k] for k in keys}
    for path, params in LISTS:
        response = await two.call(two.b_users[role], "GET", path, params=fill(params, two.ids))
        assert response.status_code == 200, response.text
        rows = response.json()
        assert all(row["org_id"] != two.ids["a"] for row in rows), (path, params)
        assert not foreign & {row["id"] for row in rows}, (path, params)
        assert int(response.headers["x-total-count"]) == len(rows)
        if params:
            assert rows == [], (path, params)


async def test_the_same_lists_show_the_rows_to_their_own_organization(two: Two) -> None:
    scheduler = two.a_users["scheduler"]
    for path, key in [
        ("/maintenance-tasks", "task"),
        ("/part-definitions", "definition"),
        ("/part-items", "item"),
        ("/part-reservations", "reservation"),
        ("/compliance-items", "compliance"),
    ]:
        response = await two.call(scheduler, "GET", path)
        assert two.ids[key] in {row["id"] for row in response.json()}, path


async def test_an_admin_acts_in_another_organization_only_when_asked(two: Two) -> None:
    admin = two.b_users["admin"]
    path = f"/part-items/{two.ids['spare']}"
    assert (await two.call(admin, "GET", path)).status_code == 404
    found = await two.call(admin, "GET", path, params={"org_id": two.ids["a"]})
    assert found.status_code == 200, found.text
    assert found.json()["serial_number"] == "A-2"
    moved = await two.call(
        admin,
        "PATCH",
        f"/maintenance-tasks/{two.ids['task']}/state",
        {"new_state": "cancelled", "notes": "by the platform admin", "org_id": two.ids["a"]},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"] == "cancelled"
