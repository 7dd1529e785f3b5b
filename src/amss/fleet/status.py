"""The one writer of aircraft status (SPEC §6.6): the row, its audit row and its event.

Every status change goes through :func:`change_status` — a user setting it, work starting
or ending, the due scan grounding an aircraft — so the version bump, the organization
filter, the audit row and the ``aircraft_status_updated`` payload are the same whoever
asks. Set-based: the due scan grounds many aircraft in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from sqlalchemy import text

from amss.audit import journal
from amss.auth.rules import Caller
from amss.db.uow import UnitOfWork
from amss.events import catalogue

AircraftStatus = Literal["operational", "maintenance", "grounded"]


@dataclass(frozen=True)
class StatusChange:
    aircraft_id: UUID
    status: AircraftStatus
    reason: str
    task_id: UUID | None = None


# Rows already at the wanted status are left alone (no version bump, no audit row). The
# rows are locked first, so the old status returned is the one really replaced.
_CHANGE = text(
    """
    WITH wanted AS (
        SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]),
                             CAST(:reasons AS text[]), CAST(:task_ids AS uuid[]))
            AS w(id, status, reason, task_id)
    ),
    current AS (
        SELECT a.id, a.status AS old_status
        FROM aircraft a JOIN wanted w ON w.id = a.id
        WHERE a.org_id = :org_id AND a.deleted_at IS NULL
        ORDER BY a.id
        FOR UPDATE OF a
    )
    UPDATE aircraft a
    SET status = w.status, version = a.version + 1, updated_at = now()
    FROM wanted w JOIN current c ON c.id = w.id
    WHERE a.id = w.id AND a.org_id = :org_id AND c.old_status <> w.status
    RETURNING a.id, a.tail_number, a.version, c.old_status, a.status, w.reason, w.task_id
    """
)


async def change_status(
    uow: UnitOfWork, caller: Caller, changes: Sequence[StatusChange]
) -> list[UUID]:
    """Set each aircraft's status, with its audit row and event; returns the aircraft whose
    status really changed. Callers check the rules (a grounded aircraft with an overdue
    mandatory task stays grounded) before asking."""
    if not changes:
        return []
    rows = (
        await uow.session.execute(
            _CHANGE,
            {
                "org_id": caller.org_id,
                "ids": [change.aircraft_id for change in changes],
                "statuses": [change.status for change in changes],
                "reasons": [change.reason for change in changes],
                "task_ids": [change.task_id for change in changes],
            },
        )
    ).all()
    await journal.record_many(
        uow,
        caller,
        [
            journal.Entry(
                "aircraft",
                row.id,
                "state_change",
                {
                    "changes": {"status": {"old": row.old_status, "new": row.status}},
                    "reason": row.reason,
                    "task_id": row.task_id,
                },
                row.version,
                [
                    catalogue.aircraft_status_updated(
                        catalogue.AircraftStatusUpdated(
                            aircraft_id=row.id,
                            tail_number=row.tail_number,
                            old_status=row.old_status,
                            status=row.status,
                            reason=row.reason,
                            task_id=row.task_id,
                        ),
                        row.version,
                    )
                ],
            )
            for row in rows
        ],
    )
    return [row.id for row in rows]
