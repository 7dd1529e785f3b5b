"""The due-status scan: record each open task's due status, tell once per change, ground.

Runs for one aircraft when its meters change, and periodically for everything (calendar
limits pass with time alone). ``task_due_soon`` / ``task_overdue`` are emitted once per
task per status change; an aircraft with an overdue task is grounded (SPEC §6.6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text

from amss.audit import journal
from amss.auth.rules import Caller
from amss.db.uow import UnitOfWork
from amss.events.outbox import Event, append_event
from amss.kit.jsonable import to_jsonable
from amss.programs import rules
from amss.programs.forecast import due_status_sql

# Only the open tasks whose status moved since the last scan: set-based, cheap when idle.
_CHANGED_TASKS = text(
    f"""
    SELECT t.id, t.org_id, t.aircraft_id, t.title, t.due_status, {due_status_sql()} AS live_status,
           t.due_at, t.due_hours,
           t.due_cycles, t.tolerance_hours, t.tolerance_cycles, t.tolerance_days,
           t.projected_due_at, a.tail_number, a.flight_hours_total, a.cycles_total,
           a.status AS aircraft_status, pol.due_soon_days, pol.due_soon_hours, pol.due_soon_cycles
    FROM maintenance_tasks t
    JOIN aircraft a ON a.org_id = t.org_id AND a.id = t.aircraft_id AND a.deleted_at IS NULL
    JOIN org_policies pol ON pol.org_id = t.org_id
    WHERE t.state IN ('scheduled', 'in_progress') AND t.deleted_at IS NULL
      AND (CAST(:org_id AS uuid) IS NULL OR t.org_id = :org_id)
      AND (CAST(:aircraft_ids AS uuid[]) IS NULL OR t.aircraft_id = ANY(:aircraft_ids))
      AND {due_status_sql()} <> t.due_status
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

_GROUND = text(
    """
    UPDATE aircraft SET status = 'grounded', version = version + 1, updated_at = now()
    WHERE org_id = :org_id AND id = :aircraft_id AND status <> 'grounded' AND deleted_at IS NULL
    RETURNING version, status
    """
)


@dataclass
class ScanResult:
    changed: int = 0
    grounded: list[UUID] = field(default_factory=list)


def limits_of(row: Any) -> rules.Limits:
    return rules.Limits(due_at=row.due_at, due_hours=row.due_hours, due_cycles=row.due_cycles)


def _event_data(row: Any, status: str, now: datetime) -> dict[str, Any]:
    left = rules.remaining(
        limits_of(row), rules.Meters(row.flight_hours_total, row.cycles_total), now
    )
    return {
        "task_id": row.id,
        "title": row.title,
        "aircraft_id": row.aircraft_id,
        "tail_number": row.tail_number,
        "due_status": status,
        "due_at": row.due_at,
        "due_hours": row.due_hours,
        "due_cycles": row.due_cycles,
        "remaining_hours": left.hours,
        "remaining_cycles": left.cycles,
        "remaining_days": round(left.days, 2) if left.days is not None else None,
        "projected_due_at": row.projected_due_at,
    }


async def scan_due_status(
    uow: UnitOfWork,
    *,
    now: datetime,
    caller: Caller | None = None,
    org_id: UUID | None = None,
    aircraft_ids: Sequence[UUID] | None = None,
) -> ScanResult:
    session = uow.session
    rows = (
        await session.execute(
            _CHANGED_TASKS,
            {
                "now": now,
                "org_id": org_id,
                "aircraft_ids": list(aircraft_ids) if aircraft_ids is not None else None,
            },
        )
    ).all()
    result = ScanResult()
    ids: list[UUID] = []
    statuses: list[str] = []
    overdue_by_aircraft: dict[UUID, Any] = {}
    for row in rows:
        status = row.live_status
        if status == "overdue":
            overdue_by_aircraft.setdefault(row.aircraft_id, row)
        ids.append(row.id)
        statuses.append(status)
        if status in ("due_soon", "overdue"):
            event_type = f"task_{status}"
            limits_key = f"{to_jsonable(row.due_at)}|{row.due_hours}|{row.due_cycles}"
            await append_event(
                session,
                row.org_id,
                Event(
                    type=event_type,
                    aggregate_type="maintenance_task",
                    aggregate_id=row.id,
                    data=_event_data(row, status, now),
                    dedupe_key=f"{event_type}:{row.id}:{limits_key}",
                ),
            )
    if ids:
        await session.execute(_SET_STATUS, {"ids": ids, "statuses": statuses})
        result.changed = len(ids)
    for aircraft_id, row in overdue_by_aircraft.items():
        if row.aircraft_status == "grounded":
            continue
        grounded = (
            await session.execute(_GROUND, {"org_id": row.org_id, "aircraft_id": aircraft_id})
        ).first()
        if grounded is None:
            continue
        actor = caller.acting_in(row.org_id) if caller else Caller.system(row.org_id)
        reason = f"task {row.title!r} ({row.id}) is overdue"
        await journal.record(
            uow,
            actor,
            entity_type="aircraft",
            entity_id=aircraft_id,
            action="state_change",
            details={
                "changes": {"status": {"old": row.aircraft_status, "new": "grounded"}},
                "reason": reason,
            },
            entity_version=grounded.version,
            events=[
                Event(
                    type="aircraft_status_updated",
                    aggregate_type="aircraft",
                    aggregate_id=aircraft_id,
                    data={
                        "aircraft_id": aircraft_id,
                        "tail_number": row.tail_number,
                        "old_status": row.aircraft_status,
                        "status": "grounded",
                        "reason": reason,
                        "task_id": row.id,
                    },
                    dedupe_key=f"aircraft_status_updated:{aircraft_id}:{grounded.version}",
                )
            ],
        )
        result.grounded.append(aircraft_id)
    return result
