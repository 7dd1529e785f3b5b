"""Events leave the building: signed, retried, recorded, never from a rolled-back change."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from standardwebhooks.webhooks import Webhook as StandardWebhook

from amss.audit import journal
from amss.auth.rules import Caller
from amss.config import Settings
from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.events.catalogue import Event
from amss.events.queue import DELIVER_TASK
from amss.events.stream import StreamPublisher
from amss.webhooks.jobs import deliver, shared_client
from tests.support.api import Actor, created, ok
from tests.support.factories import (
    TestUser,
    bearer,
    make_delivery,
    make_event,
    make_org,
    make_user,
    make_webhook,
    unique,
)
from tests.support.polling import eventually
from tests.support.steps import add_aircraft, add_task, move
from tests.webhooks.conftest import Receiver, subscribe_on


async def committed_org(database: Database) -> tuple[uuid.UUID, TestUser, TestUser]:
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Hooks {uuid.uuid4().hex[:8]}")
        admin = await make_user(conn, org_id, "tenant_admin")
        scheduler = await make_user(conn, org_id, "scheduler")
    return org_id, admin, scheduler


async def subscribe(
    http: httpx.AsyncClient, headers: dict[str, str], url: str, events: list[str]
) -> dict[str, Any]:
    return created(await Actor(http, headers).post("/webhooks", {"url": url, "events": events}))


async def start_a_task(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """A task created and started through the API: the events a subscription receives."""
    actor = Actor(http, headers)
    craft = await add_aircraft(actor, tail_number=unique("N", 5), model="C172")
    task = await add_task(actor, craft["id"], type="repair", title="Replace landing light")
    ok(await move(actor, task["id"], "in_progress"))
    return str(task["id"])


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

    task_id = await start_a_task(committing_client, bearer(app.state.signer, scheduler))
    # How fast it arrives is measured by `make bench` (bench/webhooks.py), not asserted here.
    [request] = await receiver.wait_for(1, timeout=30)
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

    def change(marker: uuid.UUID) -> list[Event]:
        return [
            Event("task_updated", "maintenance_task", marker, {"task_id": marker}, f"t:{marker}")
        ]

    rolled_back, committed = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with UnitOfWork(database.session_factory) as uow:
            await journal.record(
                uow,
                Caller.system(org_id),
                entity_type="maintenance_task",
                entity_id=rolled_back,
                action="update",
                events=change(rolled_back),
            )
            raise RuntimeError("the change failed after writing its event")
    # Then a change that commits: its delivery arriving shows the worker has dispatched
    # everything of this organization that exists, in order.
    async with UnitOfWork(database.session_factory) as uow:
        await journal.record(
            uow,
            Caller.system(org_id),
            entity_type="maintenance_task",
            entity_id=committed,
            action="update",
            events=change(committed),
        )
        await uow.commit()
    await receiver.wait_for(1, timeout=30, match=lambda r: str(committed).encode() in r.body)
    assert not [r for r in receiver.requests if str(rolled_back).encode() in r.body]
    async with database.engine.connect() as conn:
        kinds = await conn.execute(
            text("SELECT aggregate_id FROM outbox_events WHERE org_id = :o"), {"o": org_id}
        )
        assert [row.aggregate_id for row in kinds] == [committed]
        audited = await conn.scalar(
            text("SELECT count(*) FROM audit_logs WHERE entity_id = :e"), {"e": rolled_back}
        )
        assert audited == 0


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
    await receiver.wait_for(3, timeout=60)
    delivery = await eventually(
        lambda: only_delivery(committing_client, hook["id"], admin_headers, status="delivered"),
        what="the delivery recorded as delivered",
    )
    assert delivery["attempt_count"] == 3
    assert [a["response_code"] for a in delivery["attempts"]] == [500, 500, 200]
    assert delivery["delivered_at"] and delivery["last_response_code"] == 200
    # Each retry was scheduled about 2^attempt s (±20 % jitter) after the failed attempt, and
    # ran no earlier than scheduled: read from the recorded attempts and the retry jobs.
    attempted_at = [datetime.fromisoformat(a["at"]) for a in delivery["attempts"]]
    retries = await retry_jobs(database, delivery["id"])
    assert len(retries) == 2
    for number, (failed_at, retry_at) in enumerate(zip(attempted_at, retries, strict=False), 1):
        wait = (retry_at - failed_at).total_seconds()
        assert 0.8 * 2**number <= wait <= 1.2 * 2**number, (number, wait)
        assert attempted_at[number] >= retry_at


async def only_delivery(
    http: httpx.AsyncClient, webhook_id: str, headers: dict[str, str], *, status: str
) -> dict[str, Any] | None:
    listed = await http.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=headers)
    assert listed.status_code == 200, listed.text
    [delivery] = listed.json()
    return delivery if delivery["status"] == status else None  # type: ignore[no-any-return]


async def retry_jobs(database: Database, delivery_id: str) -> list[datetime]:
    """When the delivery jobs scheduled for later (the retries) of this delivery were due."""
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT scheduled_at FROM procrastinate_jobs WHERE task_name = :t"
                " AND args->'delivery_ids' ? :d AND scheduled_at IS NOT NULL ORDER BY id"
            ),
            {"t": DELIVER_TASK, "d": delivery_id},
        )
        return [row.scheduled_at for row in rows]


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
    await receiver.wait_for(2, timeout=30)
    delivery = await eventually(
        lambda: only_delivery(committing_client, hook["id"], admin_headers, status="delivered"),
        what="the delivery recorded as delivered",
    )
    assert [a["response_code"] for a in delivery["attempts"]] == [429, 200]
    first_at, second_at = (datetime.fromisoformat(a["at"]) for a in delivery["attempts"])
    # The retry was scheduled exactly Retry-After after the 429 (not the ~2 s backoff by
    # chance: that has jitter), and did not run before.
    [retry_at] = await retry_jobs(database, delivery["id"])
    assert retry_at - first_at == timedelta(seconds=2)
    assert second_at >= retry_at


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
    received = await receiver.wait_for(2, timeout=30)
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
    response = await subscribe_on(
        settings, db, connection, url, app_env="production", webhook_allow_private=False
    )
    assert response.status_code == 400, response.text
    assert response.json()["details"][0]["field"] == "url"


async def test_a_destination_that_turns_private_fails_with_a_reason(
    settings: Settings, database: Database
) -> None:
    org_id, _, _ = await committed_org(database)
    async with database.engine.begin() as conn:
        # Accepted earlier (say, when its name resolved publicly); now it points inside.
        hook = await make_webhook(conn, org_id, url="https://localhost/hook")
        delivery = await make_delivery(conn, org_id, hook)
    production = settings.model_copy(update={"app_env": "production"})
    async with shared_client(allow_private=False) as client:
        status = await deliver(database, production, client, StreamPublisher(None), delivery)
    assert status == "failed"
    async with database.engine.connect() as conn:
        error = await conn.scalar(
            text("SELECT last_error FROM webhook_deliveries WHERE id = :d"), {"d": delivery}
        )
    assert error.startswith("refused:") and "loopback" in error


async def doomed_delivery(database: Database, url: str, marker: str) -> uuid.UUID:
    """A delivery of an organization whose policy allows two attempts."""
    org_id, _, _ = await committed_org(database)
    async with database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE org_policies SET max_webhook_attempts = 2 WHERE org_id = :o"),
            {"o": org_id},
        )
        hook = await make_webhook(conn, org_id, url=url, secret="ef" * 32)
        event = await make_event(
            conn,
            org_id,
            payload={"id": marker, "type": "webhook.test"},
            dedupe_key=f"dead:{marker}",
        )
        delivery = await make_delivery(conn, org_id, hook, event_id=event)
    return delivery


async def test_after_the_policys_attempts_a_delivery_is_dead(
    settings: Settings, database: Database, receiver: Receiver
) -> None:
    delivery = await doomed_delivery(database, receiver.url, str(uuid.uuid4()))
    receiver.script = [(503, {}), (503, {})]
    stream = StreamPublisher(None)
    async with shared_client(allow_private=True) as client:
        assert await deliver(database, settings, client, stream, delivery) == "failed"
        # Not before its retry time, even when a job asks.
        assert await deliver(database, settings, client, stream, delivery) == "not open"
        await due_now(database, delivery)
        assert await deliver(database, settings, client, stream, delivery) == "dead"
        # A dead delivery is not open any more: no third send.
        assert await deliver(database, settings, client, stream, delivery) == "not open"
    assert len(receiver.requests) == 2
    async with database.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT status, attempt_count, attempts, next_attempt_at"
                    " FROM webhook_deliveries WHERE id = :d"
                ),
                {"d": delivery},
            )
        ).one()
    assert (row.status, row.attempt_count, row.next_attempt_at) == ("dead", 2, None)
    assert [a["response_code"] for a in row.attempts] == [503, 503]


async def test_a_dead_delivery_goes_to_the_dead_letter_stream(
    settings: Settings, database: Database, receiver: Receiver, redis_url: str
) -> None:
    marker = str(uuid.uuid4())
    delivery = await doomed_delivery(database, receiver.url, marker)
    receiver.script = [(503, {}), (503, {})]
    stream = StreamPublisher(redis_url)
    try:
        async with shared_client(allow_private=True) as client:
            assert await deliver(database, settings, client, stream, delivery) == "failed"
            assert not await dead_letters(redis_url, marker)  # failed is not dead yet
            await due_now(database, delivery)
            assert await deliver(database, settings, client, stream, delivery) == "dead"
    finally:
        await stream.close()
    [letter] = await dead_letters(redis_url, marker)
    assert letter["delivery_id"] == str(delivery) and letter["type"] == "webhook.test"


async def dead_letters(redis_url: str, marker: str) -> list[dict[str, Any]]:
    redis = Redis.from_url(redis_url)
    try:
        entries = await redis.xrevrange("amss.dlq", count=200)
    finally:
        await redis.aclose()
    letters = [json.loads(fields[b"event"]) for _, fields in entries]
    return [letter for letter in letters if letter.get("id") == marker]


class Deliveries:
    """A webhook of a fresh organization with deliveries in given states (rolled back)."""

    def __init__(self, connection: AsyncConnection, org_id: uuid.UUID, webhook_id: uuid.UUID):
        self.connection, self.org_id, self.webhook_id = connection, org_id, webhook_id

    async def add(self, status: str, attempts: list[int] | None = None) -> uuid.UUID:
        event = await make_event(self.connection, self.org_id, payload={"type": "webhook.test"})
        return await make_delivery(
            self.connection,
            self.org_id,
            self.webhook_id,
            event_id=event,
            status=status,
            response_codes=attempts or [],
        )

    async def rows(self) -> dict[uuid.UUID, tuple[str, int, list[int]]]:
        result = await self.connection.execute(
            text(
                "SELECT id, status, attempt_count, attempts FROM webhook_deliveries"
                " WHERE webhook_id = :w"
            ),
            {"w": self.webhook_id},
        )
        return {
            row.id: (row.status, row.attempt_count, [a["response_code"] for a in row.attempts])
            for row in result
        }


@pytest.fixture
async def hook_with_history(
    connection: AsyncConnection, app: FastAPI, receiver: Receiver
) -> tuple[Deliveries, dict[str, str]]:
    org_id = await make_org(connection)
    admin = await make_user(connection, org_id, "tenant_admin")
    webhook_id = await make_webhook(connection, org_id, url=receiver.url)
    return Deliveries(connection, org_id, webhook_id), bearer(app.state.signer, admin)


async def test_deleting_a_webhook_cancels_pending_deliveries_and_keeps_history(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    receiver: Receiver,
    hook_with_history: tuple[Deliveries, dict[str, str]],
) -> None:
    hook, headers = hook_with_history
    delivered = await hook.add("delivered", [500, 200])
    dead = await hook.add("dead", [503, 503])
    pending = await hook.add("pending")
    failed = await hook.add("failed", [500])
    before = await hook.rows()

    response = await client.delete(f"/api/v1/webhooks/{hook.webhook_id}", headers=headers)
    assert response.status_code == 204, response.text

    after = await hook.rows()
    assert after == {
        **before,
        pending: ("cancelled", 0, []),
        failed: ("cancelled", 1, [500]),
    }
    assert after[delivered] == ("delivered", 2, [500, 200])
    assert after[dead] == ("dead", 2, [503, 503])
    webhook = (
        await hook.connection.execute(
            text("SELECT active, deleted_at FROM webhooks WHERE id = :w"), {"w": hook.webhook_id}
        )
    ).one()
    assert webhook.active is False and webhook.deleted_at is not None
    listed = await client.get("/api/v1/webhooks", headers=headers)
    assert listed.json() == []
    # A delivery job still queued for it sends nothing.
    async with shared_client(allow_private=True) as http:
        assert await deliver(db, settings, http, StreamPublisher(None), pending) == "not open"
    assert receiver.requests == []
    audit = await hook.connection.scalar(
        text("SELECT count(*) FROM audit_logs WHERE entity_id = :w AND action = 'delete'"),
        {"w": hook.webhook_id},
    )
    assert audit == 1


async def test_deliveries_filter_by_status(
    client: httpx.AsyncClient, hook_with_history: tuple[Deliveries, dict[str, str]]
) -> None:
    hook, headers = hook_with_history
    made: dict[str, list[str]] = {}
    for status in ("pending", "delivered", "delivered", "failed", "dead", "cancelled"):
        made.setdefault(status, []).append(str(await hook.add(status)))
    path = f"/api/v1/webhooks/{hook.webhook_id}/deliveries"
    for status, ids in made.items():
        response = await client.get(path, params={"status": status}, headers=headers)
        assert response.status_code == 200, response.text
        assert sorted(d["id"] for d in response.json()) == sorted(ids), status
        assert {d["status"] for d in response.json()} == {status}
        assert response.headers["x-total-count"] == str(len(ids))
    everything = await client.get(path, headers=headers)
    assert everything.headers["x-total-count"] == "6" and len(everything.json()) == 6
    bad = await client.get(path, params={"status": "lost"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["details"][0]["field"] == "status"


async def test_redeliver_queues_a_dead_delivery_again_and_it_is_sent(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    receiver: Receiver,
    hook_with_history: tuple[Deliveries, dict[str, str]],
) -> None:
    hook, headers = hook_with_history
    dead = await hook.add("dead", [503, 503])
    response = await client.post(
        f"/api/v1/webhooks/{hook.webhook_id}/deliveries/{dead}/redeliver", headers=headers
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"delivery_id": str(dead), "status": "pending"}
    assert (await hook.rows())[dead] == ("pending", 2, [503, 503])
    queued = await hook.connection.scalar(
        text(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t AND status = 'todo'"
            " AND args->'delivery_ids' ? :d"
        ),
        {"t": DELIVER_TASK, "d": str(dead)},
    )
    assert queued == 1
    # The queued job sends it: the history keeps the old attempts and adds the new one.
    async with shared_client(allow_private=True) as http:
        assert await deliver(db, settings, http, StreamPublisher(None), dead) == "delivered"
    [request] = receiver.requests
    assert request.headers["x-webhook-delivery-id"] == str(dead)
    assert (await hook.rows())[dead] == ("delivered", 3, [503, 503, 200])


async def test_redelivering_an_unknown_delivery_is_404(
    client: httpx.AsyncClient, hook_with_history: tuple[Deliveries, dict[str, str]]
) -> None:
    hook, headers = hook_with_history
    response = await client.post(
        f"/api/v1/webhooks/{hook.webhook_id}/deliveries/{uuid.uuid4()}/redeliver",
        headers=headers,
    )
    assert response.status_code == 404 and response.json()["error"] == "delivery not found"


async def due_now(database: Database, delivery: uuid.UUID) -> None:
    """Bring a scheduled retry forward, as if its backoff had passed."""
    async with database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = :d"),
            {"d": delivery},
        )
