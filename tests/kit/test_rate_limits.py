"""Per-organization rate limits (SPEC §7.5): memory or Redis, never a 500 because of Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.app import create_app
from amss.config import Settings
from amss.db.engine import Database
from amss.kit.ratelimit import RateLimiter
from tests.conftest import serve_app
from tests.factories import bearer, make_org, make_user


async def test_the_sixth_request_of_a_five_per_minute_policy_is_429(
    client: httpx.AsyncClient, connection: AsyncConnection, app: object
) -> None:
    org_id = await make_org(connection, api_rate_limit_per_min=5)
    headers = bearer(app.state.signer, await make_user(connection, org_id, "viewer"))  # type: ignore[attr-defined]
    responses = [await client.get("/api/v1/organizations", headers=headers) for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    for number, response in enumerate(responses[:5]):
        assert response.headers["ratelimit-limit"] == "5"
        assert response.headers["ratelimit-remaining"] == str(4 - number)
        assert response.headers["x-ratelimit-remaining"] == str(4 - number)
        assert 0 <= int(response.headers["ratelimit-reset"]) <= 60
        assert int(response.headers["x-ratelimit-reset"]) > time.time() - 1
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
    settings: Settings, db: Database, connection: AsyncConnection, redis_url: str | None
) -> None:
    if redis_url is None:
        pytest.skip("AMSS_TEST_REDIS_URL is not set")
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.kill()
        process.wait()


async def test_requests_still_succeed_when_redis_stops_mid_test(
    settings: Settings,
    db: Database,
    connection: AsyncConnection,
    private_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, redis_process = private_redis
    org_id = await make_org(connection, api_rate_limit_per_min=100)
    user = await make_user(connection, org_id, "viewer")
    app = create_app(settings.model_copy(update={"redis_url_raw": url}), db)
    headers = bearer(app.state.signer, user)
    async with serve_app(app) as http:
        before = await http.get("/api/v1/organizations", headers=headers)
        assert before.status_code == 200
        assert before.headers["ratelimit-remaining"] == "99"
        redis_process.kill()
        redis_process.wait()
        after = [await http.get("/api/v1/organizations", headers=headers) for _ in range(3)]
        ready = await http.get("/ready")
    assert [r.status_code for r in after] == [200, 200, 200]
    assert all("ratelimit-limit" in r.headers for r in after)
    assert ready.status_code == 503 and ready.json()["details"][0]["field"] == "redis"


async def test_memory_limiter_counts_per_key() -> None:
    limiter = RateLimiter()
    key = f"probe:{uuid.uuid4()}"
    decisions = [await limiter.hit(key, 2) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[2].headers()["Retry-After"]
