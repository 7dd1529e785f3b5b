"""Events leave the building: signed, retried, recorded, never from a rolled-back change."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook as StandardWebhook

from amss.app import create_app
from amss.audit import journal
from amss.auth.rules import Caller
from amss.config import Settings
from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.events.outbox import Event
from amss.events.stream import StreamPublisher
from amss.webhooks.jobs import deliver, shared_client
from tests.conftest import serve_app
from tests.factories import TestUser, bearer, make_org, make_user
from tests.webhooks.conftest import Receiver


async def committed_org(database: Database) -> tuple[uuid.UUID, TestUser, TestUser]:
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Hooks {uuid.uuid4().hex[:8]}")
        admin = await make_user(conn, org_id, "tenant_admin")
        scheduler = await make_user(conn, org_id, "scheduler")
    return org_id, admin, scheduler


async def subscribe(
    http: httpx.AsyncClient, headers: dict[str, str], url: str, events: list[str]
) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/webhooks", json={"url": url, "events": events}, headers=headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def start_a_task(http: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, float]:
    craft = await http.post(
        "/api/v1/aircraft",
        json={"tail_number": f"N{uuid.uuid4().hex[:5].upper()}", "model": "C172"},
        headers=headers,
    )
    task = await http.post(
        "/api/v1/maintenance-tasks",
        json={
            "aircraft_id": craft.json()["id"],
            "type": "repair",
            "title": "Replace landing light",
        },
        headers=headers,
    )
    task_id = task.json()["id"]
    started = await http.patch(
        f"/api/v1/maintenance-tasks/{task_id}/state",
        json={"new_state": "in_progress"},
        headers=headers,
    )
    assert started.status_code == 200, started.text
    return task_id, time.monotonic()


async def test_a_state_change_reaches_the_receiver_signed_both_ways(
    committing_client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    receiver: Receiver,
    worker: Any,
) -> None:
    _, admin, scheduler = await committed_org(database)
    hook = await subscribe(
        committing_client, bearer(app.state.signer, admin), receiver.url, ["task_state_changed"]
    )
    assert len(hook["secret"]) == 64 and hook["secret_standard"].startswith("whsec_")
    listed = await committing_client.get(
        "/api/v1/webhooks", headers=bearer(app.state.signer, admin)
    )
    assert "secret" not in listed.text

    task_id, committed_at = await start_a_task(
        committing_client, bearer(app.state.signer, scheduler)
    )
    [request] = await receiver.wait_for(1, timeout=5)
    assert request.at - committed_at < 2.0, f"delivered after {request.at - committed_at:.2f} s"
    payload = json.loads(request.body)
    assert payload["type"] == "task_state_changed" and payload["data"]["task_id"] == task_id
    assert payload["data"]["new_state"] == "in_progress"

    headers = request.headers
    assert (
        headers["x-webhook-id"] == hook["id"] and headers["x-webhook-event"] == "task_state_changed"
    )
    expected = hmac.new(
        hook["secret"].encode(),
        headers["x-webhook-timestamp"].encode() + b"." + request.body,
        hashlib.sha256,
    ).hexdigest()
    assert headers["x-webhook-signature"] == f"v1={expected}"
    verified = StandardWebhook(hook["secret_standard"]).verify(
        request.body,
        {
            "webhook-id": headers["webhook-id"],
            "webhook-timestamp": headers["webhook-timestamp"],
            "webhook-signature": headers["webhook-signature"],
        },
    )
    assert verified["data"]["task_id"] == task_id
    assert headers["webhook-id"] == headers["x-webhook-delivery-id"]


async def test_a_rolled_back_change_sends_nothing(
    database: Database,
    committing_client: httpx.AsyncClient,
    app: FastAPI,
    receiver: Receiver,
    worker: Any,
) -> None:
    org_id, admin, _ = await committed_org(database)
    await subscribe(committing_client, bearer(app.state.signer, admin), receiver.url, ["*"])
    marker = uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with UnitOfWork(database.session_factory) as uow:
            await journal.record(
                uow,
                Caller.system(org_id),
                entity_type="maintenance_task",
                entity_id=marker,
                action="update",
                events=[
                    Event(
                        "task_updated",
                        "maintenance_task",
                        marker,
                        {"task_id": marker},
                        f"t:{marker}",
                    )
                ],
            )
            raise RuntimeError("the change failed after writing its event")
    await asyncio.sleep(1.5)
    assert not [r for r in receiver.requests if str(marker).encode() in r.body]


async def test_retries_grow_until_delivered_with_the_history_visible(
    committing_client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    receiver: Receiver,
    worker: Any,
) -> None:
    _, admin, _ = await committed_org(database)
    admin_headers = bearer(app.state.signer, admin)
    hook = await subscribe(committing_client, admin_headers, receiver.url, ["webhook.test"])
    receiver.script = [(500, {}), (500, {})]
    queued = await committing_client.post(
        f"/api/v1/webhooks/{hook['id']}/test", headers=admin_headers
    )
    assert queued.status_code == 202
    attempts = await receiver.wait_for(3, timeout=20)
    assert len(attempts) == 3
    first_gap, second_gap = attempts[1].at - attempts[0].at, attempts[2].at - attempts[1].at
    assert 1.0 <= first_gap < second_gap, (first_gap, second_gap)
    await asyncio.sleep(0.3)
    deliveries = (
        await committing_client.get(
            f"/api/v1/webhooks/{hook['id']}/deliveries", headers=admin_headers
        )
    ).json()
    [delivery] = deliveries
    assert delivery["status"] == "delivered" and delivery["attempt_count"] == 3
    assert [a["response_code"] for a in delivery["attempts"]] == [500, 500, 200]
    assert delivery["delivered_at"] and delivery["last_response_code"] == 200


async def test_429_waits_for_retry_after(
    committing_client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    receiver: Receiver,
    worker: Any,
) -> None:
    _, admin, _ = await committed_org(database)
    admin_headers = bearer(app.state.signer, admin)
    hook = await subscribe(committing_client, admin_headers, receiver.url, ["webhook.test"])
    receiver.script = [(429, {"Retry-After": "2"})]
    await committing_client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=admin_headers)
    first, second = await receiver.wait_for(2, timeout=10)
    assert second.at - first.at >= 2.0


async def test_test_twice_gives_two_deliveries_and_unknown_is_404(
    committing_client: httpx.AsyncClient,
    database: Database,
    app: FastAPI,
    receiver: Receiver,
    worker: Any,
) -> None:
    _, admin, _ = await committed_org(database)
    admin_headers = bearer(app.state.signer, admin)
    hook = await subscribe(committing_client, admin_headers, receiver.url, ["task_created"])
    for _ in range(2):
        assert (
            await committing_client.post(
                f"/api/v1/webhooks/{hook['id']}/test", headers=admin_headers
            )
        ).status_code == 202
    received = await receiver.wait_for(2, timeout=5)
    assert len({r.headers["x-webhook-delivery-id"] for r in received}) == 2
    assert all(json.loads(r.body)["type"] == "webhook.test" for r in received)
    missing = await committing_client.post(
        f"/api/v1/webhooks/{uuid.uuid4()}/test", headers=admin_headers
    )
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8443/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://localhost/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
    ],
)
async def test_production_refuses_non_public_destinations(
    settings: Settings, db: Database, url: str, connection: Any
) -> None:
    production = settings.model_copy(
        update={"app_env": "production", "webhook_allow_private": False}
    )
    app = create_app(production, db)
    org_id = await make_org(connection)
    admin = await make_user(connection, org_id, "tenant_admin")
    async with serve_app(app) as http:
        response = await http.post(
            "/api/v1/webhooks",
            json={"url": url, "events": ["*"]},
            headers=bearer(app.state.signer, admin),
        )
    assert response.status_code == 400, response.text
    assert response.json()["details"][0]["field"] == "url"


async def test_a_destination_that_turns_private_fails_with_a_reason(
    settings: Settings, database: Database
) -> None:
    org_id, _, _ = await committed_org(database)
    async with database.engine.begin() as conn:
        # Accepted earlier (say, when its name resolved publicly); now it points inside.
        hook = await conn.scalar(
            text(
                "INSERT INTO webhooks (org_id, url, events, secret) VALUES (:o, 'https://localhost/hook', '{*}', :s) RETURNING id"
            ),
            {"o": org_id, "s": "ab" * 32},
        )
        event = await conn.scalar(
            text(
                "INSERT INTO outbox_events (org_id, event_type, aggregate_type, payload, dedupe_key, dispatched_at)"
                " VALUES (:o, 'webhook.test', 'webhook', '{}', :k, now()) RETURNING id"
            ),
            {"o": org_id, "k": f"test:{uuid.uuid4()}"},
        )
        delivery = await conn.scalar(
            text(
                "INSERT INTO webhook_deliveries (org_id, webhook_id, event_id, event_type)"
                " VALUES (:o, :w, :e, 'webhook.test') RETURNING id"
            ),
            {"o": org_id, "w": hook, "e": event},
        )
    production = settings.model_copy(update={"app_env": "production"})
    async with shared_client(allow_private=False) as client:
        status = await deliver(database, production, client, StreamPublisher(None), delivery)
    assert status == "failed"
    async with database.engine.connect() as conn:
        error = await conn.scalar(
            text("SELECT last_error FROM webhook_deliveries WHERE id = :d"), {"d": delivery}
        )
    assert error.startswith("refused:") and "loopback" in error


async def test_after_the_policys_attempts_a_delivery_is_dead_and_dead_lettered(
    settings: Settings, database: Database, receiver: Receiver, redis_url: str | None
) -> None:
    org_id, _, _ = await committed_org(database)
    marker = str(uuid.uuid4())
    async with database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE org_policies SET max_webhook_attempts = 2 WHERE org_id = :o"),
            {"o": org_id},
        )
        hook = await conn.scalar(
            text(
                "INSERT INTO webhooks (org_id, url, events, secret) VALUES (:o, :u, '{*}', :s) RETURNING id"
            ),
            {"o": org_id, "u": receiver.url, "s": "ef" * 32},
        )
        event = await conn.scalar(
            text(
                "INSERT INTO outbox_events (org_id, event_type, aggregate_type, payload, dedupe_key, dispatched_at)"
                " VALUES (:o, 'webhook.test', 'webhook', CAST(:p AS jsonb), :k, now()) RETURNING id"
            ),
            {
                "o": org_id,
                "p": json.dumps({"id": marker, "type": "webhook.test"}),
                "k": f"dead:{marker}",
            },
        )
        delivery = await conn.scalar(
            text(
                "INSERT INTO webhook_deliveries (org_id, webhook_id, event_id, event_type)"
                " VALUES (:o, :w, :e, 'webhook.test') RETURNING id"
            ),
            {"o": org_id, "w": hook, "e": event},
        )
    receiver.script = [(503, {}), (503, {})]
    stream = StreamPublisher(redis_url)
    async with shared_client(allow_private=True) as client:
        assert await deliver(database, settings, client, stream, delivery) == "failed"
        # Not before its retry time, even when a job asks.
        assert await deliver(database, settings, client, stream, delivery) == "not open"
        await due_now(database, delivery)
        assert await deliver(database, settings, client, stream, delivery) == "dead"
        # A dead delivery is not open any more: no third send.
        assert await deliver(database, settings, client, stream, delivery) == "not open"
    await stream.close()
    assert len(receiver.requests) == 2
    async with database.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT status, attempt_count, attempts FROM webhook_deliveries WHERE id = :d"
                ),
                {"d": delivery},
            )
        ).one()
    assert (row.status, row.attempt_count) == ("dead", 2)
    assert [a["response_code"] for a in row.attempts] == [503, 503]
    if redis_url is not None:
        from redis.asyncio import Redis

        redis = Redis.from_url(redis_url)
        try:
            entries = await redis.xrevrange("amss.dlq", count=20)
        finally:
            await redis.aclose()
        assert any(marker in fields[b"event"].decode() for _, fields in entries)


async def due_now(database: Database, delivery: uuid.UUID) -> None:
    """Bring a scheduled retry forward, as if its backoff had passed."""
    async with database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = :d"),
            {"d": delivery},
        )
