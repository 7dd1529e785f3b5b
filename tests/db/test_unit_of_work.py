"""The unit of work commits only when asked; anything else leaves no trace."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from tests.support.factories import bearer, make_org, make_user


async def count_named(db: Database, name: str) -> int:
    async with UnitOfWork(db.session_factory) as uow:
        result = await uow.session.execute(
            text("SELECT count(*) FROM organizations WHERE name = :name"), {"name": name}
        )
        return int(result.scalar_one())


async def test_commit_keeps_the_change(db: Database) -> None:
    async with UnitOfWork(db.session_factory) as uow:
        await uow.session.execute(text("INSERT INTO organizations (name) VALUES ('Kept Air')"))
        await uow.commit()
    assert await count_named(db, "Kept Air") == 1


async def test_leaving_without_commit_rolls_back(db: Database) -> None:
    async with UnitOfWork(db.session_factory) as uow:
        await uow.session.execute(text("INSERT INTO organizations (name) VALUES ('Lost Air')"))
    assert await count_named(db, "Lost Air") == 0


async def test_an_exception_rolls_back(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with UnitOfWork(db.session_factory) as uow:
            await uow.session.execute(text("INSERT INTO organizations (name) VALUES ('Crash Air')"))
            raise RuntimeError("process died mid-use-case")
    assert await count_named(db, "Crash Air") == 0


async def test_session_outside_block_is_an_error(db: Database) -> None:
    uow = UnitOfWork(db.session_factory)
    with pytest.raises(RuntimeError, match="outside"):
        _ = uow.session


async def test_every_organization_gets_a_policy_with_defaults(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    """The product creates the policy row (SPEC §4): read what it wrote, nothing inserted here."""
    admin = await make_user(connection, await make_org(connection), "admin")
    created = await client.post(
        "/api/v1/organizations",
        json={"name": f"Policy Air {uuid.uuid4().hex[:8]}"},
        headers=bearer(app.state.signer, admin),
    )
    assert created.status_code == 201, created.text
    row = (
        (
            await connection.execute(
                text(
                    "SELECT retention_days, max_webhook_attempts, webhook_replay_window_seconds,"
                    " api_rate_limit_per_min, due_soon_days, due_soon_hours, due_soon_cycles,"
                    " default_daily_hours, default_daily_cycles"
                    " FROM org_policies WHERE org_id = :id"
                ),
                {"id": created.json()["id"]},
            )
        )
        .mappings()
        .one()
    )
    assert dict(row) == {
        "retention_days": 365,
        "max_webhook_attempts": 10,
        "webhook_replay_window_seconds": 300,
        "api_rate_limit_per_min": 600,
        "due_soon_days": 30,
        "due_soon_hours": 25,
        "due_soon_cycles": 25,
        "default_daily_hours": None,
        "default_daily_cycles": None,
    }
