"""Keeping open tasks' limits true to their requirement: re-limit (re-base) them from the
newest last-done record and the current interval, cancel what no longer applies.
Set-based, with audit rows and events."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import Row

from amss.audit import journal
from amss.auth.rules import Caller
from amss.db.uow import UnitOfWork
from amss.due.sql import APPLIES, NEWEST_RECORDS, calendar_due
from amss.events import catalogue
from amss.fleet.repository import meter_at
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

_RECORD_DAY = "(n.basis_at AT TIME ZONE pol.time_zone)::date"

_LIMITS_MOVE = (
    "(t.due_at, t.due_hours, t.due_cycles) IS DISTINCT FROM (l.due_at, l.due_hours, l.due_cycles)"
)

# The limits of open scheduled program tasks, recomputed from their baseline — the pair's
# newest last-done record, else the task's own basis (assumed, or a cancelled task's) — and
# their program's current interval, tolerances, mandatory flag and the organization's time
# zone. Only tasks whose basis or limits really move are written: after most changes, none.
_RELIMIT = text(
    f"""
    WITH target AS (
        SELECT t.id, t.due_at AS old_due_at, t.due_hours AS old_due_hours,
               t.due_cycles AS old_due_cycles, t.basis_at AS old_basis_at,
               t.basis_hours AS old_basis_hours, t.basis_cycles AS old_basis_cycles,
               t.basis_source AS old_basis_source,
               coalesce(n.basis_at, t.basis_at) AS basis_at,
               CASE WHEN n.basis_at IS NULL THEN t.basis_hours
                    ELSE coalesce(n.basis_hours, CASE WHEN p.interval_hours IS NOT NULL
                                  THEN {meter_at("hours", "t.aircraft_id", _RECORD_DAY)} END)
               END AS basis_hours,
               CASE WHEN n.basis_at IS NULL THEN t.basis_cycles
                    ELSE coalesce(n.basis_cycles, CASE WHEN p.interval_cycles IS NOT NULL
                                  THEN {meter_at("cycles", "t.aircraft_id", _RECORD_DAY)} END)
               END AS basis_cycles,
               coalesce(n.basis_source, t.basis_source) AS basis_source,
               p.interval_hours, p.interval_cycles, p.interval_days, p.interval_months,
               p.tolerance_hours, p.tolerance_cycles, p.tolerance_days, p.mandatory,
               pol.time_zone
        FROM maintenance_tasks t
        JOIN maintenance_programs p ON p.org_id = t.org_id AND p.id = t.program_id
        JOIN org_policies pol ON pol.org_id = t.org_id
        LEFT JOIN ({NEWEST_RECORDS}) n
               ON n.program_id = t.program_id AND n.aircraft_id = t.aircraft_id
        WHERE t.org_id = :org_id AND t.program_id IS NOT NULL AND t.state = 'scheduled'
          AND t.deleted_at IS NULL AND p.deleted_at IS NULL
          AND (CAST(:program_ids AS uuid[]) IS NULL OR t.program_id = ANY(:program_ids))
          AND (CAST(:aircraft_ids AS uuid[]) IS NULL OR t.aircraft_id = ANY(:aircraft_ids))
    ),
    limited AS (
        SELECT target.*,
               {calendar_due("basis_at", "interval_days", "interval_months", "time_zone")} AS due_at,
               basis_hours + interval_hours AS due_hours,
               basis_cycles + interval_cycles AS due_cycles
        FROM target
    )
    UPDATE maintenance_tasks t
    SET basis_at = l.basis_at, basis_hours = l.basis_hours, basis_cycles = l.basis_cycles,
        basis_source = l.basis_source,
        due_at = l.due_at, due_hours = l.due_hours, due_cycles = l.due_cycles,
        tolerance_hours = l.tolerance_hours, tolerance_cycles = l.tolerance_cycles,
        tolerance_days = l.tolerance_days, mandatory = l.mandatory,
        -- Limits that move take the planned window with them: cleared here, planned again
        -- from the new projection by the re-projection that follows (forecast.py).
        start_time = CASE WHEN {_LIMITS_MOVE} THEN NULL ELSE t.start_time END,
        end_time = CASE WHEN {_LIMITS_MOVE} THEN NULL ELSE t.end_time END,
        version = t.version + 1, updated_at = now()
    FROM limited l
    WHERE t.id = l.id
      AND (t.basis_at, t.basis_hours, t.basis_cycles, t.basis_source, t.due_at, t.due_hours,
           t.due_cycles, t.tolerance_hours, t.tolerance_cycles, t.tolerance_days, t.mandatory)
          IS DISTINCT FROM
          (l.basis_at, l.basis_hours, l.basis_cycles, l.basis_source, l.due_at, l.due_hours,
           l.due_cycles, l.tolerance_hours, l.tolerance_cycles, l.tolerance_days, l.mandatory)
    RETURNING t.id, t.aircraft_id, t.program_id, t.title, t.state, t.version,
              l.old_due_at, l.old_due_hours, l.old_due_cycles, l.old_basis_at,
              l.old_basis_hours, l.old_basis_cycles, l.old_basis_source,
              t.due_at, t.due_hours, t.due_cycles, t.basis_at, t.basis_hours, t.basis_cycles,
              t.basis_source
    """
)


_REBASED = (
    "due_at",
    "due_hours",
    "due_cycles",
    "basis_at",
    "basis_hours",
    "basis_cycles",
    "basis_source",
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
        changes = diff(
            {name: getattr(row, f"old_{name}") for name in _REBASED},
            {name: getattr(row, name) for name in _REBASED},
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
