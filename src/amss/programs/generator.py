"""Task generation (SPEC §6.4): one set-based statement per sweep.

Each step is a subquery fenced with ``OFFSET 0`` so the planner computes its columns once
per row instead of inlining (and re-evaluating) them wherever they are used.

For every (program, applicable aircraft) pair without an open generated task, insert the
next task with its limits, forecast and planned window; write one
``program_task_generated`` event per task and one audit row per organization, all in the
same statement. The unique partial index on open tasks makes a concurrent second sweep a
no-op (``ON CONFLICT DO NOTHING``).

Where the limits count from, per pair:
- the latest closed task was cancelled: its basis again (a replacement with the same limits);
- it was completed: the completion point, under the program's next-due basis;
- no task yet: ``last_performed`` (and its hours/cycles) where given, else now and the
  aircraft's current meters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from amss.auth.rules import Caller
from amss.events.queue import note_events
from amss.programs.forecast import RATE_CYCLES, RATE_HOURS, governing, meter_date
from amss.programs.repository import APPLIES

_BASIS = """
    CASE
        WHEN {state} = 'cancelled' THEN {cancelled}
        WHEN {state} = 'completed' THEN
            CASE WHEN next_due_basis = 'scheduled' AND {due} IS NOT NULL
                      AND {done} > {due} AND {done} <= {due} + {tolerance}
                 THEN {due} ELSE {done} END
        ELSE {first}
    END
"""


def _basis(cancelled: str, due: str, done: str, tolerance: str, first: str) -> str:
    return _BASIS.format(
        state="last_state",
        cancelled=cancelled,
        due=due,
        done=done,
        tolerance=tolerance,
        first=first,
    )


_SWEEP = f"""
WITH pairs AS (
    SELECT p.id AS program_id, p.org_id, p.name, p.task_type, p.next_due_basis,
           p.interval_hours, p.interval_cycles, p.interval_days, p.interval_months,
           p.tolerance_hours, p.tolerance_cycles, p.tolerance_days, p.estimated_duration_hours,
           p.last_performed, p.last_performed_hours, p.last_performed_cycles,
           a.id AS aircraft_id, a.tail_number, a.flight_hours_total, a.cycles_total,
           {RATE_HOURS} AS rate_hours, {RATE_CYCLES} AS rate_cycles,
           last.state AS last_state, last.basis_at AS last_basis_at,
           last.basis_hours AS last_basis_hours, last.basis_cycles AS last_basis_cycles,
           last.due_at AS last_due_at, last.due_hours AS last_due_hours,
           last.due_cycles AS last_due_cycles, last.completed_at AS last_completed_at,
           last.completed_hours AS last_completed_hours, last.completed_cycles AS last_completed_cycles
    FROM maintenance_programs p
    JOIN aircraft a ON a.org_id = p.org_id AND a.deleted_at IS NULL AND {APPLIES}
    JOIN org_policies pol ON pol.org_id = p.org_id
    LEFT JOIN (
        -- The latest closed task of each pair: one pass over the history, hash-joined.
        SELECT DISTINCT ON (t.program_id, t.aircraft_id)
               t.program_id, t.aircraft_id, t.state, t.basis_at, t.basis_hours, t.basis_cycles,
               t.due_at, t.due_hours, t.due_cycles, t.completed_at, t.completed_hours, t.completed_cycles
        FROM maintenance_tasks t
        WHERE t.program_id IS NOT NULL AND t.deleted_at IS NULL
          AND t.state IN ('completed', 'cancelled')
          AND (CAST(:org_id AS uuid) IS NULL OR t.org_id = :org_id)
          AND (CAST(:program_id AS uuid) IS NULL OR t.program_id = :program_id)
          AND (CAST(:aircraft_id AS uuid) IS NULL OR t.aircraft_id = :aircraft_id)
        ORDER BY t.program_id, t.aircraft_id, coalesce(t.completed_at, t.updated_at) DESC, t.created_at DESC
    ) last ON last.program_id = p.id AND last.aircraft_id = a.id
    WHERE p.deleted_at IS NULL
      AND (CAST(:org_id AS uuid) IS NULL OR p.org_id = :org_id)
      AND (CAST(:program_id AS uuid) IS NULL OR p.id = :program_id)
      AND (CAST(:aircraft_id AS uuid) IS NULL OR a.id = :aircraft_id)
      AND NOT EXISTS (
          SELECT 1 FROM maintenance_tasks o
          WHERE o.program_id = p.id AND o.aircraft_id = a.id AND o.deleted_at IS NULL
            AND o.state IN ('scheduled', 'in_progress'))
),
basis AS (
    SELECT pairs.*,
           {
    _basis(
        "last_basis_at",
        "last_due_at",
        "last_completed_at",
        "make_interval(days => coalesce(tolerance_days, 0))",
        "coalesce(last_performed, CAST(:now AS timestamptz))",
    )
} AS basis_at,
           {
    _basis(
        "last_basis_hours",
        "last_due_hours",
        "last_completed_hours",
        "coalesce(tolerance_hours, 0)",
        "coalesce(last_performed_hours, flight_hours_total)",
    )
} AS basis_hours,
           {
    _basis(
        "last_basis_cycles",
        "last_due_cycles",
        "last_completed_cycles",
        "coalesce(tolerance_cycles, 0)",
        "coalesce(last_performed_cycles, cycles_total)",
    )
} AS basis_cycles
    FROM pairs
    OFFSET 0
),
limits AS (
    SELECT basis.*,
           amss_calendar_due(basis_at, interval_days, interval_months) AS due_at,
           basis_hours + interval_hours AS due_hours,
           basis_cycles + interval_cycles AS due_cycles
    FROM basis
    OFFSET 0
),
forecast AS (
    SELECT limits.*,
           {meter_date("due_hours", "flight_hours_total", "rate_hours")} AS by_hours,
           {meter_date("due_cycles", "cycles_total", "rate_cycles")} AS by_cycles
    FROM limits
    OFFSET 0
),
planned AS (
    SELECT forecast.*,
           LEAST(due_at, by_hours, by_cycles) AS projected_due_at,
           make_interval(secs => CAST(estimated_duration_hours * 3600 AS double precision)) AS duration
    FROM forecast
    OFFSET 0
),
inserted AS (
    INSERT INTO maintenance_tasks (
        org_id, aircraft_id, program_id, type, state, title, notes,
        basis_at, basis_hours, basis_cycles, due_at, due_hours, due_cycles,
        tolerance_hours, tolerance_cycles, tolerance_days,
        projected_due_at, governing_limit, start_time, end_time, created_by)
    SELECT org_id, aircraft_id, program_id, task_type, 'scheduled', name,
           'Generated from maintenance program ' || name,
           basis_at, basis_hours, basis_cycles, due_at, due_hours, due_cycles,
           tolerance_hours, tolerance_cycles, tolerance_days,
           projected_due_at, {governing("projected_due_at", "due_at", "by_hours")},
           CASE WHEN projected_due_at IS NULL THEN NULL
                WHEN projected_due_at - duration > CAST(:now AS timestamptz) THEN projected_due_at - duration
                ELSE CAST(:now AS timestamptz) END,
           CASE WHEN projected_due_at IS NULL THEN NULL
                WHEN projected_due_at - duration > CAST(:now AS timestamptz) THEN projected_due_at
                ELSE CAST(:now AS timestamptz) + greatest(duration, interval '1 hour') END,
           CAST(:user_id AS uuid)
    FROM planned
    ON CONFLICT (program_id, aircraft_id)
        WHERE program_id IS NOT NULL AND state IN ('scheduled', 'in_progress') AND deleted_at IS NULL
        DO NOTHING
    RETURNING id, org_id, aircraft_id, program_id, title, due_at, due_hours, due_cycles,
              projected_due_at, governing_limit
),
described AS (
    SELECT i.*, gen_random_uuid() AS event_id, craft.tail_number
    FROM inserted i JOIN aircraft craft ON craft.id = i.aircraft_id
),
events AS (
    INSERT INTO outbox_events (id, org_id, event_type, aggregate_type, aggregate_id, payload, dedupe_key, created_at)
    SELECT event_id, org_id, 'program_task_generated', 'maintenance_task', id,
           jsonb_build_object(
               'id', event_id, 'type', 'program_task_generated', 'version', 1, 'org_id', org_id,
               'occurred_at', to_char(CAST(:now AS timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'data', jsonb_build_object(
                   'task_id', id, 'program_id', program_id, 'aircraft_id', aircraft_id,
                   'tail_number', tail_number, 'title', title,
                   'due_at', to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   'due_hours', due_hours, 'due_cycles', due_cycles,
                   'projected_due_at', to_char(projected_due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   'governing_limit', governing_limit)),
           'program_task_generated:' || id, CAST(:now AS timestamptz)
    FROM described
),
audited AS (
    INSERT INTO audit_logs (org_id, entity_type, entity_id, action, user_id, actor, request_id,
                            ip_address, user_agent, details, prev_hash, hash)
    SELECT org_id, 'maintenance_task', CASE WHEN count(*) = 1 THEN min(id::text)::uuid END, 'create',
           CAST(:user_id AS uuid), :actor, :request_id, CAST(:ip_address AS inet), :user_agent,
           jsonb_build_object('generated', count(*), 'reason', CAST(:reason AS text),
                              'task_ids', jsonb_agg(id ORDER BY id)),
           '', ''
    FROM inserted
    GROUP BY org_id
),
next_due AS (
    UPDATE aircraft a SET next_due = LEAST(a.next_due, n.earliest)
    FROM (SELECT aircraft_id, min(projected_due_at) AS earliest FROM inserted GROUP BY aircraft_id) n
    WHERE a.id = n.aircraft_id
)
SELECT id, org_id, aircraft_id, program_id FROM inserted
"""


REFRESH_STATISTICS_AFTER = 5000

_PLANNER_SETTINGS = text(
    "SELECT current_setting('enable_nestloop') AS nestloop,"
    " current_setting('enable_mergejoin') AS mergejoin"
)
_HASH_JOINS_ONLY = text(
    "SELECT set_config('enable_nestloop', :nestloop, true),"
    " set_config('enable_mergejoin', :mergejoin, true)"
)


@dataclass(frozen=True)
class GeneratedTask:
    id: UUID
    org_id: UUID
    aircraft_id: UUID
    program_id: UUID


async def generate(
    session: AsyncSession,
    caller: Caller | None,
    *,
    now: datetime,
    reason: str,
    org_id: UUID | None = None,
    program_id: UUID | None = None,
    aircraft_id: UUID | None = None,
) -> list[GeneratedTask]:
    """Run one sweep, limited to an organization, a program and/or an aircraft."""
    # Hash joins only for the sweep. With statistics that still think the tables are small
    # (a fleet just imported, tasks being inserted by this very statement) the planner picks
    # nested loops that rescan the growing task index per pair: hours instead of seconds.
    # Transaction-local, restored right after.
    previous = (await session.execute(_PLANNER_SETTINGS)).one()
    await session.execute(_HASH_JOINS_ONLY, {"nestloop": "off", "mergejoin": "off"})
    rows = await session.execute(
        text(_SWEEP),
        {
            "now": now,
            "org_id": org_id,
            "program_id": program_id,
            "aircraft_id": aircraft_id,
            "reason": reason,
            "user_id": caller.user_id if caller else None,
            "actor": caller.actor if caller else "system",
            "request_id": caller.request_id if caller else None,
            "ip_address": caller.ip_address if caller else None,
            "user_agent": caller.user_agent if caller else None,
        },
    )
    generated = [GeneratedTask(row.id, row.org_id, row.aircraft_id, row.program_id) for row in rows]
    await session.execute(
        _HASH_JOINS_ONLY, {"nestloop": previous.nestloop, "mergejoin": previous.mergejoin}
    )
    for generated_org in {task.org_id for task in generated}:
        note_events(session, generated_org)
    if len(generated) >= REFRESH_STATISTICS_AFTER:
        # Planner statistics that still think the table is small would make the next sweep's
        # anti-join a nested loop over every open task.
        await session.execute(text("ANALYZE maintenance_tasks"))
    return generated
