"""Quotas that protect the installation are set by admins only; tenant admins read them."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.factories import bearer, make_org, make_user


@pytest.mark.parametrize(
    ("field", "value"),
    [("api_rate_limit_per_min", 100_000), ("max_webhooks", 500), ("retention_days", 1)],
)
async def test_a_tenant_admin_reads_quotas_but_cannot_change_them(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection, field: str, value: int
) -> None:
    org_id = await make_org(connection)
    tenant_admin = bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin"))
    path = f"/api/v1/organizations/{org_id}/policy"
    read = await client.get(path, headers=tenant_admin)
    assert read.status_code == 200 and read.json()["max_webhooks"] == 20
    refused = await client.patch(path, json={field: value}, headers=tenant_admin)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "forbidden" and field in refused.json()["error"]
    # Mixed with an allowed field: nothing is applied.
    mixed = await client.patch(path, json={field: value, "due_soon_days": 9}, headers=tenant_admin)
    assert mixed.status_code == 403
    assert (await client.get(path, headers=tenant_admin)).json()["due_soon_days"] != 9


async def test_a_tenant_admin_still_sets_its_planning_policy(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    org_id = await make_org(connection)
    tenant_admin = bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin"))
    response = await client.patch(
        f"/api/v1/organizations/{org_id}/policy", json={"due_soon_days": 9}, headers=tenant_admin
    )
    assert response.status_code == 200 and response.json()["due_soon_days"] == 9


async def test_an_admin_sets_quotas_in_any_organization(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    home = await make_org(connection)
    admin = bearer(app.state.signer, await make_user(connection, home, "admin"))
    tenant = await make_org(connection)
    response = await client.patch(
        f"/api/v1/organizations/{tenant}/policy",
        json={"max_webhooks": 3, "api_rate_limit_per_min": 1200, "retention_days": 730},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    policy = response.json()
    assert (policy["max_webhooks"], policy["api_rate_limit_per_min"], policy["retention_days"]) == (
        3,
        1200,
        730,
    )
    bad = await client.patch(
        f"/api/v1/organizations/{tenant}/policy", json={"max_webhooks": -1}, headers=admin
    )
    assert bad.status_code == 400 and bad.json()["details"][0]["field"] == "max_webhooks"
