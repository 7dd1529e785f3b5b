"""Reading maintenance tasks with their live due answer (status, remaining, rates)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import Row, RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from amss.db.scoped import ScopedRepository
from amss.db.tables import maintenance_tasks
from amss.kit.pagination import Page
from amss.programs.forecast import RATE_CYCLES, RATE_HOURS, due_status_sql

OPEN_STATES = ("scheduled", "in_progress")

_SELECT = f"""
    SELECT t.*, a.tail_number, a.flight_hours_total, a.cycles_total,
           {RATE_HOURS} AS daily_hours_rate, {RATE_CYCLES} AS daily_cycles_rate,
           CASE WHEN t.state IN ('scheduled', 'in_progress') THEN {due_status_sql()} END
               AS live_due_status,
           count(*) OVER () AS _total
    FROM maintenance_tasks t
    JOIN aircraft a ON a.org_id = t.org_id AND a.id = t.aircraft_id
    JOIN org_policies pol ON pol.org_id = t.org_id
    WHERE t.org_id = :org_id AND t.deleted_at IS NULL
"""

# Filter name → SQL condition; values are always bound, never interpolated.
_FILTERS = {
    "aircraft_id": "t.aircraft_id = :aircraft_id",
    "program_id": "t.program_id = :program_id",
    "state": "t.state = :state",
    "type": "t.type = :type",
    "assigned_mechanic_id": "t.assigned_mechanic_id = :assigned_mechanic_id",
    "due_status": f"t.state IN ('scheduled', 'in_progress') AND {due_status_sql()} = :due_status",
    "open": "t.state IN ('scheduled', 'in_progress')",
    "due_before": "t.projected_due_at <= :due_before",
}

_ORDER = " ORDER BY t.projected_due_at ASC NULLS LAST, t.created_at DESC, t.id"


# Open tasks of one aircraft that are overdue now, most urgent first.
_OVERDUE = f"""
    SELECT t.id, t.title FROM maintenance_tasks t
    JOIN aircraft a ON a.org_id = t.org_id AND a.id = t.aircraft_id
    JOIN org_policies pol ON pol.org_id = t.org_id
    WHERE t.org_id = :org_id AND t.aircraft_id = :aircraft_id AND t.deleted_at IS NULL
      AND t.state IN ('scheduled', 'in_progress') AND {due_status_sql()} = 'overdue'
"""


class TaskRepository(ScopedRepository):
    """Maintenance tasks of one organization (writes, locks, overdue checks)."""

    table = maintenance_tasks

    async def first_overdue(
        self, aircraft_id: UUID, now: datetime, *, task_id: UUID | None = None
    ) -> Row[Any] | None:
        """The most urgent overdue open task of the aircraft (or whether ``task_id`` is one)."""
        sql = _OVERDUE + (" AND t.id = :task_id" if task_id else "")
        sql += " ORDER BY t.projected_due_at NULLS LAST LIMIT 1"
        params = {"org_id": self.org_id, "aircraft_id": aircraft_id, "now": now, "task_id": task_id}
        return (await self.session.execute(text(sql), params)).first()


class TaskReadRepository:
    def __init__(self, session: AsyncSession, org_id: UUID) -> None:
        self.session = session
        self.org_id = org_id

    async def get(self, task_id: UUID, now: datetime) -> RowMapping | None:
        rows = await self.session.execute(
            text(_SELECT + " AND t.id = :task_id"),
            {"org_id": self.org_id, "task_id": task_id, "now": now},
        )
        row: RowMapping | None = rows.mappings().first()
        return row

    async def list_page(
        self, page: Page, filters: dict[str, Any], now: datetime
    ) -> tuple[list[RowMapping], int]:
        params: dict[str, Any] = {
            "org_id": self.org_id,
            "now": now,
            "limit": page.limit,
            "offset": page.offset,
        }
        conditions = []
        for name, value in filters.items():
            if value is None or value is False:
                continue
            conditions.append(_FILTERS[name])
            if value is not True:
                params[name] = value
        where = "".join(f" AND {condition}" for condition in conditions)
        sql = _SELECT + where + _ORDER + " LIMIT :limit OFFSET :offset"
        rows = list((await self.session.execute(text(sql), params)).mappings().all())
        if rows:
            return rows, int(rows[0]["_total"])
        if page.offset == 0:
            return [], 0
        count_sql = f"SELECT count(*) FROM ({_SELECT + where}) AS matching"
        total = await self.session.scalar(text(count_sql), params)
        return [], int(total or 0)


def horizon(now: datetime, days: int | None) -> datetime | None:
    return now + timedelta(days=days) if days is not None else None
