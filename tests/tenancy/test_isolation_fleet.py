"""SPEC §3 tenancy for aircraft, utilization, programs and tasks: another organization's
ids are 404 (never 403), in paths and inside bodies; lists never show foreign rows;
generation never reaches into another organization; only an ``admin`` acts elsewhere."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import Role
from tests.support.api import Actor, assert_error, created
from tests.support.dates import day
from tests.support.factories import TestUser, bearer
from tests.support.steps import add_aircraft, add_program
from tests.support.tenant import make_tenant


@dataclass(frozen=True)
class Fleet:
    """Organization A's aircraft, entry, program and task; users of A and of B."""

    a: UUID
    b: UUID
    a_users: dict[str, TestUser]
    b_users: dict[str, TestUser]
    aircraft: str
    entry: str
    program: str
    task: str
    b_aircraft: str
    b_program: str

    def ids(self) -> dict[str, Any]:
        return {
            "aircraft": self.aircraft,
            "entry": self.entry,
            "program": self.program,
            "task": self.task,
            "a": self.a,
        }


@pytest.fixture
async def fleet(client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection) -> Fleet:
    roles: tuple[Role, ...] = ("admin", "tenant_admin", "scheduler")
    a = await make_tenant(connection, app.state.signer, client, roles=roles)
    b = await make_tenant(connection, app.state.signer, client, roles=roles)
    a_planner, b_planner = a.as_("scheduler"), b.as_("scheduler")

    # Through the API: the program generates A's task.
    craft = await add_aircraft(
        a_planner, tail_number="N1A", model="SharedModel", flight_hours_total=10
    )
    entry = created(
        await a_planner.post(
            f"/aircraft/{craft['id']}/utilization",
            {"flight_date": day(-1), "flight_hours": 2, "cycles": 1},
        )
    )
    program = await add_program(
        a_planner, name="A 100-hour", interval_hours=100, aircraft_id=craft["id"]
    )
    [task] = (await a_planner.get("/maintenance-tasks", params={"aircraft_id": craft["id"]})).json()
    b_craft = await add_aircraft(b_planner, tail_number="N1B", model="Other")
    b_program = await add_program(
        b_planner, name="B 50-hour", interval_hours=50, aircraft_id=b_craft["id"]
    )
    return Fleet(
        a=a.id,
        b=b.id,
        a_users=a.users,
        b_users=b.users,
        aircraft=craft["id"],
        entry=entry["id"],
        program=program["id"],
        task=task["id"],
        b_aircraft=b_craft["id"],
        b_program=b_program["id"],
    )


def fill(values: dict[str, Any] | None, ids: dict[str, Any]) -> dict[str, Any] | None:
    if values is None:
        return None
    ids = {**ids, "yesterday": day(-1)}
    return {k: v.format(**ids) if isinstance(v, str) else v for k, v in values.items()}


UTILIZATION = {"flight_date": "{yesterday}", "flight_hours": 1, "cycles": 1}

FOREIGN_ROUTES = [
    ("GET", "/api/v1/aircraft/{aircraft}", None),
    ("PATCH", "/api/v1/aircraft/{aircraft}", {"model": "Hijacked", "org_id": "{a}"}),
    ("PATCH", "/api/v1/aircraft/{aircraft}", {"flight_hours_total": 500}),
    ("PATCH", "/api/v1/aircraft/{aircraft}", {"status": "grounded"}),
    ("DELETE", "/api/v1/aircraft/{aircraft}", None),
    ("POST", "/api/v1/aircraft/{aircraft}/utilization", UTILIZATION),
    ("GET", "/api/v1/aircraft/{aircraft}/utilization", None),
    ("GET", "/api/v1/aircraft/{aircraft}/due-list", None),
    ("GET", "/api/v1/maintenance-programs/{program}", None),
    ("PATCH", "/api/v1/maintenance-programs/{program}", {"name": "Hijacked", "org_id": "{a}"}),
    ("DELETE", "/api/v1/maintenance-programs/{program}", None),
    ("POST", "/api/v1/maintenance-programs/{program}/generate", None),
    ("GET", "/api/v1/maintenance-tasks/{task}", None),
]


@pytest.mark.parametrize("role", ["admin", "tenant_admin", "scheduler"])
@pytest.mark.parametrize(("method", "path", "body"), FOREIGN_ROUTES)
async def test_foreign_ids_are_404(
    client: httpx.AsyncClient,
    app: FastAPI,
    fleet: Fleet,
    role: Role,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    """A non-admin's ``org_id`` (query and body) is ignored; an admin without one stays home."""
    ids = fleet.ids()
    params = {"org_id": str(fleet.a)} if role != "admin" else None
    if role == "admin" and body is not None:
        body = {k: v for k, v in body.items() if k != "org_id"}
    response = await client.request(
        method,
        path.format(**ids),
        params=params,
        json=fill(body, ids),
        headers=bearer(app.state.signer, fleet.b_users[role]),
    )
    assert_error(response, 404, "not_found")


async def test_foreign_writes_change_nothing(
    client: httpx.AsyncClient, app: FastAPI, fleet: Fleet
) -> None:
    ids = fleet.ids()
    a_admin = bearer(app.state.signer, fleet.a_users["tenant_admin"])
    audit_before = await client.get("/api/v1/audit-logs", headers=a_admin)
    craft_before = (await client.get(f"/api/v1/aircraft/{fleet.aircraft}", headers=a_admin)).json()

    headers = bearer(app.state.signer, fleet.b_users["tenant_admin"])
    for method, path, body in FOREIGN_ROUTES:
        if method != "GET":
            response = await client.request(
                method, path.format(**ids), json=fill(body, ids), headers=headers
            )
            assert response.status_code == 404, response.text

    craft = await client.get(f"/api/v1/aircraft/{fleet.aircraft}", headers=a_admin)
    assert craft.json() == craft_before
    assert (craft.json()["model"], craft.json()["flight_hours_total"]) == ("SharedModel", 12.0)
    entries = await client.get(f"/api/v1/aircraft/{fleet.aircraft}/utilization", headers=a_admin)
    assert [row["id"] for row in entries.json() if row["source"] != "initial"] == [fleet.entry]
    program = await client.get(f"/api/v1/maintenance-programs/{fleet.program}", headers=a_admin)
    assert program.json()["name"] == "A 100-hour"
    task = await client.get(f"/api/v1/maintenance-tasks/{fleet.task}", headers=a_admin)
    assert task.json()["state"] == "scheduled"
    audit_after = await client.get("/api/v1/audit-logs", headers=a_admin)
    assert audit_after.headers["x-total-count"] == audit_before.headers["x-total-count"]


LISTS = [
    ("/api/v1/aircraft", "b_aircraft"),
    ("/api/v1/maintenance-programs", "b_program"),
    ("/api/v1/maintenance-tasks", None),
]


@pytest.mark.parametrize("role", ["admin", "tenant_admin", "scheduler"])
@pytest.mark.parametrize(("path", "own"), LISTS)
async def test_lists_never_show_foreign_rows(
    client: httpx.AsyncClient,
    app: FastAPI,
    fleet: Fleet,
    role: Role,
    path: str,
    own: str | None,
) -> None:
    headers = bearer(app.state.signer, fleet.b_users[role])
    param_sets: list[dict[str, str]] = [{}, {"aircraft_id": fleet.aircraft}]
    if role != "admin":
        param_sets.append({"org_id": str(fleet.a)})  # ignored for non-admins
    for params in param_sets:
        if path == "/api/v1/aircraft" and "aircraft_id" in params:
            continue
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        rows = response.json()
        assert {row["org_id"] for row in rows} <= {str(fleet.b)}
        assert not {fleet.aircraft, fleet.program, fleet.task} & {row["id"] for row in rows}
        assert response.headers["x-total-count"] == str(len(rows))
        if params.get("aircraft_id"):
            continue
        if own is not None:
            assert [row["id"] for row in rows] == [getattr(fleet, own)]
        else:  # tasks: only the one of B's own program
            assert [row["aircraft_id"] for row in rows] == [fleet.b_aircraft]


async def test_own_lists_do_show_own_rows(
    client: httpx.AsyncClient, app: FastAPI, fleet: Fleet
) -> None:
    """The positive control of the list test: organization A sees its rows."""
    headers = bearer(app.state.signer, fleet.a_users["scheduler"])
    for path, expected in (
        ("/api/v1/aircraft", fleet.aircraft),
        ("/api/v1/maintenance-programs", fleet.program),
        ("/api/v1/maintenance-tasks", fleet.task),
    ):
        response = await client.get(path, headers=headers)
        assert [row["id"] for row in response.json()] == [expected], path


@pytest.mark.parametrize("role", ["tenant_admin", "scheduler"])
async def test_program_for_a_foreign_aircraft_is_404(
    client: httpx.AsyncClient, app: FastAPI, fleet: Fleet, role: Role
) -> None:
    headers = bearer(app.state.signer, fleet.b_users[role])
    response = await client.post(
        "/api/v1/maintenance-programs",
        json={"name": "Sneaky", "interval_hours": 10, "aircraft_id": fleet.aircraft},
        headers=headers,
    )
    assert assert_error(response, 404, "not_found")["error"] == "aircraft not found"

    # Moving an own program onto a foreign aircraft is refused the same way.
    moved = await client.patch(
        f"/api/v1/maintenance-programs/{fleet.b_program}",
        json={"aircraft_id": fleet.aircraft},
        headers=headers,
    )
    assert assert_error(moved, 404, "not_found")["error"] == "aircraft not found"
    a_headers = bearer(app.state.signer, fleet.a_users["scheduler"])
    tasks = await client.get(
        "/api/v1/maintenance-tasks", params={"aircraft_id": fleet.aircraft}, headers=a_headers
    )
    assert [row["id"] for row in tasks.json()] == [fleet.task]


async def test_correcting_a_foreign_entry_is_404(
    client: httpx.AsyncClient, app: FastAPI, fleet: Fleet
) -> None:
    headers = bearer(app.state.signer, fleet.b_users["scheduler"])
    response = await client.post(
        f"/api/v1/aircraft/{fleet.b_aircraft}/utilization",
        json={
            **UTILIZATION,
            "flight_date": day(-1),
            "flight_hours": -1,
            "cycles": 0,
            "corrects_id": fleet.entry,
        },
        headers=headers,
    )
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "scope", [{}, {"aircraft_model": "SharedModel"}], ids=["org-wide", "model"]
)
async def test_generation_never_reaches_another_organization(
    client: httpx.AsyncClient, app: FastAPI, fleet: Fleet, scope: dict[str, str]
) -> None:
    b_headers = bearer(app.state.signer, fleet.b_users["scheduler"])
    # B also has an aircraft of A's model, so a model program has something to apply to.
    b_planner = Actor(client, b_headers, fleet.b_users["scheduler"])
    b_same_model = await add_aircraft(b_planner, tail_number="N2B", model="SharedModel")
    program = await add_program(b_planner, name="B everywhere", interval_days=30, **scope)
    generated = await client.post(
        f"/api/v1/maintenance-programs/{program['id']}/generate", headers=b_headers
    )
    assert generated.status_code == 200, generated.text

    tasks = await client.get(
        "/api/v1/maintenance-tasks", params={"program_id": program["id"]}, headers=b_headers
    )
    expected = {b_same_model["id"]} | ({fleet.b_aircraft} if not scope else set())
    assert {row["aircraft_id"] for row in tasks.json()} == expected

    a_headers = bearer(app.state.signer, fleet.a_users["scheduler"])
    a_tasks = await client.get(
        "/api/v1/maintenance-tasks", params={"aircraft_id": fleet.aircraft}, headers=a_headers
    )
    assert [row["id"] for row in a_tasks.json()] == [fleet.task]


async def test_tail_numbers_are_unique_per_organization_only(
    client: httpx.AsyncClient, app: FastAPI, fleet: Fleet
) -> None:
    response = await client.post(
        "/api/v1/aircraft",
        json={"tail_number": "n1a", "model": "C172S"},
        headers=bearer(app.state.signer, fleet.b_users["scheduler"]),
    )
    assert response.status_code == 201, response.text
    assert response.json()["org_id"] == str(fleet.b)


@pytest.mark.parametrize(("role", "lands_in"), [("admin", "a"), ("tenant_admin", "b")])
async def test_create_aircraft_with_body_org_id(
    client: httpx.AsyncClient, app: FastAPI, fleet: Fleet, role: Role, lands_in: str
) -> None:
    response = await client.post(
        "/api/v1/aircraft",
        json={"tail_number": "N9ORG", "model": "C172S", "org_id": str(fleet.a)},
        headers=bearer(app.state.signer, fleet.b_users[role]),
    )
    assert response.status_code == 201, response.text
    assert response.json()["org_id"] == str(getattr(fleet, lands_in))


async def test_admin_acts_on_another_organizations_aircraft_with_org_id(
    client: httpx.AsyncClient, app: FastAPI, fleet: Fleet
) -> None:
    headers = bearer(app.state.signer, fleet.b_users["admin"])
    query = {"org_id": str(fleet.a)}
    read = await client.get(f"/api/v1/aircraft/{fleet.aircraft}", params=query, headers=headers)
    assert read.status_code == 200, read.text
    assert read.json()["org_id"] == str(fleet.a)
    entries = await client.get(
        f"/api/v1/aircraft/{fleet.aircraft}/utilization", params=query, headers=headers
    )
    assert [row["id"] for row in entries.json() if row["source"] != "initial"] == [fleet.entry]
    changed = await client.patch(
        f"/api/v1/aircraft/{fleet.aircraft}",
        json={"model": "Renamed by admin", "org_id": str(fleet.a)},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["model"] == "Renamed by admin"


async def test_admin_records_utilization_in_another_organization_with_org_id(
    client: httpx.AsyncClient, app: FastAPI, fleet: Fleet
) -> None:
    headers = bearer(app.state.signer, fleet.b_users["admin"])
    response = await client.post(
        f"/api/v1/aircraft/{fleet.aircraft}/utilization",
        json={**UTILIZATION, "flight_date": day(-1), "org_id": str(fleet.a)},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["org_id"] == str(fleet.a)


async def test_admin_with_unknown_org_id_gets_organization_not_found(
    client: httpx.AsyncClient, app: FastAPI, fleet: Fleet
) -> None:
    headers = bearer(app.state.signer, fleet.b_users["admin"])
    missing = str(uuid.uuid4())
    for response in (
        await client.get("/api/v1/aircraft", params={"org_id": missing}, headers=headers),
        await client.post(
            "/api/v1/aircraft",
            json={"tail_number": "N404", "model": "C172S", "org_id": missing},
            headers=headers,
        ),
    ):
        assert assert_error(response, 404, "not_found")["error"] == "organization not found"
