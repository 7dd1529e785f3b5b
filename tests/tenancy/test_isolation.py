"""SPEC §3 tenancy: another organization's ids are 404 (never 403) and lists never show
foreign rows; only an ``admin`` may act in another organization by passing ``org_id``."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import Role
from amss.db.tables import audit_logs, org_policies, organizations, users
from tests.support.api import assert_error
from tests.support.factories import TestUser, bearer
from tests.support.tenant import make_tenant

PASSWORD = "long-enough-password"


@dataclass(frozen=True)
class Tenants:
    a: UUID
    b: UUID
    a_name: str
    a_tenant_admin: TestUser
    a_user: TestUser  # the target: a scheduler of organization A
    b_users: dict[str, TestUser]


@pytest.fixture
async def tenants(connection: AsyncConnection, app: FastAPI) -> Tenants:
    a_name = f"Alpha {uuid.uuid4().hex[:8]}"
    signer = app.state.signer
    a = await make_tenant(
        connection, signer, roles=("tenant_admin", "scheduler"), name=a_name, due_soon_days=30
    )
    b = await make_tenant(connection, signer, roles=("admin", "tenant_admin", "scheduler"))
    return Tenants(
        a=a.id,
        b=b.id,
        a_name=a_name,
        a_tenant_admin=a.users["tenant_admin"],
        a_user=a.users["scheduler"],
        b_users=b.users,
    )


def fill(values: dict[str, Any] | None, **ids: object) -> dict[str, Any] | None:
    """``values`` with ``{name}`` placeholders in its string values replaced by ``ids``."""
    if values is None:
        return None
    return {k: v.format(**ids) if isinstance(v, str) else v for k, v in values.items()}


FOREIGN_ROUTES = [
    ("GET", "/api/v1/organizations/{org}", None),
    ("PATCH", "/api/v1/organizations/{org}", {"name": "Hijacked"}),
    ("GET", "/api/v1/organizations/{org}/policy", None),
    ("PATCH", "/api/v1/organizations/{org}/policy", {"due_soon_days": 1}),
    ("GET", "/api/v1/users/{user}", None),
    ("PATCH", "/api/v1/users/{user}", {"name": "Hijacked", "org_id": "{org}"}),
    ("DELETE", "/api/v1/users/{user}", None),
]


@pytest.mark.parametrize("role", ["tenant_admin", "scheduler"])
@pytest.mark.parametrize(("method", "path", "body"), FOREIGN_ROUTES)
async def test_foreign_ids_are_404_for_non_admins(
    client: httpx.AsyncClient,
    app: FastAPI,
    tenants: Tenants,
    role: Role,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    ids = {"org": tenants.a, "user": tenants.a_user.id}
    # A non-admin's org_id (query and body) is ignored: it does not open organization A.
    response = await client.request(
        method,
        path.format(**ids),
        params={"org_id": str(tenants.a)},
        json=fill(body, **ids),
        headers=bearer(app.state.signer, tenants.b_users[role]),
    )
    assert_error(response, 404, "not_found")


async def test_foreign_writes_change_nothing(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection, tenants: Tenants
) -> None:
    headers = bearer(app.state.signer, tenants.b_users["tenant_admin"])
    for method, path, body in FOREIGN_ROUTES:
        if method != "GET":
            ids = {"org": tenants.a, "user": tenants.a_user.id}
            response = await client.request(
                method, path.format(**ids), json=fill(body, **ids), headers=headers
            )
            assert response.status_code == 404, response.text

    org = (
        await connection.execute(select(organizations).where(organizations.c.id == tenants.a))
    ).one()
    assert org.name == tenants.a_name
    policy = (
        await connection.execute(select(org_policies).where(org_policies.c.org_id == tenants.a))
    ).one()
    assert policy.due_soon_days == 30
    user = (await connection.execute(select(users).where(users.c.id == tenants.a_user.id))).one()
    assert user.deleted_at is None
    assert user.name is None
    written = await connection.scalar(
        select(func.count()).select_from(audit_logs).where(audit_logs.c.org_id == tenants.a)
    )
    assert written == 0


@pytest.mark.parametrize("role", ["tenant_admin", "scheduler"])
async def test_lists_of_organizations_and_users_show_only_own_rows(
    client: httpx.AsyncClient, app: FastAPI, tenants: Tenants, role: Role
) -> None:
    headers = bearer(app.state.signer, tenants.b_users[role])

    orgs = await client.get("/api/v1/organizations", headers=headers)
    assert orgs.status_code == 200, orgs.text
    assert [row["id"] for row in orgs.json()] == [str(tenants.b)]
    assert orgs.headers["x-total-count"] == "1"

    # Passing org_id does not widen a non-admin's list.
    for params in ({}, {"org_id": str(tenants.a)}):
        listed = await client.get("/api/v1/users", params=params, headers=headers)
        assert listed.status_code == 200, listed.text
        ids = {row["id"] for row in listed.json()}
        assert ids == {str(user.id) for user in tenants.b_users.values()}
        assert {row["org_id"] for row in listed.json()} == {str(tenants.b)}
        assert listed.headers["x-total-count"] == str(len(tenants.b_users))


async def test_audit_logs_never_show_foreign_rows(
    client: httpx.AsyncClient, app: FastAPI, tenants: Tenants
) -> None:
    signer = app.state.signer
    # Organization A gets an audit row about its user.
    changed = await client.patch(
        f"/api/v1/users/{tenants.a_user.id}",
        json={"name": "Renamed in A"},
        headers=bearer(signer, tenants.a_tenant_admin),
    )
    assert changed.status_code == 200, changed.text
    about_a_user = {"entity_id": str(tenants.a_user.id)}
    own = await client.get(
        "/api/v1/audit-logs", params=about_a_user, headers=bearer(signer, tenants.a_tenant_admin)
    )
    assert [row["org_id"] for row in own.json()] == [str(tenants.a)]

    headers = bearer(signer, tenants.b_users["tenant_admin"])
    foreign = await client.get("/api/v1/audit-logs", params=about_a_user, headers=headers)
    assert foreign.status_code == 200, foreign.text
    assert foreign.json() == []
    assert foreign.headers["x-total-count"] == "0"

    pinned = await client.get(
        "/api/v1/audit-logs", params={**about_a_user, "org_id": str(tenants.a)}, headers=headers
    )
    assert pinned.json() == []

    everything = await client.get("/api/v1/audit-logs", headers=headers)
    assert str(tenants.a) not in {row["org_id"] for row in everything.json()}

    export = await client.get("/api/v1/audit-logs/export", params=about_a_user, headers=headers)
    assert export.status_code == 200, export.text
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert rows == []

    verified = await client.get("/api/v1/audit-logs/verify", headers=headers)
    assert verified.status_code == 200, verified.text
    assert verified.json()["checked"] == 1  # only B's own export row, not A's chain


ADMIN_ACTIONS = [
    ("GET", {"org_id": "{a}"}, None, 200),
    ("PATCH", None, {"name": "Renamed by admin", "org_id": "{a}"}, 200),
    ("DELETE", {"org_id": "{a}"}, None, 204),
]


@pytest.mark.parametrize(("method", "params", "body", "status"), ADMIN_ACTIONS)
async def test_admin_acts_in_another_organization_with_org_id(
    client: httpx.AsyncClient,
    app: FastAPI,
    tenants: Tenants,
    method: str,
    params: dict[str, str] | None,
    body: dict[str, str] | None,
    status: int,
) -> None:
    response = await client.request(
        method,
        f"/api/v1/users/{tenants.a_user.id}",
        params=fill(params, a=tenants.a),
        json=fill(body, a=tenants.a),
        headers=bearer(app.state.signer, tenants.b_users["admin"]),
    )
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["id"] == str(tenants.a_user.id)
        assert response.json()["org_id"] == str(tenants.a)


async def test_admin_without_org_id_stays_in_its_home_organization(
    client: httpx.AsyncClient, app: FastAPI, tenants: Tenants
) -> None:
    headers = bearer(app.state.signer, tenants.b_users["admin"])
    response = await client.get(f"/api/v1/users/{tenants.a_user.id}", headers=headers)
    assert_error(response, 404, "not_found")
    listed = await client.get("/api/v1/users", headers=headers)
    assert {row["org_id"] for row in listed.json()} == {str(tenants.b)}


async def test_admin_lists_another_organizations_users_with_org_id(
    client: httpx.AsyncClient, app: FastAPI, tenants: Tenants
) -> None:
    headers = bearer(app.state.signer, tenants.b_users["admin"])
    listed = await client.get("/api/v1/users", params={"org_id": str(tenants.a)}, headers=headers)
    assert {row["id"] for row in listed.json()} == {
        str(tenants.a_tenant_admin.id),
        str(tenants.a_user.id),
    }


@pytest.mark.parametrize("role", ["tenant_admin", "scheduler"])
async def test_non_admin_org_id_is_pinned_to_own_organization(
    client: httpx.AsyncClient, app: FastAPI, tenants: Tenants, role: Role
) -> None:
    response = await client.get(
        f"/api/v1/users/{tenants.a_user.id}",
        params={"org_id": str(tenants.a)},
        headers=bearer(app.state.signer, tenants.b_users[role]),
    )
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", "/api/v1/users/{user}", {"org_id": "{missing}"}, None),
        ("GET", "/api/v1/users", {"org_id": "{missing}"}, None),
        ("GET", "/api/v1/audit-logs", {"org_id": "{missing}"}, None),
        ("DELETE", "/api/v1/users/{user}", {"org_id": "{missing}"}, None),
        ("PATCH", "/api/v1/users/{user}", None, {"name": "x", "org_id": "{missing}"}),
        (
            "POST",
            "/api/v1/users",
            None,
            {
                "email": "n@example.com",
                "password": PASSWORD,
                "role": "viewer",
                "org_id": "{missing}",
            },
        ),
    ],
)
async def test_admin_with_unknown_org_id_gets_organization_not_found(
    client: httpx.AsyncClient,
    app: FastAPI,
    tenants: Tenants,
    method: str,
    path: str,
    params: dict[str, str] | None,
    body: dict[str, str] | None,
) -> None:
    missing = uuid.uuid4()
    response = await client.request(
        method,
        path.format(user=tenants.a_user.id),
        params=fill(params, missing=missing),
        json=fill(body, missing=missing),
        headers=bearer(app.state.signer, tenants.b_users["admin"]),
    )
    body_out = assert_error(response, 404, "not_found")
    assert body_out["error"] == "organization not found"


@pytest.mark.parametrize(("role", "lands_in"), [("admin", "a"), ("tenant_admin", "b")])
async def test_create_user_with_body_org_id(
    client: httpx.AsyncClient,
    app: FastAPI,
    connection: AsyncConnection,
    tenants: Tenants,
    role: Role,
    lands_in: str,
) -> None:
    """An admin creates the user in the named organization; anyone else in their own."""
    expected = getattr(tenants, lands_in)
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/v1/users",
        json={"email": email, "password": PASSWORD, "role": "mechanic", "org_id": str(tenants.a)},
        headers=bearer(app.state.signer, tenants.b_users[role]),
    )
    assert response.status_code == 201, response.text
    assert response.json()["org_id"] == str(expected)
    stored = await connection.scalar(select(users.c.org_id).where(users.c.email == email))
    assert stored == expected
    audited = await connection.scalar(
        select(audit_logs.c.org_id).where(
            audit_logs.c.entity_id == UUID(response.json()["id"]), audit_logs.c.action == "create"
        )
    )
    assert audited == expected
