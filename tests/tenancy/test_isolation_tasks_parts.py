"""SPEC §3 tenancy for tasks, parts, reservations and compliance items: another
organization's ids are 404 (never 403), in paths and inside bodies, nothing of it changes,
and lists never show its rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import Role
from amss.auth.tokens import TokenSigner
from tests.support.factories import TestUser, bearer, make_org, make_user


@dataclass
class Two:
    """Organization A with a task, parts, a reservation and compliance items; users of B."""

    client: httpx.AsyncClient
    signer: TokenSigner
    a: UUID
    a_users: dict[Role, TestUser]
    b_users: dict[Role, TestUser]
    ids: dict[str, str]

    async def call(
        self, user: TestUser, method: str, path: str, json: Any = None, params: Any = None
    ) -> httpx.Response:
        return await self.client.request(
            method, f"/api/v1{path}", json=json, params=params, headers=bearer(self.signer, user)
        )

    async def made(self, user: TestUser, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.call(user, "POST", path, body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

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
    a, b = await make_org(connection), await make_org(connection)
    a_users = {role: await make_user(connection, a, role) for role in ROLES}
    b_users = {role: await make_user(connection, b, role) for role in ROLES}
    pair = Two(client, app.state.signer, a, a_users, b_users, {})
    planner, b_planner = a_users["scheduler"], b_users["scheduler"]

    craft = await pair.made(planner, "/aircraft", {"tail_number": "N1TA", "model": "C172"})
    await pair.call(planner, "PATCH", f"/aircraft/{craft['id']}", {"capacity_slots": 2})
    task = await pair.made(
        planner, "/maintenance-tasks", {"aircraft_id": craft["id"], "title": "A repair"}
    )
    started = await pair.made(
        planner, "/maintenance-tasks", {"aircraft_id": craft["id"], "title": "A overhaul"}
    )
    moved = await pair.call(
        planner, "PATCH", f"/maintenance-tasks/{started['id']}/state", {"new_state": "in_progress"}
    )
    assert moved.status_code == 200, moved.text
    definition = await pair.made(planner, "/part-definitions", {"name": "Filter", "min_stock": 1})
    item = await pair.made(
        planner, "/part-items", {"part_definition_id": definition["id"], "serial_number": "A-1"}
    )
    spare = await pair.made(
        planner, "/part-items", {"part_definition_id": definition["id"], "serial_number": "A-2"}
    )
    reservation = await pair.made(
        planner, "/part-reservations", {"task_id": task["id"], "part_item_id": item["id"]}
    )
    compliance = await pair.made(
        planner, "/compliance-items", {"task_id": task["id"], "description": "A check"}
    )
    signed = await pair.made(
        planner,
        "/compliance-items",
        {"task_id": task["id"], "description": "A signed check", "result": "pass"},
    )
    response = await pair.call(
        a_users["mechanic"], "PATCH", f"/compliance-items/{signed['id']}/sign-off", {}
    )
    assert response.status_code == 200, response.text

    b_craft = await pair.made(b_planner, "/aircraft", {"tail_number": "N1TB", "model": "C172"})
    b_task = await pair.made(
        b_planner, "/maintenance-tasks", {"aircraft_id": b_craft["id"], "title": "B repair"}
    )
    b_definition = await pair.made(b_planner, "/part-definitions", {"name": "Filter"})
    b_item = await pair.made(
        b_planner,
        "/part-items",
        {"part_definition_id": b_definition["id"], "serial_number": "A-1"},
    )
    pair.ids = {
        "a": str(a),
        "aircraft": craft["id"],
        "task": task["id"],
        "started": started["id"],
        "definition": definition["id"],
        "item": item["id"],
        "spare": spare["id"],
        "reservation": reservation["id"],
        "compliance": compliance["id"],
        "signed": signed["id"],
        "mechanic": str(a_users["mechanic"].id),
        "b_aircraft": b_craft["id"],
        "b_task": b_task["id"],
        "b_definition": b_definition["id"],
        "b_item": b_item["id"],
    }
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
