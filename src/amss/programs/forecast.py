"""The due forecast in SQL: set-based re-projection of open tasks (SPEC §6.3).

The expressions implement ``programs.rules.projection`` for many rows at once; the rates
fall back from observed utilization to the aircraft's averages to the organization policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from amss.programs.rules import MAX_FORECAST_DAYS

# Effective daily rates of aircraft ``a`` under policy ``pol``.
RATE_HOURS = "COALESCE(a.observed_daily_hours, a.avg_daily_hours, pol.default_daily_hours)"
RATE_CYCLES = "COALESCE(a.observed_daily_cycles, a.avg_daily_cycles, pol.default_daily_cycles)"


def meter_date(due: str, current: str, rate: str) -> str:
    """When a meter reaches ``due`` at ``rate`` per day from now (NULL without a rate)."""
    return (
        f"CASE WHEN {due} IS NOT NULL AND {rate} > 0 "
        f"AND ({due} - {current}) / {rate} <= {MAX_FORECAST_DAYS} THEN "
        f"CAST(:now AS timestamptz) + CAST(({due} - {current}) / {rate} AS double precision) "
        f"* interval '1 day' END"
    )


def governing(projected: str, due_at: str, by_hours: str) -> str:
    """Which limit gives the projected date; ties: calendar, then hours, then cycles."""
    return (
        f"CASE WHEN {projected} IS NULL THEN NULL WHEN {projected} = {due_at} THEN 'calendar' "
        f"WHEN {projected} = {by_hours} THEN 'hours' ELSE 'cycles' END"
    )


_REPROJECT = text(
    f"""
    WITH forecast AS (
        SELECT t.id, t.aircraft_id, t.due_at,
               {meter_date("t.due_hours", "a.flight_hours_total", RATE_HOURS)} AS by_hours,
               {meter_date("t.due_cycles", "a.cycles_total", RATE_CYCLES)} AS by_cycles
        FROM maintenance_tasks t
        JOIN aircraft a ON a.org_id = t.org_id AND a.id = t.aircraft_id
        JOIN org_policies pol ON pol.org_id = t.org_id
        WHERE t.org_id = :org_id AND t.aircraft_id = ANY(:aircraft_ids)
          AND t.state IN ('scheduled', 'in_progress') AND t.deleted_at IS NULL
    ),
    projected AS (
        SELECT f.*, LEAST(f.due_at, f.by_hours, f.by_cycles) AS projected_due_at FROM forecast f
    ),
    updated AS (
        UPDATE maintenance_tasks t
        SET projected_due_at = p.projected_due_at,
            governing_limit = {governing("p.projected_due_at", "p.due_at", "p.by_hours")}
        FROM projected p
        WHERE t.id = p.id
          AND (t.projected_due_at IS DISTINCT FROM p.projected_due_at
               OR t.governing_limit IS DISTINCT FROM
                  {governing("p.projected_due_at", "p.due_at", "p.by_hours")})
        RETURNING t.id
    )
    -- "updated" runs whether or not it is read (PostgreSQL executes every data-modifying CTE).
    UPDATE aircraft a
    SET next_due = earliest.next_due
    FROM (SELECT ids.id, min(p.projected_due_at) AS next_due
          FROM unnest(CAST(:aircraft_ids AS uuid[])) AS ids(id)
          LEFT JOIN projected p ON p.aircraft_id = ids.id
          GROUP BY ids.id) earliest
    WHERE a.org_id = :org_id AND a.id = earliest.id
      AND a.next_due IS DISTINCT FROM earliest.next_due
    """
)


async def reproject(
    session: AsyncSession, org_id: UUID, aircraft_ids: Sequence[UUID], now: datetime
) -> None:
    """Re-project every open task of these aircraft and their ``next_due``: one statement."""
    if not aircraft_ids:
        return
    await session.execute(
        _REPROJECT, {"org_id": org_id, "aircraft_ids": list(aircraft_ids), "now": now}
    )


def due_status_sql(task: str = "t", craft: str = "a", policy: str = "pol") -> str:
    """``rules.due_status`` for many rows: task ``t``, aircraft ``a``, policy ``pol``, ``:now``."""
    t, a, pol = task, craft, policy
    now = "CAST(:now AS timestamptz)"
    return f"""(CASE
        WHEN ({t}.due_hours IS NOT NULL
              AND {a}.flight_hours_total > {t}.due_hours + coalesce({t}.tolerance_hours, 0))
          OR ({t}.due_cycles IS NOT NULL
              AND {a}.cycles_total > {t}.due_cycles + coalesce({t}.tolerance_cycles, 0))
          OR ({t}.due_at IS NOT NULL
              AND {now} > {t}.due_at + make_interval(days => coalesce({t}.tolerance_days, 0)))
          THEN 'overdue'
        WHEN ({t}.due_hours IS NOT NULL AND {a}.flight_hours_total >= {t}.due_hours)
          OR ({t}.due_cycles IS NOT NULL AND {a}.cycles_total >= {t}.due_cycles)
          OR ({t}.due_at IS NOT NULL AND {now} >= {t}.due_at)
          THEN 'due'
        WHEN ({t}.due_hours - {a}.flight_hours_total <= {pol}.due_soon_hours)
          OR ({t}.due_cycles - {a}.cycles_total <= {pol}.due_soon_cycles)
          OR ({t}.due_at - {now} <= make_interval(days => {pol}.due_soon_days))
          THEN 'due_soon'
        ELSE 'ok' END)"""
