"""Re-projection (SPEC §6.3): every open task's projected date and ``aircraft.next_due``,
and the planned window of scheduled program tasks whose limits moved.

One statement for all open tasks of the aircraft concerned (or of the whole organization):
``due.rules.projection`` for many rows at once.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from amss.due.sql import (
    OPEN_STATES,
    RATE_CYCLES,
    RATE_HOURS,
    duration_of,
    governing,
    meter_date,
    planned_window,
)

_WINDOW = planned_window("p.projected_due_at", "p.duration")

_REPROJECT = text(
    f"""
    WITH forecast AS (
        SELECT t.id, t.aircraft_id, t.due_at,
               {meter_date("t.due_hours", "a.flight_hours_total", RATE_HOURS)} AS by_hours,
               {meter_date("t.due_cycles", "a.cycles_total", RATE_CYCLES)} AS by_cycles,
               -- A scheduled program task without a planned window (new limits) gets one.
               (t.program_id IS NOT NULL AND t.state = 'scheduled' AND t.start_time IS NULL)
                   AS unplanned,
               {duration_of("coalesce(prog.estimated_duration_hours, 2)")} AS duration
        FROM maintenance_tasks t
        JOIN aircraft a ON a.org_id = t.org_id AND a.id = t.aircraft_id
        JOIN org_policies pol ON pol.org_id = t.org_id
        LEFT JOIN maintenance_programs prog ON prog.org_id = t.org_id AND prog.id = t.program_id
        WHERE t.org_id = :org_id
          AND (CAST(:aircraft_ids AS uuid[]) IS NULL OR t.aircraft_id = ANY(:aircraft_ids))
          AND t.state IN {OPEN_STATES} AND t.deleted_at IS NULL
    ),
    projected AS (
        SELECT f.*, LEAST(f.due_at, f.by_hours, f.by_cycles) AS projected_due_at FROM forecast f
    ),
    updated AS (
        UPDATE maintenance_tasks t
        SET projected_due_at = p.projected_due_at,
            governing_limit = {governing("p.projected_due_at", "p.due_at", "p.by_hours")},
            start_time = CASE WHEN p.unplanned THEN {_WINDOW[0]} ELSE t.start_time END,
            end_time = CASE WHEN p.unplanned THEN {_WINDOW[1]} ELSE t.end_time END
        FROM projected p
        WHERE t.id = p.id
          AND (t.projected_due_at IS DISTINCT FROM p.projected_due_at
               OR t.governing_limit IS DISTINCT FROM
                  {governing("p.projected_due_at", "p.due_at", "p.by_hours")}
               OR (p.unplanned AND p.projected_due_at IS NOT NULL))
        RETURNING t.id
    )
    -- "updated" runs whether or not it is read (PostgreSQL executes every data-modifying CTE).
    UPDATE aircraft a
    SET next_due = earliest.next_due
    FROM (SELECT c.id, min(p.projected_due_at) AS next_due
          FROM aircraft c
          LEFT JOIN projected p ON p.aircraft_id = c.id
          WHERE c.org_id = :org_id
            -- A semi-join, not "= ANY": under a generic plan (psycopg prepares statements
            -- run often) ANY scans the whole array for every aircraft of the organization,
            -- quadratic when an import touches thousands of aircraft.
            AND (CAST(:aircraft_ids AS uuid[]) IS NULL
                 OR c.id IN (SELECT unnest(CAST(:aircraft_ids AS uuid[]))))
          GROUP BY c.id) earliest
    WHERE a.org_id = :org_id AND a.id = earliest.id
      AND a.next_due IS DISTINCT FROM earliest.next_due
    """
)


async def reproject(
    session: AsyncSession,
    org_id: UUID,
    aircraft_ids: Collection[UUID] | None,
    now: datetime,
) -> None:
    """Re-project the open tasks of these aircraft (None: the whole organization)."""
    if aircraft_ids is not None and not aircraft_ids:
        return
    ids = list(aircraft_ids) if aircraft_ids is not None else None
    await session.execute(_REPROJECT, {"org_id": org_id, "aircraft_ids": ids, "now": now})
