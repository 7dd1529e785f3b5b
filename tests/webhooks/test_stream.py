"""Events on the Redis stream when Redis is configured; a Redis outage is only logged."""

from __future__ import annotations

import json
import uuid

import pytest
from redis.asyncio import Redis

from amss.events.stream import EVENTS_STREAM, StreamPublisher


async def test_events_are_appended_to_the_stream(redis_url: str | None) -> None:
    if redis_url is None:
        pytest.skip("AMSS_TEST_REDIS_URL is not set")
    marker = str(uuid.uuid4())
    publisher = StreamPublisher(redis_url)
    await publisher.publish(EVENTS_STREAM, [{"id": marker, "type": "task_updated"}])
    await publisher.close()
    redis = Redis.from_url(redis_url)
    try:
        entries = await redis.xrevrange(EVENTS_STREAM, count=50)
    finally:
        await redis.aclose()
    assert any(json.loads(fields[b"event"])["id"] == marker for _, fields in entries)


async def test_a_redis_outage_never_raises() -> None:
    publisher = StreamPublisher("redis://127.0.0.1:1/0")
    await publisher.publish(EVENTS_STREAM, [{"id": "x"}])
    await publisher.close()
