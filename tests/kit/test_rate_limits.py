"""Per-organization rate limits (SPEC §7.5): memory or Redis, never a 500 because of Redis."""

from __future__ import annotations

import time
import uuid

import httpx
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.app import create_app
from amss.config import Settings
from amss.db.engine import Database
from amss.kit.ratelimit import RateLimiter
from tests.conftest import redis_behind_proxy, serve_app
from tests.support.factories import bearer, make_org, make_user


async def test_the_sixth_request_of_a_five_per_minute_policy_is_429(
    client: httpx.AsyncClient, connection: AsyncConnection, app: object
) -> None:
    org_id = await make_org(connection, api_rate_limit_per_min=5)
    headers = bearer(app.state.signer, await make_user(connection, org_id, "viewer"))  # type: ignore[attr-defined]
    sent_from = int(time.time())
    responses = [await client.get("/api/v1/organizations", headers=headers) for _ in range(6)]
    sent_until = time.time()
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    for number, response in enumerate(responses[:5]):
        assert response.headers["ratelimit-limit"] == "5"
        assert response.headers["ratelimit-remaining"] == str(4 - number)
        assert response.headers["x-ratelimit-remaining"] == str(4 - number)
        assert 0 <= int(response.headers["ratelimit-reset"]) <= 60
        # A unix time when the window frees up: within a minute of the requests.
        assert sent_from <= int(response.headers["x-ratelimit-reset"]) <= sent_until + 61
    refused = responses[5]
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"


async def test_each_organization_has_its_own_budget(
    client: httpx.AsyncClient, connection: AsyncConnection, app: object
) -> None:
    busy = bearer(
        app.state.signer,
        await make_user(connection, await make_org(connection, api_rate_limit_per_min=1), "viewer"),
    )  # type: ignore[attr-defined]
    calm = bearer(
        app.state.signer,
        await make_user(connection, await make_org(connection, api_rate_limit_per_min=1), "viewer"),
    )  # type: ignore[attr-defined]
    assert (await client.get("/api/v1/organizations", headers=busy)).status_code == 200
    assert (await client.get("/api/v1/organizations", headers=busy)).status_code == 429
    assert (await client.get("/api/v1/organizations", headers=calm)).status_code == 200


async def test_auth_routes_are_outside_the_api_limit(
    client: httpx.AsyncClient, connection: AsyncConnection, app: object
) -> None:
    org_id = await make_org(connection, api_rate_limit_per_min=1)
    headers = bearer(app.state.signer, await make_user(connection, org_id, "viewer"))  # type: ignore[attr-defined]
    for _ in range(3):
        assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200


async def test_replicas_share_limits_through_redis(
    settings: Settings, db: Database, connection: AsyncConnection, redis_url: str
) -> None:
    with_redis = settings.model_copy(update={"redis_url_raw": redis_url})
    org_id = await make_org(connection, api_rate_limit_per_min=3)
    user = await make_user(connection, org_id, "viewer")
    first, second = create_app(with_redis, db), create_app(with_redis, db)
    assert first.state.rate_limiter.uses_redis
    headers = bearer(first.state.signer, user)
    async with serve_app(first) as one, serve_app(second) as two:
        statuses = [
            (
                await (one if n % 2 else two).get("/api/v1/organizations", headers=headers)
            ).status_code
            for n in range(4)
        ]
    assert statuses == [200, 200, 200, 429]


async def rate_limit_keys(redis_url: str, org_id: uuid.UUID) -> list[bytes]:
    """The keys the limiter keeps in Redis for this organization's budget."""
    redis = Redis.from_url(redis_url)
    try:
        return [key async for key in redis.scan_iter(match=f"*org:{org_id}*")]
    finally:
        await redis.aclose()


def fallbacks() -> float:
    return REGISTRY.get_sample_value("amss_rate_limit_fallbacks_total") or 0.0


async def test_requests_still_succeed_and_stay_limited_when_redis_stops_mid_test(
    settings: Settings, db: Database, connection: AsyncConnection, redis_url: str
) -> None:
    org_id = await make_org(connection, api_rate_limit_per_min=3)
    user = await make_user(connection, org_id, "viewer")
    async with redis_behind_proxy(redis_url) as (proxy, proxied_url):
        app = create_app(settings.model_copy(update={"redis_url_raw": proxied_url}), db)
        headers = bearer(app.state.signer, user)
        async with serve_app(app) as http:
            before = await http.get("/api/v1/organizations", headers=headers)
            assert before.status_code == 200, before.text
            assert before.headers["ratelimit-remaining"] == "2"
            # Redis was in use: the hit was counted there, under this organization's key.
            assert await rate_limit_keys(redis_url, org_id)
            assert (await http.get("/ready")).json()["checks"]["redis"] == "ok"
            fallbacks_before = fallbacks()

            await proxy.cut()  # Redis is gone for AMSS (the shared server stays up)
            during = [await http.get("/api/v1/organizations", headers=headers) for _ in range(4)]
            ready = await http.get("/ready")
    # Served, never a 500: counted in process from the outage on, and still limited there.
    assert [r.status_code for r in during] == [200, 200, 200, 429], [r.text for r in during]
    assert [r.headers["ratelimit-remaining"] for r in during] == ["2", "1", "0", "0"]
    assert [org["id"] for org in during[0].json()] == [str(org_id)]
    assert during[3].json()["code"] == "rate_limited" and int(during[3].headers["retry-after"]) >= 1
    assert fallbacks() > fallbacks_before  # the metric records the fallback
    assert ready.status_code == 503 and ready.json()["details"][0]["field"] == "redis"


async def test_memory_limiter_counts_per_key() -> None:
    limiter = RateLimiter()
    key = f"probe:{uuid.uuid4()}"
    decisions = [await limiter.hit(key, 2) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[2].headers()["Retry-After"]
