"""Retention: what may be forgotten, and when. Audit rows are never deleted."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from amss.db.engine import Database
from amss.db.uow import UnitOfWork

_EXPIRED_IDEMPOTENCY_KEYS = text("DELETE FROM idempotency_keys WHERE expires_at < now()")

# Dispatched events past the organization's retention period.
_OLD_EVENTS = text(
    """
    DELETE FROM outbox_events e USING org_policies p
    WHERE e.org_id = p.org_id AND e.dispatched_at IS NOT NULL
      AND e.created_at < now() - make_interval(days => p.retention_days)
    """
)


@dataclass(frozen=True)
class RetentionResult:
    idempotency_keys: int
    events: int


async def purge(database: Database) -> RetentionResult:
    async with UnitOfWork(database.session_factory) as uow:
        keys = await uow.session.execute(_EXPIRED_IDEMPOTENCY_KEYS)
        events = await uow.session.execute(_OLD_EVENTS)
        await uow.commit()
    return RetentionResult(int(keys.rowcount or 0), int(events.rowcount or 0))  # type: ignore[attr-defined]
