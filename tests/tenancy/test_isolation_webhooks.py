"""Webhooks and deliveries of another organization are 404 and never listed."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.factories import (
    bearer,
    make_delivery,
    make_event,
    make_org,
    make_user,
    make_webhook,
)


@pytest.fixture
async def foreign(connection: AsyncConnection) -> dict[str, uuid.UUID]:
    org_id = await make_org(connection)
    hook = await make_webhook(connection, org_id, url="http://127.0.0.1:9/x")
    event = await make_event(connection, org_id, dedupe_key="k", dispatched=False)
    delivery = await make_delivery(connection, org_id, hook, event_id=event)
    return {"org": org_id, "webhook": hook, "delivery": delivery}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/v1/webhooks/{webhook}"),
        ("POST", "/api/v1/webhooks/{webhook}/test"),
        ("GET", "/api/v1/webhooks/{webhook}/deliveries"),
        ("POST", "/api/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver"),
    ],
)
async def test_foreign_webhook_ids_are_404(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    app: FastAPI,
    foreign: dict[str, uuid.UUID],
    method: str,
    path: str,
) -> None:
    mine = await make_org(connection)
    headers = bearer(app.state.signer, await make_user(connection, mine, "tenant_admin"))
    response = await client.request(method, path.format(**foreign), headers=headers)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
    status = await connection.scalar(
        text("SELECT status FROM webhook_deliveries WHERE id = :d"), {"d": foreign["delivery"]}
    )
    assert status == "pending"


async def test_lists_show_only_own_webhooks(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    app: FastAPI,
    foreign: dict[str, uuid.UUID],
) -> None:
    mine = await make_org(connection)
    headers = bearer(app.state.signer, await make_user(connection, mine, "tenant_admin"))
    created = await client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/mine", "events": ["*"]},
        headers=headers,
    )
    assert created.status_code == 201
    listed = (await client.get("/api/v1/webhooks", headers=headers)).json()
    assert [hook["id"] for hook in listed] == [created.json()["id"]]


@pytest.mark.parametrize("role", ["scheduler", "mechanic", "auditor", "viewer"])
async def test_only_admins_manage_webhooks(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI, role: str
) -> None:
    org_id = await make_org(connection)
    headers = bearer(app.state.signer, await make_user(connection, org_id, role))  # type: ignore[arg-type]
    response = await client.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["*"]}, headers=headers
    )
    assert response.status_code == 403
    assert (await client.get("/api/v1/webhooks", headers=headers)).status_code == 403
