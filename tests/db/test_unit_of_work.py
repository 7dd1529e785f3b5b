"""The unit of work commits only when asked; anything else leaves no trace."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from amss.db.engine import Database
from amss.db.uow import UnitOfWork


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


async def test_every_organization_gets_a_policy_with_defaults(db: Database) -> None:
    async with UnitOfWork(db.session_factory) as uow:
        org_id = (
            await uow.session.execute(
                text("INSERT INTO organizations (name) VALUES ('Policy Air') RETURNING id")
            )
        ).scalar_one()
        await uow.session.execute(
            text("INSERT INTO org_policies (org_id) VALUES (:id)"), {"id": org_id}
        )
        row = (
            await uow.session.execute(
                text(
                    "SELECT retention_days, max_webhook_attempts, api_rate_limit_per_min, "
                    "due_soon_days FROM org_policies WHERE org_id = :id"
                ),
                {"id": org_id},
            )
        ).one()
    assert tuple(row) == (365, 10, 600, 30)
