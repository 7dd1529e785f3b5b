"""Reads run outside a transaction; a read-only unit of work refuses to commit a change."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy import text

from amss.db.engine import Database
from amss.db.uow import UnitOfWork


async def _two_nows(uow: UnitOfWork) -> tuple[datetime, datetime]:
    first = await uow.session.scalar(text("SELECT now()"))
    await asyncio.sleep(0.01)
    second = await uow.session.scalar(text("SELECT now()"))
    assert first is not None and second is not None
    return first, second


async def test_a_read_runs_each_statement_on_its_own_a_change_in_one_transaction(
    database: Database,
) -> None:
    """now() is the start of the transaction: it moves between the statements of a read
    (no BEGIN, no ROLLBACK round trip) and stands still within a change."""
    async with UnitOfWork(database.read_session_factory, read_only=True) as uow:
        first, second = await _two_nows(uow)
        assert second > first
    async with UnitOfWork(database.session_factory) as uow:
        first, second = await _two_nows(uow)
        assert second == first


async def test_a_read_only_unit_of_work_cannot_commit(database: Database) -> None:
    async with UnitOfWork(database.read_session_factory, read_only=True) as uow:
        with pytest.raises(RuntimeError, match="only reads"):
            await uow.commit()


def test_a_read_route_that_writes_says_so() -> None:
    from amss.audit.router import export_audit_logs

    assert getattr(export_audit_logs, "amss_writes", False) is True
