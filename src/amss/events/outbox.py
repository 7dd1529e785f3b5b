"""Appending business events to the outbox, inside the transaction of the change."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from amss.db.tables import outbox_events
from amss.events.queue import note_events
from amss.kit.jsonable import to_jsonable
from amss.kit.timefmt import rfc3339, utcnow

EVENT_TYPES = frozenset(
    {
        "task_created",
        "task_updated",
        "task_state_changed",
        "task_due_soon",
        "task_overdue",
        "program_task_generated",
        "part_reserved",
        "part_used",
        "part_released",
        "part_low_stock",
        "aircraft_status_updated",
        "compliance_signed",
        "import_completed",
        "webhook.test",
    }
)


@dataclass(frozen=True)
class Event:
    """A business event; ``dedupe_key`` is unique per organization (e.g. ``type:id:version``)."""

    type: str
    aggregate_type: str
    aggregate_id: UUID | None
    data: dict[str, Any]
    dedupe_key: str
    id: UUID = field(default_factory=uuid.uuid4)


async def append_event(
    session: AsyncSession, org_id: UUID, event: Event, *, dispatched: bool = False
) -> bool:
    """Write the event row; False when an event with the same dedupe key already exists.

    ``dispatched=True`` is for events whose deliveries the caller writes itself.
    """
    if event.type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event.type!r}")
    occurred_at = utcnow()
    payload = {
        "id": str(event.id),
        "type": event.type,
        "version": 1,
        "org_id": str(org_id),
        "occurred_at": rfc3339(occurred_at),
        "data": to_jsonable(event.data),
    }
    statement = (
        insert(outbox_events)
        .values(
            id=event.id,
            org_id=org_id,
            event_type=event.type,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            payload=payload,
            dedupe_key=event.dedupe_key,
            created_at=occurred_at,
            dispatched_at=occurred_at if dispatched else None,
        )
        .on_conflict_do_nothing(index_elements=["org_id", "dedupe_key"])
        .returning(outbox_events.c.id)
    )
    written = (await session.execute(statement)).first() is not None
    if written and not dispatched:
        note_events(session, org_id)
    return written
