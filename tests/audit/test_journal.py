"""The shared helper writes the audit row and the outbox event in the change's transaction."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.audit import journal
from amss.auth.rules import Caller
from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.events.catalogue import Event
from amss.kit.patching import diff
from tests.support.factories import make_org


def probe_event(aggregate_id: uuid.UUID, version: int) -> Event:
    return Event(
        type="task_updated",
        aggregate_type="task",
        aggregate_id=aggregate_id,
        data={"task_id": aggregate_id, "version": version},
        dedupe_key=f"task_updated:{aggregate_id}:{version}",
    )


async def counts(connection: AsyncConnection, org_id: uuid.UUID) -> tuple[int, int]:
    row = (
        await connection.execute(
            text(
                "SELECT (SELECT count(*) FROM audit_logs WHERE org_id = :o),"
                " (SELECT count(*) FROM outbox_events WHERE org_id = :o)"
            ),
            {"o": org_id},
        )
    ).one()
    return int(row[0]), int(row[1])


async def test_committed_change_has_its_audit_row_and_event(
    db: Database, connection: AsyncConnection
) -> None:
    org_id = await make_org(connection)
    entity = uuid.uuid4()
    async with UnitOfWork(db.session_factory) as uow:
        await journal.record(
            uow,
            Caller.system(org_id),
            entity_type="task",
            entity_id=entity,
            action="update",
            details={"changes": {"title": {"old": "a", "new": "b"}}},
            entity_version=2,
            events=[probe_event(entity, 2)],
        )
        await uow.commit()
    assert await counts(connection, org_id) == (1, 1)
    payload = (
        await connection.execute(
            text("SELECT payload FROM outbox_events WHERE org_id = :o"), {"o": org_id}
        )
    ).scalar_one()
    assert payload["type"] == "task_updated" and payload["version"] == 1
    assert payload["org_id"] == str(org_id) and payload["data"]["task_id"] == str(entity)
    assert payload["occurred_at"].endswith("Z")


async def test_rolled_back_change_leaves_neither(db: Database, connection: AsyncConnection) -> None:
    org_id = await make_org(connection)
    with pytest.raises(RuntimeError):
        async with UnitOfWork(db.session_factory) as uow:
            await journal.record(
                uow,
                Caller.system(org_id),
                entity_type="task",
                entity_id=uuid.uuid4(),
                action="update",
                events=[probe_event(uuid.uuid4(), 1)],
            )
            raise RuntimeError("the business change failed")
    assert await counts(connection, org_id) == (0, 0)


async def test_an_event_is_written_once_per_dedupe_key(
    db: Database, connection: AsyncConnection
) -> None:
    org_id = await make_org(connection)
    entity = uuid.uuid4()
    for _ in range(2):
        async with UnitOfWork(db.session_factory) as uow:
            await journal.record(
                uow,
                Caller.system(org_id),
                entity_type="task",
                entity_id=entity,
                action="update",
                events=[probe_event(entity, 7)],
            )
            await uow.commit()
    assert await counts(connection, org_id) == (2, 1)


def test_changes_lists_only_changed_fields_and_never_secrets() -> None:
    old = {"role": "viewer", "name": "A", "password_hash": "x"}
    new = {"role": "scheduler", "name": "A", "password_hash": "y"}
    assert diff(old, new) == {"role": {"old": "viewer", "new": "scheduler"}}
