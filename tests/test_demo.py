"""``amss seed``: the demo organization and its users, idempotent; demo logins work."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from amss.demo import DEMO_FLEET, DEMO_PASSWORD, DEMO_USERS, seed_demo
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
    assert again == audit_rows
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


async def test_the_demo_fleet_has_a_living_due_list(
    db: Database, connection: AsyncConnection
) -> None:
    result = await seed_demo(db)
    assert result.created_aircraft == len(DEMO_FLEET) == 12
    rows = (
        await connection.execute(
            text(
                "SELECT a.model, count(DISTINCT a.id) AS craft, count(t.id) AS tasks,"
                " count(DISTINCT t.governing_limit) AS kinds"
                " FROM aircraft a JOIN maintenance_tasks t ON t.aircraft_id = a.id"
                " AND t.state = 'scheduled' WHERE a.org_id = :o GROUP BY a.model ORDER BY a.model"
            ),
            {"o": result.org_id},
        )
    ).all()
    assert [(row.model, row.craft) for row in rows] == [("A320", 4), ("C172S", 5), ("DA42", 3)]
    governing = set(
        (
            await connection.execute(
                text("SELECT DISTINCT governing_limit FROM maintenance_tasks WHERE org_id = :o"),
                {"o": result.org_id},
            )
        ).scalars()
    )
    assert governing == {"hours", "cycles", "calendar"}
    entries = await connection.scalar(
        text("SELECT count(*) FROM utilization_entries WHERE org_id = :o"), {"o": result.org_id}
    )
    assert entries == 12 * 90 + 12  # 90 days of flying and the initial entry of each
    rates = (
        await connection.execute(
            text("SELECT count(*) FROM aircraft WHERE org_id = :o AND observed_daily_hours > 0"),
            {"o": result.org_id},
        )
    ).scalar_one()
    assert rates == 12


async def test_the_demo_has_stock_and_work_in_progress(
    db: Database, connection: AsyncConnection
) -> None:
    result = await seed_demo(db)
    low = (
        (
            await connection.execute(
                text("SELECT name FROM part_definitions WHERE org_id = :o AND low_stock_alerted"),
                {"o": result.org_id},
            )
        )
        .scalars()
        .all()
    )
    assert low == ["Spark plug"]
    task = (
        await connection.execute(
            text(
                "SELECT t.id, a.tail_number, a.status FROM maintenance_tasks t"
                " JOIN aircraft a ON a.id = t.aircraft_id"
                " WHERE t.org_id = :o AND t.state = 'in_progress'"
            ),
            {"o": result.org_id},
        )
    ).one()
    assert (task.tail_number, task.status) == ("N172DC", "maintenance")
    reserved = await connection.scalar(
        text("SELECT count(*) FROM part_reservations WHERE task_id = :t AND state = 'reserved'"),
        {"t": task.id},
    )
    assert reserved == 11  # 1 oil filter, 4 spark plugs, 6 quarts of oil
    signed = (
        (
            await connection.execute(
                text(
                    "SELECT sign_off_time IS NOT NULL FROM compliance_items"
                    " WHERE task_id = :t ORDER BY created_at"
                ),
                {"t": task.id},
            )
        )
        .scalars()
        .all()
    )
    assert signed == [True, False]
