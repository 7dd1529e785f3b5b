"""Task generation (SPEC §6.4): one set-based statement per sweep.

Each step is a subquery fenced with ``OFFSET 0`` so the planner computes its columns once
per row instead of inlining (and re-evaluating) them wherever they are used.

For every (program, applicable aircraft) pair without an open generated task, insert the
next task with its limits, forecast and planned window; write one
``program_task_generated`` event per task and one audit row per organization, all in the
same statement. The unique partial index on open tasks makes a concurrent second sweep a
no-op (``ON CONFLICT DO NOTHING``).

Where the limits count from, per pair (and what the task reports as ``basis_source``):
- its newest last-done record: the basis written with it (``record``, or ``completion``
  when the record is a task's completion) — a record without the hours (cycles) of an
  interval added later counts from the meters on the record's date;
- else the latest cancelled task's basis (a replacement with the same limits);
- else now and the aircraft's current meters: the requirement is assumed met when it
  starts applying (``assumed``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from amss.auth.rules import Caller
from amss.due.sql import (
    APPLIES,
    NEWEST_RECORDS,
    OPEN_STATES,
    RATE_CYCLES,
    RATE_HOURS,
    calendar_due,
    duration_of,
    governing,
    meter_date,
    planned_window,
)
from amss.events.queue import note_events
from amss.fleet.repository import meter_at
from amss.kit.metrics import tasks_generated_total

_RECORD_DAY = "(rec.basis_at AT TIME ZONE pol.time_zone)::date"

_WINDOW = planned_window("projected_due_at", "duration")

_SWEEP = f"""
WITH pairs AS (
    SELECT p.id AS program_id, p.org_id, p.name, p.task_type, p.mandatory,
           p.interval_hours, p.interval_cycles, p.interval_days, p.interval_months,
           p.tolerance_hours, p.tolerance_cycles, p.tolerance_days, p.estimated_duration_hours,
           a.id AS aircraft_id, a.tail_number, a.flight_hours_total, a.cycles_total,
           {RATE_HOURS} AS rate_hours, {RATE_CYCLES} AS rate_cycles, pol.time_zone,
           CASE WHEN rec.basis_at IS NOT NULL THEN rec.basis_at
                WHEN gone.basis_at IS NOT NULL THEN gone.basis_at
                ELSE CAST(:now AS timestamptz) END AS basis_at,
           CASE WHEN rec.basis_at IS NOT NULL THEN coalesce(
                    rec.basis_hours,
                    CASE WHEN p.interval_hours IS NOT NULL
                         THEN {meter_at("hours", "a.id", _RECORD_DAY)} END)
                WHEN gone.basis_at IS NOT NULL THEN gone.basis_hours
                ELSE a.flight_hours_total END AS basis_hours,
           CASE WHEN rec.basis_at IS NOT NULL THEN coalesce(
                    rec.basis_cycles,
                    CASE WHEN p.interval_cycles IS NOT NULL
                         THEN {meter_at("cycles", "a.id", _RECORD_DAY)} END)
                WHEN gone.basis_at IS NOT NULL THEN gone.basis_cycles
                ELSE a.cycles_total END AS basis_cycles,
           coalesce(rec.basis_source, gone.basis_source, 'assumed') AS basis_source
    FROM maintenance_programs p
    JOIN aircraft a ON a.org_id = p.org_id AND a.deleted_at IS NULL AND {APPLIES}
    JOIN org_policies pol ON pol.org_id = p.org_id
    LEFT JOIN ({NEWEST_RECORDS}) rec ON rec.program_id = p.id AND rec.aircraft_id = a.id
    LEFT JOIN (
        -- The latest cancelled task of each pair: one pass over the history, hash-joined.
        SELECT DISTINCT ON (t.program_id, t.aircraft_id)
               t.program_id, t.aircraft_id, t.basis_at, t.basis_hours, t.basis_cycles,
               t.basis_source
        FROM maintenance_tasks t
        WHERE t.program_id IS NOT NULL AND t.deleted_at IS NULL AND t.state = 'cancelled'
          AND t.org_id = :org_id
          AND (CAST(:program_ids AS uuid[]) IS NULL OR t.program_id = ANY(:program_ids))
          AND (CAST(:aircraft_ids AS uuid[]) IS NULL OR t.aircraft_id = ANY(:aircraft_ids))
        ORDER BY t.program_id, t.aircraft_id, t.updated_at DESC, t.created_at DESC
    ) gone ON gone.program_id = p.id AND gone.aircraft_id = a.id
    WHERE p.deleted_at IS NULL
      AND p.org_id = :org_id
      AND (CAST(:program_ids AS uuid[]) IS NULL OR p.id = ANY(:program_ids))
      AND (CAST(:aircraft_ids AS uuid[]) IS NULL OR a.id = ANY(:aircraft_ids))
      AND NOT EXISTS (
          SELECT 1 FROM maintenance_tasks o
          WHERE o.program_id = p.id AND o.aircraft_id = a.id AND o.deleted_at IS NULL
            AND o.state IN {OPEN_STATES})
    OFFSET 0
),
limits AS (
    SELECT pairs.*,
           {calendar_due("basis_at", "interval_days", "interval_months", "time_zone")} AS due_at,
           basis_hours + interval_hours AS due_hours,
           basis_cycles + interval_cycles AS due_cycles
    FROM pairs
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
           {duration_of("estimated_duration_hours")} AS duration
    FROM forecast
    OFFSET 0
),
inserted AS (
    INSERT INTO maintenance_tasks (
        org_id, aircraft_id, program_id, type, state, title, notes, mandatory,
        basis_at, basis_hours, basis_cycles, basis_source, due_at, due_hours, due_cycles,
        tolerance_hours, tolerance_cycles, tolerance_days,
        projected_due_at, governing_limit, start_time, end_time, created_by)
    SELECT org_id, aircraft_id, program_id, task_type, 'scheduled', name,
           'Generated from maintenance program ' || name, mandatory,
           basis_at, basis_hours, basis_cycles, basis_source, due_at, due_hours, due_cycles,
           tolerance_hours, tolerance_cycles, tolerance_days,
           projected_due_at, {governing("projected_due_at", "due_at", "by_hours")},
           {_WINDOW[0]},
           {_WINDOW[1]},
           CAST(:user_id AS uuid)
    FROM planned
    ON CONFLICT (program_id, aircraft_id)
        WHERE program_id IS NOT NULL AND state IN {OPEN_STATES} AND deleted_at IS NULL
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
SELECT id, aircraft_id, program_id FROM inserted
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
    aircraft_id: UUID
    program_id: UUID


async def generate(
    session: AsyncSession,
    caller: Caller,
    *,
    now: datetime,
    reason: str,
    program_ids: Collection[UUID] | None = None,
    aircraft_ids: Collection[UUID] | None = None,
) -> list[GeneratedTask]:
    """One sweep of the caller's organization, limited to some programs and/or aircraft."""
    whole_organization = program_ids is None and aircraft_ids is None
    if whole_organization:
        # Hash joins only for a whole-organization sweep. With statistics that still think
        # the tables are small (a fleet just imported, tasks being inserted by this very
        # statement) the planner picks nested loops that rescan the growing task index per
        # pair: hours instead of seconds. Transaction-local, restored right after. A sweep
        # limited to a program or an aircraft is small, and nested loops suit it.
        previous = (await session.execute(_PLANNER_SETTINGS)).one()
        await session.execute(_HASH_JOINS_ONLY, {"nestloop": "off", "mergejoin": "off"})
    rows = await session.execute(
        text(_SWEEP),
        {
            "now": now,
            "org_id": caller.org_id,
            "program_ids": list(program_ids) if program_ids is not None else None,
            "aircraft_ids": list(aircraft_ids) if aircraft_ids is not None else None,
            "reason": reason,
            "user_id": caller.user_id,
            "actor": caller.actor,
            "request_id": caller.request_id,
            "ip_address": caller.ip_address,
            "user_agent": caller.user_agent,
        },
    )
    generated = [GeneratedTask(row.id, row.aircraft_id, row.program_id) for row in rows]
    if whole_organization:
        await session.execute(
            _HASH_JOINS_ONLY, {"nestloop": previous.nestloop, "mergejoin": previous.mergejoin}
        )
    if generated:
        note_events(session, caller.org_id)
        tasks_generated_total.inc(len(generated))
    if len(generated) >= REFRESH_STATISTICS_AFTER:
        # Planner statistics that still think the table is small would make the next sweep's
        # anti-join a nested loop over every open task. ANALYZE needs the table's owner: the
        # application role asks through the owner's function (migration 0009).
        await session.execute(text("SELECT amss_analyze_tasks()"))
    return generated
