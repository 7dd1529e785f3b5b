"""The due-status scan: record each open task's due status, tell once per change, ground.

Calendar limits pass with time alone, meters move with utilization: the scan compares each
open task's live due status with the one last acted on, writes the changes, emits
``task_due_soon`` / ``task_overdue`` once per task per change, and grounds aircraft with a
overdue mandatory task (SPEC §6.6) through the fleet's one status writer.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text

from amss.audit import journal
from amss.auth.rules import Caller
from amss.db.uow import UnitOfWork
from amss.due import rules
from amss.due.sql import OPEN_STATES, due_status
from amss.events import catalogue
from amss.fleet.status import StatusChange, change_status

# The open tasks whose status moved since the last scan, and the overdue mandatory tasks of
# aircraft not grounded yet (a requirement made mandatory after it became overdue): set-based,
# cheap when idle. The aircraft are locked before their tasks (docs/decisions.md).
_CHANGED_TASKS = text(
    f"""
    SELECT t.id, t.aircraft_id, t.title, t.due_status, t.mandatory, s.live_status,
           t.due_at, t.due_hours, t.due_cycles, t.projected_due_at,
           a.tail_number, a.flight_hours_total, a.cycles_total, a.status AS aircraft_status
    FROM maintenance_tasks t
    JOIN aircraft a ON a.org_id = t.org_id AND a.id = t.aircraft_id AND a.deleted_at IS NULL
    JOIN org_policies pol ON pol.org_id = t.org_id
    CROSS JOIN LATERAL (SELECT {due_status()} AS live_status) s
    WHERE t.org_id = :org_id AND t.state IN {OPEN_STATES} AND t.deleted_at IS NULL
      AND (CAST(:aircraft_ids AS uuid[]) IS NULL OR t.aircraft_id = ANY(:aircraft_ids))
      AND (s.live_status <> t.due_status
           OR (t.mandatory AND s.live_status = 'overdue' AND a.status <> 'grounded'))
    ORDER BY t.aircraft_id, t.projected_due_at NULLS LAST
    FOR UPDATE OF t
    """
)

_SET_STATUS = text(
    """
    UPDATE maintenance_tasks t SET due_status = v.status
    FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[])) AS v(id, status)
    WHERE t.id = v.id
    """
)


@dataclass
class ScanResult:
    changed: int = 0
    grounded: list[UUID] = field(default_factory=list)


def _announcement(row: Any, status: str, now: datetime) -> catalogue.TaskDueStatus:
    left = rules.remaining(
        rules.Limits(due_at=row.due_at, due_hours=row.due_hours, due_cycles=row.due_cycles),
        rules.Meters(row.flight_hours_total, row.cycles_total),
        now,
    )
    return catalogue.TaskDueStatus(
        task_id=row.id,
        title=row.title,
        aircraft_id=row.aircraft_id,
        tail_number=row.tail_number,
        due_status=status,
        due_at=row.due_at,
        due_hours=row.due_hours,
        due_cycles=row.due_cycles,
        remaining_hours=left.hours,
        remaining_cycles=left.cycles,
        remaining_days=round(left.days, 2) if left.days is not None else None,
        projected_due_at=row.projected_due_at,
    )


async def scan_due_status(
    uow: UnitOfWork, caller: Caller, *, now: datetime, aircraft_ids: Collection[UUID] | None
) -> ScanResult:
    """Scan the open tasks of these aircraft of the caller's organization (None: all)."""
    found = (
        await uow.session.execute(
            _CHANGED_TASKS,
            {
                "now": now,
                "org_id": caller.org_id,
                "aircraft_ids": list(aircraft_ids) if aircraft_ids is not None else None,
            },
        )
    ).all()
    if not found:
        return ScanResult()
    rows = [row for row in found if row.live_status != row.due_status]
    if rows:
        await uow.session.execute(
            _SET_STATUS,
            {"ids": [row.id for row in rows], "statuses": [r.live_status for r in rows]},
        )
    await journal.announce(
        uow,
        caller,
        [
            catalogue.task_due_status(_announcement(row, row.live_status, now))
            for row in rows
            if row.live_status in ("due_soon", "overdue")
        ],
    )
    # Only an overdue mandatory requirement makes an aircraft unairworthy (SPEC §6.6); a
    # non-mandatory one (a wash, a cabin refresh) reports overdue and flies on.
    first_overdue: dict[UUID, Any] = {}
    for row in found:
        if row.mandatory and row.live_status == "overdue" and row.aircraft_status != "grounded":
            first_overdue.setdefault(row.aircraft_id, row)
    grounded = await change_status(
        uow,
        caller,
        [
            StatusChange(
                aircraft_id, "grounded", f"task {row.title!r} ({row.id}) is overdue", row.id
            )
            for aircraft_id, row in first_overdue.items()
        ],
    )
    return ScanResult(changed=len(rows), grounded=grounded)
