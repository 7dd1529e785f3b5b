"""Events appended to Redis streams for other consumers: best effort, never blocking."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from amss.kit.logging import get_logger

EVENTS_STREAM = "amss.events"
DEAD_LETTER_STREAM = "amss.dlq"
MAX_STREAM_LENGTH = 100_000

_log = get_logger(__name__)


class StreamPublisher:
    """XADDs payloads when Redis is configured; an outage is logged, never raised."""

    def __init__(self, redis_url: str | None) -> None:
        self._redis = (
            Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
            if redis_url
            else None
        )

    async def publish(self, stream: str, payloads: Iterable[dict[str, Any]]) -> None:
        if self._redis is None:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for payload in payloads:
                    pipe.xadd(
                        stream,
                        {"event": json.dumps(payload)},
                        maxlen=MAX_STREAM_LENGTH,
                        approximate=True,
                    )
                await pipe.execute()
        except Exception as error:
            _log.warning(
                "Redis stream append failed; delivery is unaffected",
                stream=stream,
                error=type(error).__name__,
            )

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
