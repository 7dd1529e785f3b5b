"""SPEC §3 access matrix for organizations, users, org policy and audit logs: allowed
roles get 2xx, the others 403 ``forbidden``; tenant_admins never manage ``admin`` users."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import ROLES, Role
from amss.db.engine import Database
from amss.db.tables import audit_logs, organizations, users
from tests.support.api import assert_error
from tests.support.factories import PASSWORD as LOGIN_PASSWORD
from tests.support.factories import TestUser, bearer, make_org, make_user
from tests.support.tenant import make_tenant

PASSWORD = "twelve-chars"  # exactly 12 characters: the shortest accepted
EVERYONE = frozenset(ROLES)
ADMINS = frozenset({"admin", "tenant_admin"})
READERS = EVERYONE - {"viewer"}
AUDIT_POWER = frozenset({"admin", "tenant_admin", "auditor"})
ONLY_ADMIN = frozenset({"admin"})


@dataclass(frozen=True)
class Staff:
    org: UUID
    by_role: dict[Role, TestUser]
    target: TestUser  # a viewer the writes are aimed at
    admin_target: TestUser  # a second admin, for the "never admin users" rule


@pytest.fixture
async def staff(connection: AsyncConnection, app: FastAPI) -> Staff:
    extra: dict[str, Role] = {"target": "viewer", "admin_target": "admin"}
    tenant = await make_tenant(
        connection, app.state.signer, roles={**{role: role for role in ROLES}, **extra}
    )
    return Staff(
        org=tenant.id,
        by_role={role: tenant.users[role] for role in ROLES},
        target=tenant.users["target"],
        admin_target=tenant.users["admin_target"],
    )


def new_email() -> str:
    return f"new-{uuid.uuid4().hex[:10]}@example.com"


async def audit_count(connection: AsyncConnection) -> int:
    return int(await connection.scalar(select(func.count()).select_from(audit_logs)) or 0)


# (method, path, body factory, roles allowed, success status)
MATRIX: list[tuple[str, str, Any, frozenset[str], int]] = [
    ("POST", "/organizations", lambda: {"name": f"Org {uuid.uuid4().hex}"}, ONLY_ADMIN, 201),
    ("GET", "/organizations", None, EVERYONE, 200),
    ("GET", "/organizations/{org}", None, EVERYONE, 200),
    ("PATCH", "/organizations/{org}", lambda: {"name": f"Renamed {uuid.uuid4().hex}"}, ADMINS, 200),
    ("GET", "/organizations/{org}/policy", None, AUDIT_POWER | {"scheduler"}, 200),
    ("PATCH", "/organizations/{org}/policy", lambda: {"due_soon_days": 7}, ADMINS, 200),
    ("GET", "/users", None, READERS, 200),
    ("GET", "/users/{target}", None, READERS, 200),
    (
        "POST",
        "/users",
        lambda: {"email": new_email(), "password": PASSWORD, "role": "viewer"},
        ADMINS,
        201,
    ),
    ("PATCH", "/users/{target}", lambda: {"name": "Renamed"}, ADMINS, 200),
    ("DELETE", "/users/{target}", None, ADMINS, 204),
    ("GET", "/audit-logs", None, READERS, 200),
    ("GET", "/audit-logs/export", None, AUDIT_POWER, 200),
    ("GET", "/audit-logs/verify", None, AUDIT_POWER, 200),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "allowed", "status"),
    MATRIX,
    ids=[f"{method} {path}" for method, path, *_ in MATRIX],
)
async def test_access_matrix(
    client: httpx.AsyncClient,
    app: FastAPI,
    connection: AsyncConnection,
    staff: Staff,
    role: Role,
    method: str,
    path: str,
    body: Any,
    allowed: frozenset[str],
    status: int,
) -> None:
    url = "/api/v1" + path.format(org=staff.org, target=staff.target.id)
    audited_before = await audit_count(connection)
    response = await client.request(
        method,
        url,
        json=body() if body else None,
        headers=bearer(app.state.signer, staff.by_role[role]),
    )
    if role in allowed:
        assert response.status_code == status, response.text
        if path == "/audit-logs/export":
            assert response.headers["content-type"].startswith("text/csv")
    else:
        assert_error(response, 403, "forbidden")
        assert await audit_count(connection) == audited_before  # refused: nothing written


# (method, path, body): what a tenant_admin may not do to admin users, and an admin may.
ADMIN_USER_ACTIONS = [
    ("POST", "/users", {"email": "{email}", "password": PASSWORD, "role": "admin"}),
    ("PATCH", "/users/{admin}", {"name": "Renamed"}),
    ("DELETE", "/users/{admin}", None),
    ("PATCH", "/users/{scheduler}", {"role": "admin"}),
]


@pytest.mark.parametrize(("role", "allowed"), [("tenant_admin", False), ("admin", True)])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    ADMIN_USER_ACTIONS,
    ids=["create admin", "modify admin", "delete admin", "promote to admin"],
)
async def test_only_admins_manage_admin_users(
    client: httpx.AsyncClient,
    app: FastAPI,
    connection: AsyncConnection,
    staff: Staff,
    role: Role,
    allowed: bool,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    ids = {
        "admin": staff.admin_target.id,
        "scheduler": staff.by_role["scheduler"].id,
        "email": new_email(),
    }
    before = (await connection.execute(select(users).where(users.c.org_id == staff.org))).all()
    response = await client.request(
        method,
        "/api/v1" + path.format(**ids),
        json=None if body is None else {k: v.format(**ids) for k, v in body.items()},
        headers=bearer(app.state.signer, staff.by_role[role]),
    )
    if allowed:
        assert 200 <= response.status_code < 300, response.text
    else:
        body_out = assert_error(response, 403, "forbidden")
        assert "admin users" in body_out["error"]
        after = (await connection.execute(select(users).where(users.c.org_id == staff.org))).all()
        assert after == before


async def test_mechanic_reads_only_own_audit_rows(
    client: httpx.AsyncClient, app: FastAPI, staff: Staff
) -> None:
    mechanic = staff.by_role["mechanic"]
    tenant_admin = staff.by_role["tenant_admin"]
    # One audit row by the tenant_admin, one by the mechanic (a login).
    created = await client.post(
        "/api/v1/users",
        json={"email": new_email(), "password": PASSWORD, "role": "viewer"},
        headers=bearer(app.state.signer, tenant_admin),
    )
    assert created.status_code == 201, created.text
    login = await client.post(
        "/api/v1/auth/login",
        json={"org_id": str(staff.org), "email": mechanic.email, "password": LOGIN_PASSWORD},
    )
    assert login.status_code == 200, login.text

    everyone = await client.get(
        "/api/v1/audit-logs", headers=bearer(app.state.signer, tenant_admin)
    )
    assert {row["user_id"] for row in everyone.json()} == {str(tenant_admin.id), str(mechanic.id)}

    headers = bearer(app.state.signer, mechanic)
    for params in ({}, {"user_id": str(tenant_admin.id)}):
        response = await client.get("/api/v1/audit-logs", params=params, headers=headers)
        assert response.status_code == 200, response.text
        rows = response.json()
        assert [row["user_id"] for row in rows] == [str(mechanic.id)]
        assert rows[0]["action"] == "login"
        assert response.headers["x-total-count"] == "1"


@pytest.mark.parametrize(("length", "status"), [(11, 400), (12, 201)])
async def test_new_password_needs_twelve_characters(
    client: httpx.AsyncClient, app: FastAPI, staff: Staff, length: int, status: int
) -> None:
    response = await client.post(
        "/api/v1/users",
        json={"email": new_email(), "password": "x" * length, "role": "viewer"},
        headers=bearer(app.state.signer, staff.by_role["tenant_admin"]),
    )
    assert response.status_code == status, response.text
    if status == 400:
        body = assert_error(response, 400, "validation")
        assert [detail["field"] for detail in body["details"]] == ["password"]


async def test_changed_password_needs_twelve_characters(
    client: httpx.AsyncClient, app: FastAPI, staff: Staff
) -> None:
    response = await client.patch(
        f"/api/v1/users/{staff.target.id}",
        json={"password": "short-pass"},
        headers=bearer(app.state.signer, staff.by_role["tenant_admin"]),
    )
    body = assert_error(response, 400, "validation")
    assert [detail["field"] for detail in body["details"]] == ["password"]


@pytest.mark.parametrize("spelling", [str.lower, str.upper], ids=["same", "other case"])
async def test_duplicate_email_in_the_same_organization_is_a_conflict(
    client: httpx.AsyncClient,
    app: FastAPI,
    connection: AsyncConnection,
    staff: Staff,
    spelling: Any,
) -> None:
    response = await client.post(
        "/api/v1/users",
        json={"email": spelling(staff.target.email), "password": PASSWORD, "role": "mechanic"},
        headers=bearer(app.state.signer, staff.by_role["tenant_admin"]),
    )
    assert_error(response, 409, "conflict")
    count = await connection.scalar(
        select(func.count()).select_from(users).where(users.c.email == staff.target.email)
    )
    assert count == 1


async def test_email_taken_by_another_user_cannot_be_patched_in(
    client: httpx.AsyncClient, app: FastAPI, staff: Staff
) -> None:
    response = await client.patch(
        f"/api/v1/users/{staff.target.id}",
        json={"email": staff.by_role["scheduler"].email},
        headers=bearer(app.state.signer, staff.by_role["tenant_admin"]),
    )
    assert_error(response, 409, "conflict")


async def test_same_email_in_another_organization_is_allowed(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection, staff: Staff
) -> None:
    other = await make_org(connection)
    response = await client.post(
        "/api/v1/users",
        json={
            "email": staff.target.email,
            "password": PASSWORD,
            "role": "viewer",
            "org_id": str(other),
        },
        headers=bearer(app.state.signer, staff.by_role["admin"]),
    )
    assert response.status_code == 201, response.text
    assert response.json()["org_id"] == str(other)


async def test_created_organization_gets_a_policy(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection, staff: Staff
) -> None:
    name = f"Fresh {uuid.uuid4().hex[:8]}"
    headers = bearer(app.state.signer, staff.by_role["admin"])
    created = await client.post("/api/v1/organizations", json={"name": name}, headers=headers)
    assert created.status_code == 201, created.text
    policy = await client.get(
        f"/api/v1/organizations/{created.json()['id']}/policy", headers=headers
    )
    assert policy.status_code == 200, policy.text
    assert policy.json()["retention_days"] == 365
    stored = await connection.scalar(
        select(organizations.c.name).where(organizations.c.id == UUID(created.json()["id"]))
    )
    assert stored == name


@pytest.mark.parametrize(
    ("path", "role", "body"),
    [
        pytest.param(
            "/api/v1/users",
            "tenant_admin",
            lambda: {"email": new_email(), "password": PASSWORD, "role": "viewer"},
            id="user email",
        ),
        pytest.param(
            "/api/v1/organizations",
            "admin",
            lambda: {"name": f"Race {uuid.uuid4().hex}"},
            id="organization name",
        ),
    ],
)
async def test_concurrent_duplicates_are_a_conflict_not_a_500(
    committing_client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    path: str,
    role: Role,
    body: Any,
) -> None:
    async with database.engine.begin() as conn:  # committed: the requests run concurrently
        org = await make_org(conn, f"Race {uuid.uuid4().hex}")
        caller = await make_user(conn, org, role)
    sent, headers = body(), bearer(app.state.signer, caller)
    responses = await asyncio.gather(
        *(committing_client.post(path, json=sent, headers=headers) for _ in range(3))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409]
