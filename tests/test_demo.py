"""``amss seed``: the demo organization and its users, idempotent; demo logins work."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from amss.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo
from amss.kit.ratelimit import RateLimiter


async def test_seeding_twice_changes_nothing(db: Database, connection: AsyncConnection) -> None:
    first = await seed_demo(db)
    assert first.created_organization and first.created_users == len(DEMO_USERS)
    audit_rows = (
        await connection.execute(
            text("SELECT count(*) FROM audit_logs WHERE org_id = :o"), {"o": first.org_id}
        )
    ).scalar_one()
    second = await seed_demo(db)
    assert second.org_id == first.org_id
    assert not second.created_organization and second.created_users == 0
    again = (
        await connection.execute(
            text("SELECT count(*) FROM audit_logs WHERE org_id = :o"), {"o": first.org_id}
        )
    ).scalar_one()
    assert again == audit_rows == 1 + len(DEMO_USERS)
    roles = dict(
        (
            await connection.execute(
                text("SELECT email, role FROM users WHERE org_id = :o"), {"o": first.org_id}
            )
        ).all()
    )
    assert roles == {email: role for email, role, _ in DEMO_USERS}


async def test_demo_logins_work_without_org_id(
    db: Database, client: httpx.AsyncClient, app: FastAPI
) -> None:
    await seed_demo(db)
    for email, role, _ in DEMO_USERS:
        response = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 200, (email, response.text)
        me = await client.get(
            "/api/v1/auth/me",
            headers={"Authorization": f"Bearer {response.json()['access_token']}"},
        )
        assert me.json()["role"] == role
        # Six logins from one client IP exceed its 5/minute: give each a fresh window.
        app.state.rate_limiter = RateLimiter()
