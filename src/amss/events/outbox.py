"""Appending business events to the outbox, inside the transaction of the change."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from amss.db.tables import outbox_events
from amss.events.catalogue import CATALOGUE, Event
from amss.events.queue import note_events
from amss.kit.jsonable import to_jsonable
from amss.kit.timefmt import rfc3339, utcnow


async def append_events(
    session: AsyncSession, org_id: UUID, events: Sequence[Event], *, dispatched: bool = False
) -> int:
    """Write the event rows in one statement; returns how many were new (a dedupe key seen
    before writes nothing). ``dispatched=True``: the caller writes the deliveries itself."""
    if not events:
        return 0
    unknown = sorted({event.type for event in events} - CATALOGUE.keys())
    if unknown:
        raise ValueError(f"unknown event type(s) {unknown}")
    occurred_at = utcnow()
    rows = [
        {
            "id": event.id,
            "org_id": org_id,
            "event_type": event.type,
            "aggregate_type": event.aggregate_type,
            "aggregate_id": event.aggregate_id,
            "payload": {
                "id": str(event.id),
                "type": event.type,
                "version": 1,
                "org_id": str(org_id),
                "occurred_at": rfc3339(occurred_at),
                "data": to_jsonable(event.data),
            },
            "dedupe_key": event.dedupe_key,
            "created_at": occurred_at,
            "dispatched_at": occurred_at if dispatched else None,
        }
        for event in events
    ]
    statement = (
        insert(outbox_events)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["org_id", "dedupe_key"])
        .returning(outbox_events.c.id)
    )
    written = len((await session.execute(statement)).all())
    if written and not dispatched:
        note_events(session, org_id)
    return written
