"""Events on the Redis stream when Redis is configured (SPEC §7.1); a Redis outage changes
no outcome: requests answer, events are dispatched, deliveries delivered."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text

from amss.app import create_app
from amss.config import Settings
from amss.db.engine import Database
from amss.events.stream import EVENTS_STREAM, StreamPublisher
from tests.conftest import redis_behind_proxy, serve_app
from tests.kit.test_rate_limits import rate_limit_keys
from tests.support.factories import bearer, make_org, make_user, make_webhook
from tests.support.polling import eventually
from tests.webhooks.conftest import Receiver, running_worker


async def stream_entries(redis_url: str, stream: str) -> list[dict[str, Any]]:
    redis = Redis.from_url(redis_url)
    try:
        entries = await redis.xrevrange(stream, count=500)
    finally:
        await redis.aclose()
    return [json.loads(fields[b"event"]) for _, fields in entries]


async def streamed_task_ids(redis_url: str) -> set[str]:
    entries = await stream_entries(redis_url, EVENTS_STREAM)
    return {str(e.get("data", {}).get("task_id")) for e in entries}


async def test_events_are_appended_to_the_stream(redis_url: str) -> None:
    marker = str(uuid.uuid4())
    publisher = StreamPublisher(redis_url)
    await publisher.publish(EVENTS_STREAM, [{"id": marker, "type": "task_updated"}])
    await publisher.close()
    assert marker in [entry["id"] for entry in await stream_entries(redis_url, EVENTS_STREAM)]


async def test_a_redis_outage_changes_no_outcome(
    settings: Settings,
    database: Database,
    database_url: str,
    receiver: Receiver,
    redis_url: str,
    clean_jobs: None,
) -> None:
    """API and worker both use Redis (rate limits, the event stream) through a proxy; the
    proxy is cut mid-test and every request, event and delivery still has its outcome."""
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Outage {uuid.uuid4().hex[:8]}")
        scheduler = await make_user(conn, org_id, "scheduler")
        await make_webhook(conn, org_id, url=receiver.url, events=["task_created"])
    async with redis_behind_proxy(redis_url) as (proxy, proxied_url):
        with_redis = settings.model_copy(update={"redis_url_raw": proxied_url})
        app: FastAPI = create_app(with_redis, database)
        headers = bearer(app.state.signer, scheduler)
        async with (
            serve_app(app) as http,
            running_worker(with_redis, database, database_url),
        ):
            craft = await http.post(
                "/api/v1/aircraft",
                json={"tail_number": f"N{uuid.uuid4().hex[:5].upper()}", "model": "C172"},
                headers=headers,
            )
            assert craft.status_code == 201, craft.text

            async def new_task(title: str) -> tuple[httpx.Response, Callable[[Any], bool]]:
                created = await http.post(
                    "/api/v1/maintenance-tasks",
                    json={"aircraft_id": craft.json()["id"], "type": "repair", "title": title},
                    headers=headers,
                )
                assert created.status_code == 201, created.text
                task_id = created.json()["id"]
                return created, lambda r: json.loads(r.body)["data"]["task_id"] == task_id

            before, is_before = await new_task("Before the outage")
            await receiver.wait_for(1, timeout=30, match=is_before)
            # Redis was in use: the event reaches the stream (appended after the dispatch
            # commits), and the request was counted there.
            await eventually(
                lambda: _contains(streamed_task_ids(redis_url), before.json()["id"]),
                what="the event of the first task on the Redis stream",
            )
            assert await rate_limit_keys(redis_url, org_id)

            await proxy.cut()
            during, is_during = await new_task("During the outage")
            [delivered] = await receiver.wait_for(1, timeout=30, match=is_during)
            listed = await http.get(
                f"/api/v1/maintenance-tasks/{during.json()['id']}", headers=headers
            )
    assert listed.status_code == 200 and listed.json()["title"] == "During the outage"
    assert json.loads(delivered.body)["type"] == "task_created"
    async with database.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT e.payload->'data'->>'task_id' AS task_id, e.dispatched_at,"
                    " d.status FROM outbox_events e JOIN webhook_deliveries d ON d.event_id = e.id"
                    " WHERE e.org_id = :o AND e.event_type = 'task_created'"
                ),
                {"o": org_id},
            )
        ).all()
    assert {row.task_id: row.status for row in rows} == {
        before.json()["id"]: "delivered",
        during.json()["id"]: "delivered",
    }
    assert all(row.dispatched_at is not None for row in rows)
    # The outage was real: the event dispatched during it never reached the stream.
    assert during.json()["id"] not in await streamed_task_ids(redis_url)


async def _contains(found: Awaitable[set[str]], item: str) -> bool:
    return item in await found
