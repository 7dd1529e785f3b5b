"""Keeping open tasks' limits true to their requirement: cancel what no longer applies,
re-limit what a changed interval moves. Set-based, with audit rows and events."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import Row

from amss.audit import journal
from amss.auth.rules import Caller
from amss.db.uow import UnitOfWork
from amss.due.sql import APPLIES
from amss.events import catalogue
from amss.kit.patching import diff

# Open scheduled program tasks whose pair no longer applies (program or aircraft deleted,
# applicability or model changed) are cancelled with the reason.
_CANCEL_INAPPLICABLE = text(
    f"""
    UPDATE maintenance_tasks t
    SET state = 'cancelled', cancel_reason = :reason, version = t.version + 1, updated_at = now()
    FROM maintenance_programs p, aircraft a
    WHERE t.org_id = :org_id AND t.program_id = p.id AND t.aircraft_id = a.id
      AND t.state = 'scheduled' AND t.deleted_at IS NULL
      AND (CAST(:program_ids AS uuid[]) IS NULL OR p.id = ANY(:program_ids))
      AND (CAST(:aircraft_ids AS uuid[]) IS NULL OR a.id = ANY(:aircraft_ids))
      AND (p.deleted_at IS NOT NULL OR a.deleted_at IS NOT NULL OR NOT {APPLIES})
    RETURNING t.id, t.aircraft_id, t.program_id, t.title, t.state, t.version
    """
)

# The limits of open scheduled program tasks, recomputed from their basis and their
# program's current interval and tolerances (a first task takes the program's baseline).
# Only tasks whose limits really move are written: after most changes, none.
_RELIMIT = text(
    """
    WITH rebased AS (
        SELECT t.id, t.due_at AS old_due_at, t.due_hours AS old_due_hours,
               t.due_cycles AS old_due_cycles,
               CASE WHEN first THEN coalesce(p.last_performed, t.basis_at) ELSE t.basis_at END AS basis_at,
               CASE WHEN first THEN coalesce(p.last_performed_hours, t.basis_hours) ELSE t.basis_hours END
                   AS basis_hours,
               CASE WHEN first THEN coalesce(p.last_performed_cycles, t.basis_cycles) ELSE t.basis_cycles END
                   AS basis_cycles,
               p.interval_hours, p.interval_cycles, p.interval_days, p.interval_months,
               p.tolerance_hours, p.tolerance_cycles, p.tolerance_days
        FROM maintenance_tasks t
        JOIN maintenance_programs p ON p.id = t.program_id
        CROSS JOIN LATERAL (
            SELECT NOT EXISTS (
                SELECT 1 FROM maintenance_tasks c
                WHERE c.program_id = t.program_id AND c.aircraft_id = t.aircraft_id
                  AND c.state = 'completed' AND c.deleted_at IS NULL) AS first
        ) f
        WHERE t.org_id = :org_id AND t.program_id IS NOT NULL AND t.state = 'scheduled'
          AND t.deleted_at IS NULL AND p.deleted_at IS NULL
          AND (CAST(:program_ids AS uuid[]) IS NULL OR t.program_id = ANY(:program_ids))
          AND (CAST(:aircraft_ids AS uuid[]) IS NULL OR t.aircraft_id = ANY(:aircraft_ids))
    ),
    limited AS (
        SELECT r.*,
               amss_calendar_due(r.basis_at, r.interval_days, r.interval_months) AS due_at,
               r.basis_hours + r.interval_hours AS due_hours,
               r.basis_cycles + r.interval_cycles AS due_cycles
        FROM rebased r
    )
    UPDATE maintenance_tasks t
    SET basis_at = l.basis_at, basis_hours = l.basis_hours, basis_cycles = l.basis_cycles,
        due_at = l.due_at, due_hours = l.due_hours, due_cycles = l.due_cycles,
        tolerance_hours = l.tolerance_hours, tolerance_cycles = l.tolerance_cycles,
        tolerance_days = l.tolerance_days,
        version = t.version + 1, updated_at = now()
    FROM limited l
    WHERE t.id = l.id
      AND (t.basis_at, t.basis_hours, t.basis_cycles, t.due_at, t.due_hours, t.due_cycles,
           t.tolerance_hours, t.tolerance_cycles, t.tolerance_days)
          IS DISTINCT FROM
          (l.basis_at, l.basis_hours, l.basis_cycles, l.due_at, l.due_hours, l.due_cycles,
           l.tolerance_hours, l.tolerance_cycles, l.tolerance_days)
    RETURNING t.id, t.aircraft_id, t.program_id, t.title, t.state, t.version,
              l.old_due_at, l.old_due_hours, l.old_due_cycles,
              t.due_at, t.due_hours, t.due_cycles
    """
)


async def cancel_inapplicable(
    uow: UnitOfWork,
    caller: Caller,
    reason: str,
    *,
    program_ids: Collection[UUID] | None,
    aircraft_ids: Collection[UUID] | None,
) -> list[Row[Any]]:
    """Cancel open scheduled tasks whose requirement no longer applies to their aircraft."""
    rows = (
        await uow.session.execute(
            _CANCEL_INAPPLICABLE,
            {
                "org_id": caller.org_id,
                "program_ids": list(program_ids) if program_ids is not None else None,
                "aircraft_ids": list(aircraft_ids) if aircraft_ids is not None else None,
                "reason": reason,
            },
        )
    ).all()
    await journal.record_many(
        uow,
        caller,
        [
            journal.Entry(
                "maintenance_task",
                row.id,
                "state_change",
                {"changes": {"state": {"old": "scheduled", "new": "cancelled"}}, "reason": reason},
                row.version,
                [catalogue.task_state_changed(row._mapping, old_state="scheduled", reason=reason)],
            )
            for row in rows
        ],
    )
    return list(rows)


async def relimit_tasks(
    uow: UnitOfWork,
    caller: Caller,
    reason: str,
    *,
    program_ids: Collection[UUID] | None,
    aircraft_ids: Collection[UUID] | None,
) -> list[UUID]:
    """Re-limit the open scheduled tasks of the scope; returns the tasks that moved."""
    rows = (
        await uow.session.execute(
            _RELIMIT,
            {
                "org_id": caller.org_id,
                "program_ids": list(program_ids) if program_ids is not None else None,
                "aircraft_ids": list(aircraft_ids) if aircraft_ids is not None else None,
            },
        )
    ).all()
    entries = []
    for row in rows:
        limits = ("due_at", "due_hours", "due_cycles")
        changes = diff(
            {name: getattr(row, f"old_{name}") for name in limits},
            {name: getattr(row, name) for name in limits},
        )
        entries.append(
            journal.Entry(
                "maintenance_task",
                row.id,
                "update",
                {"changes": changes, "reason": reason},
                row.version,
                [catalogue.task_updated(row._mapping, changes, reason)],
            )
        )
    await journal.record_many(uow, caller, entries)
    return [row.id for row in rows]
