"""The webhook API's limits and history: a quota per organization, a rate-limited test
endpoint, secrets encrypted at rest and never replayed, and history that survives deletion."""

from __future__ import annotations

import os
import uuid
from typing import Any

import httpx
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from amss.kit.secretbox import SecretBox
from amss.webhooks.service import rotate_secrets, seal_plaintext_secrets
from tests.support.factories import bearer, make_org, make_user, make_webhook


async def tenant_admin(connection: AsyncConnection, **policy: object) -> Any:
    org_id = await make_org(connection, **policy)
    return await make_user(connection, org_id, "tenant_admin")


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **extra: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["webhook.test"]},
        headers={**headers, **extra},
    )


async def test_an_organization_has_at_most_its_quota_of_webhooks(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    headers = bearer(app.state.signer, await tenant_admin(connection, max_webhooks=2))
    first = await create(client, headers)
    assert (await create(client, headers)).status_code == 201
    refused = await create(client, headers)
    assert refused.status_code == 409, refused.text
    assert "allows 2 (max_webhooks" in refused.json()["error"]
    # A deleted webhook frees its place.
    assert (
        await client.delete(f"/api/v1/webhooks/{first.json()['id']}", headers=headers)
    ).status_code == 204
    assert (await create(client, headers)).status_code == 201


async def test_the_default_quota_is_twenty(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    headers = bearer(app.state.signer, await tenant_admin(connection))
    statuses = [(await create(client, headers)).status_code for _ in range(21)]
    assert statuses == [201] * 20 + [409]


async def test_the_test_endpoint_is_rate_limited_per_webhook(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    headers = bearer(app.state.signer, await tenant_admin(connection))
    hook = (await create(client, headers)).json()
    statuses = [
        (await client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=headers))
        for _ in range(6)
    ]
    assert [r.status_code for r in statuses] == [202] * 5 + [429]
    limited = statuses[-1]
    assert limited.json()["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    # Another webhook has its own allowance.
    other = (await create(client, headers)).json()
    assert (
        await client.post(f"/api/v1/webhooks/{other['id']}/test", headers=headers)
    ).status_code == 202


async def test_a_deleted_webhook_and_its_deliveries_stay_readable(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    headers = bearer(app.state.signer, await tenant_admin(connection))
    hook = (await create(client, headers)).json()
    queued = await client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=headers)
    assert queued.status_code == 202
    live = await client.get(f"/api/v1/webhooks/{hook['id']}", headers=headers)
    assert live.status_code == 200 and live.json()["active"] is True
    assert "secret" not in live.text

    assert (
        await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=headers)
    ).status_code == 204
    deleted = await client.get(f"/api/v1/webhooks/{hook['id']}", headers=headers)
    assert deleted.status_code == 200
    assert deleted.json()["active"] is False and deleted.json()["deleted_at"]
    deliveries = await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=headers)
    assert deliveries.status_code == 200
    [delivery] = deliveries.json()
    assert delivery["status"] == "cancelled"
    # Deleted means: not listed, not tested, not deleted twice.
    listed = await client.get("/api/v1/webhooks", headers=headers)
    assert hook["id"] not in listed.text
    assert (
        await client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=headers)
    ).status_code == 409
    assert (
        await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=headers)
    ).status_code == 404


async def test_another_organizations_webhook_is_404_even_once_deleted(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    owner = bearer(app.state.signer, await tenant_admin(connection))
    stranger = bearer(app.state.signer, await tenant_admin(connection))
    hook = (await create(client, owner)).json()
    await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=owner)
    for path in (f"/api/v1/webhooks/{hook['id']}", f"/api/v1/webhooks/{hook['id']}/deliveries"):
        assert (await client.get(path, headers=stranger)).status_code == 404


async def test_secrets_are_stored_encrypted(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    headers = bearer(app.state.signer, await tenant_admin(connection))
    created = (await create(client, headers)).json()
    row = (
        await connection.execute(
            text("SELECT secret, secret_ciphertext FROM webhooks WHERE id = :w"),
            {"w": created["id"]},
        )
    ).one()
    assert row.secret is None
    assert created["secret"] not in row.secret_ciphertext
    assert app.state.secret_box.decrypt(row.secret_ciphertext) == created["secret"]


async def test_a_replayed_creation_neither_stores_nor_returns_the_secret(
    committing_client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    async with database.engine.begin() as conn:
        admin = await tenant_admin(conn)
    headers = bearer(app.state.signer, admin)  # the same keys sign for every app of the session
    key = f"create-{uuid.uuid4()}"
    first = await create(committing_client, headers, **{"Idempotency-Key": key})
    assert first.status_code == 201 and len(first.json()["secret"]) == 64
    replay = await create(committing_client, headers, **{"Idempotency-Key": key})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert "secret" not in replay.json() and "secret_standard" not in replay.json()
    assert int(replay.headers["content-length"]) == len(replay.content)
    async with database.engine.connect() as conn:
        stored = await conn.scalar(
            text("SELECT response_body FROM idempotency_keys WHERE user_id = :u AND key = :k"),
            {"u": admin.id, "k": key},
        )
    assert first.json()["secret"].encode() not in stored
    assert b"whsec_" not in stored


async def test_plaintext_secrets_are_sealed_and_keys_rotate(
    db: Database, connection: AsyncConnection
) -> None:
    # In the test's transaction (rolled back): other tests' rows are sealed here too, so the
    # session's own key stays listed to read theirs.
    session_key = os.environ["SECRETS_KEY"]
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    org_id = await make_org(connection)
    # A row from before encryption at rest: its secret in plaintext.
    hook = await make_webhook(
        connection, org_id, url="http://127.0.0.1:9/x", secret="12" * 32, sealed=False
    )

    async def stored() -> Any:
        return (
            await connection.execute(
                text("SELECT secret, secret_ciphertext FROM webhooks WHERE id = :w"), {"w": hook}
            )
        ).one()

    assert await seal_plaintext_secrets(db, SecretBox([old_key, session_key])) >= 1
    sealed = await stored()
    assert sealed.secret is None
    assert SecretBox([old_key]).decrypt(sealed.secret_ciphertext) == "12" * 32
    assert await seal_plaintext_secrets(db, SecretBox([old_key])) == 0  # idempotent

    # Rotation: the new key goes first; old keys stay listed until rotate has run.
    await rotate_secrets(db, SecretBox([new_key, old_key, session_key]))
    assert SecretBox([new_key]).decrypt((await stored()).secret_ciphertext) == "12" * 32
