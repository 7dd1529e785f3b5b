"""A part definition a program requires cannot be deleted (starts would always fail)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.factories import bearer, make_org, make_user


async def test_a_required_definition_cannot_be_deleted(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    headers = bearer(app.state.signer, await make_user(connection, org_id, "scheduler"))
    definition = (
        await client.post("/api/v1/part-definitions", json={"name": "Gasket"}, headers=headers)
    ).json()
    program = await client.post(
        "/api/v1/maintenance-programs",
        json={
            "name": "Valve cover check",
            "interval_hours": 50,
            "required_parts": [{"part_definition_id": definition["id"], "quantity": 1}],
        },
        headers=headers,
    )
    assert program.status_code == 201
    refused = await client.delete(f"/api/v1/part-definitions/{definition['id']}", headers=headers)
    assert refused.status_code == 409
    assert "Valve cover check" in refused.json()["error"]
    cleared = await client.patch(
        f"/api/v1/maintenance-programs/{program.json()['id']}",
        json={"required_parts": []},
        headers=headers,
    )
    assert cleared.status_code == 200 and cleared.json()["required_parts"] == []
    assert (
        await client.delete(f"/api/v1/part-definitions/{definition['id']}", headers=headers)
    ).status_code == 204
