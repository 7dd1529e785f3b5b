"""Idempotency keys (SPEC §7.4)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from fastapi import APIRouter, FastAPI
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from amss.db.tables import idempotency_keys
from tests.conftest import serve_app
from tests.support.factories import bearer, make_org, make_user


def new_user_body(tag: str) -> dict[str, str]:
    return {"email": f"{tag}@example.com", "password": "long enough password", "role": "viewer"}


async def test_same_key_same_request_replays_byte_for_byte(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    headers = {
        **bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin")),
        "Idempotency-Key": "k-1",
    }
    first = await client.post("/api/v1/users", json=new_user_body("once"), headers=headers)
    second = await client.post("/api/v1/users", json=new_user_body("once"), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert second.headers["content-type"] == first.headers["content-type"]
    count = (
        await connection.execute(
            text("SELECT count(*) FROM users WHERE org_id = :o AND email = 'once@example.com'"),
            {"o": org_id},
        )
    ).scalar_one()
    assert count == 1


async def test_same_key_different_request_is_409(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    headers = {
        **bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin")),
        "Idempotency-Key": "k-2",
    }
    assert (
        await client.post("/api/v1/users", json=new_user_body("a"), headers=headers)
    ).status_code == 201
    other = await client.post("/api/v1/users", json=new_user_body("b"), headers=headers)
    assert other.status_code == 409
    assert other.json()["error"] == "idempotency key reused with a different request"


async def test_keys_belong_to_one_user(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    one = {
        **bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin")),
        "Idempotency-Key": "shared",
    }
    two = {
        **bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin")),
        "Idempotency-Key": "shared",
    }
    assert (
        await client.post("/api/v1/users", json=new_user_body("u1"), headers=one)
    ).status_code == 201
    assert (
        await client.post("/api/v1/users", json=new_user_body("u2"), headers=two)
    ).status_code == 201


async def test_bad_key_is_400(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    headers = {
        **bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin")),
        "Idempotency-Key": "x" * 256,
    }
    response = await client.post("/api/v1/users", json=new_user_body("z"), headers=headers)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]


async def test_an_expired_key_behaves_as_new(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    headers = {
        **bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin")),
        "Idempotency-Key": "old",
    }
    assert (
        await client.post("/api/v1/users", json=new_user_body("e1"), headers=headers)
    ).status_code == 201
    await connection.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.key == "old")
        .values(expires_at=text("now() - interval '1 second'"))
    )
    fresh = await client.post("/api/v1/users", json=new_user_body("e2"), headers=headers)
    assert fresh.status_code == 201
    assert "idempotent-replayed" not in fresh.headers


async def test_server_errors_are_not_stored(connection: AsyncConnection, app: FastAPI) -> None:
    org_id = await make_org(connection)
    headers = {
        **bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin")),
        "Idempotency-Key": "flaky",
    }
    calls = {"n": 0}
    router = APIRouter()

    @router.post("/api/v1/flaky")
    async def flaky() -> dict[str, int]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("transient")
        return {"call": calls["n"]}

    app.include_router(router)
    async with serve_app(app) as http:
        first = await http.post("/api/v1/flaky", headers=headers)
        second = await http.post("/api/v1/flaky", headers=headers)
        third = await http.post("/api/v1/flaky", headers=headers)
    assert first.status_code == 500
    assert second.status_code == 200 and second.json() == {"call": 2}
    assert third.json() == {"call": 2} and third.headers["idempotent-replayed"] == "true"


async def test_ten_concurrent_identical_posts_create_one_resource(
    committing_client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Idem {uuid.uuid4().hex[:8]}")
        admin = await make_user(conn, org_id, "tenant_admin")
    headers = {**bearer(app.state.signer, admin), "Idempotency-Key": "burst"}
    body = new_user_body(f"burst-{uuid.uuid4().hex[:6]}")
    responses = await asyncio.gather(
        *(committing_client.post("/api/v1/users", json=body, headers=headers) for _ in range(10))
    )
    statuses = sorted(r.status_code for r in responses)
    assert all(status in (201, 409) for status in statuses), statuses
    assert 201 in statuses
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"] == "request in progress"
            assert response.headers["retry-after"] == "1"
    async with database.engine.connect() as conn:
        created = (
            await conn.execute(
                text("SELECT count(*) FROM users WHERE org_id = :o AND email = :e"),
                {"o": org_id, "e": body["email"]},
            )
        ).scalar_one()
    assert created == 1
    replay = await committing_client.post("/api/v1/users", json=body, headers=headers)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
