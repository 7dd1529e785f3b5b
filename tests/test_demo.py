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
    assert roles == {user[0]: user[1] for user in DEMO_USERS}


async def test_demo_logins_work_without_org_id(
    db: Database, client: httpx.AsyncClient, app: FastAPI
) -> None:
    await seed_demo(db)
    for email, role, *_ in DEMO_USERS:
        response = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 200, (email, response.text)
        me = await client.get(
            "/api/v1/auth/me",
            headers={"Authorization": f"Bearer {response.json()['access_token']}"},
        )
        assert me.json()["role"] == role
        # More logins from one client IP than its 5/minute: give each a fresh window.
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
    # Only the lapsed annual grounds; the overdue oil change (not mandatory) is reported.
    statuses = dict(
        (
            await connection.execute(
                text("SELECT tail_number, status FROM aircraft WHERE org_id = :o"),
                {"o": result.org_id},
            )
        ).all()
    )
    assert {tail for tail, status in statuses.items() if status == "grounded"} == {"N172DE"}
    overdue = (
        await connection.execute(
            text(
                "SELECT a.tail_number, t.title, t.mandatory FROM maintenance_tasks t"
                " JOIN aircraft a ON a.id = t.aircraft_id"
                " WHERE t.org_id = :o AND t.due_status = 'overdue' ORDER BY a.tail_number"
            ),
            {"o": result.org_id},
        )
    ).all()
    assert [tuple(row) for row in overdue] == [
        ("N172DD", "Oil change", False),
        ("N172DE", "Annual inspection", True),
    ]
    assert statuses["N172DD"] == "operational"


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
    steps = (
        await connection.execute(
            text(
                "SELECT id, result, supersedes_id, certificate_number FROM compliance_items"
                " WHERE task_id = :t ORDER BY created_at"
            ),
            {"t": task.id},
        )
    ).all()
    # Every step signed under the mechanic's certificate; the finding and its rectification.
    assert [(step.result, step.certificate_number) for step in steps] == [
        ("pass", "3412877"),
        ("fail", "3412877"),
        ("pass", "3412877"),
    ]
    assert steps[2].supersedes_id == steps[1].id


async def _login(client: httpx.AsyncClient, app: FastAPI, email: str) -> dict[str, str]:
    app.state.rate_limiter = RateLimiter()
    response = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_the_demo_mechanic_completes_the_100_hour_in_progress(
    db: Database, client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    result = await seed_demo(db)
    task_id = await connection.scalar(
        text("SELECT id FROM maintenance_tasks WHERE org_id = :o AND state = 'in_progress'"),
        {"o": result.org_id},
    )
    mechanic = await _login(client, app, "mechanic@demo.local")
    done = await client.patch(
        f"/api/v1/maintenance-tasks/{task_id}/state",
        json={"new_state": "completed", "notes": "100-hour done; aileron cable re-tensioned"},
        headers=mechanic,
    )
    assert done.status_code == 200, done.text
    assert done.json()["certificate_number"] == "3412877"
    assert done.json()["record_entry"] is False


async def test_the_demo_annual_needs_the_inspector_and_does_the_100_hour(
    db: Database, client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    """N172DE's annual has lapsed: 14 CFR 65.95 lets only an IA holder sign it off."""
    result = await seed_demo(db)
    annual = (
        await connection.execute(
            text(
                "SELECT t.id, t.aircraft_id FROM maintenance_tasks t"
                " JOIN aircraft a ON a.id = t.aircraft_id"
                " JOIN maintenance_programs p ON p.id = t.program_id"
                " WHERE t.org_id = :o AND a.tail_number = 'N172DE'"
                " AND p.name = 'Annual inspection' AND t.state = 'scheduled'"
            ),
            {"o": result.org_id},
        )
    ).one()
    body = {"new_state": "completed", "notes": "Annual inspection performed; airworthy"}
    path = f"/api/v1/maintenance-tasks/{annual.id}/state"
    scheduler = await _login(client, app, "scheduler@demo.local")
    started = await client.patch(path, json={"new_state": "in_progress"}, headers=scheduler)
    assert started.status_code == 200, started.text
    refused = await client.patch(
        path, json=body, headers=await _login(client, app, "mechanic@demo.local")
    )
    assert refused.status_code == 403 and "IA" in refused.json()["error"]
    done = await client.patch(
        path, json=body, headers=await _login(client, app, "inspector@demo.local")
    )
    assert done.status_code == 200, done.text
    status = await connection.scalar(
        text("SELECT status FROM aircraft WHERE id = :a"), {"a": annual.aircraft_id}
    )
    assert status == "operational"
    hundred = (
        await connection.execute(
            text(
                "SELECT c.performed_hours, c.certificate_number, c.task_id FROM compliance_records c"
                " JOIN maintenance_programs p ON p.id = c.program_id"
                " WHERE c.aircraft_id = :a AND p.name = '100-hour inspection'"
                " ORDER BY c.performed_at DESC LIMIT 1"
            ),
            {"a": annual.aircraft_id},
        )
    ).one()
    assert hundred.task_id == annual.id
    assert hundred.certificate_number == "2984410"
    assert float(hundred.performed_hours) == float(done.json()["completed_hours"])
