"""Request rate limits with the ``limits`` library: Redis when configured, memory otherwise.

Redis trouble never fails a request: the limiter falls back to in-process counting for a
short while (metric and warning), then tries Redis again.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from prometheus_client import Counter

from amss.kit.logging import get_logger

_log = get_logger(__name__)

rate_limit_rejections_total = Counter(
    "amss_rate_limit_rejections_total", "Requests refused with 429.", ["scope"]
)
rate_limit_fallbacks_total = Counter(
    "amss_rate_limit_fallbacks_total", "Rate-limit checks counted in memory because Redis failed."
)

REDIS_RETRY_AFTER_SECONDS = 5.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # unix seconds when the window frees up

    @property
    def reset_after(self) -> int:
        return max(0, math.ceil(self.reset_at - time.time()))

    def headers(self) -> dict[str, str]:
        reset_after = str(self.reset_after)
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": reset_after,
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_after))
        return headers


class RateLimiter:
    """Sliding-window limits keyed by a string (organization, client IP, email, …).

    The sliding window counter keeps two counters a key (this window and the last, weighted
    by how much of it still overlaps), so a hit costs the same at 600 or 1,000,000 a
    minute; a moving window keeps one entry a request and slows down as limits grow.
    """

    def __init__(self, redis_url: str | None = None) -> None:
        self._memory = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._redis: SlidingWindowCounterRateLimiter | None = None
        self._redis_storage: Storage | None = None
        if redis_url:
            self._redis_storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
                key_prefix="amss-rl",
            )
            self._redis = SlidingWindowCounterRateLimiter(self._redis_storage)
        self._redis_down_until = 0.0

    @property
    def uses_redis(self) -> bool:
        return self._redis is not None

    async def hit(self, key: str, limit: int, *, per_seconds: int = 60) -> Decision:
        item = (
            RateLimitItemPerMinute(limit)
            if per_seconds == 60
            else RateLimitItemPerSecond(limit, per_seconds)
        )
        strategy = self._memory
        if self._redis is not None and time.monotonic() >= self._redis_down_until:
            strategy = self._redis
        try:
            return await self._hit(strategy, item, key)
        except Exception as error:
            if strategy is self._memory:
                raise
            self._redis_down_until = time.monotonic() + REDIS_RETRY_AFTER_SECONDS
            rate_limit_fallbacks_total.inc()
            _log.warning(
                "rate limiting falls back to memory: Redis failed", error=type(error).__name__
            )
            return await self._hit(self._memory, item, key)

    @staticmethod
    async def _hit(
        strategy: SlidingWindowCounterRateLimiter,
        item: RateLimitItemPerMinute | RateLimitItemPerSecond,
        key: str,
    ) -> Decision:
        allowed = await strategy.hit(item, key)
        stats = await strategy.get_window_stats(item, key)
        return Decision(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_at=stats.reset_time,
        )
