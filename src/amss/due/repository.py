"""The task ledger: maintenance tasks of one organization, and their live due answer.

The due engine owns the ledger (it generates, limits and re-projects the tasks); the
execution areas (parts, compliance, tasks) read and lock task rows through it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.engine import Row, RowMapping

from amss.db.scoped import ScopedRepository, fetch_first, fetch_page
from amss.db.tables import maintenance_tasks
from amss.due.sql import OPEN_STATES, RATE_CYCLES, RATE_HOURS, due_status
from amss.kit.pagination import Page

# A task with what its due answer needs: the aircraft's meters, the rates used, the live
# due status (open tasks only).
_WITH_DUE_ANSWER = f"""
    SELECT t.*, a.tail_number, a.flight_hours_total, a.cycles_total,
           {RATE_HOURS} AS daily_hours_rate, {RATE_CYCLES} AS daily_cycles_rate,
           CASE WHEN t.state IN {OPEN_STATES} THEN {due_status()} END AS live_due_status
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
    "due_status": f"t.state IN {OPEN_STATES} AND {due_status()} = :due_status",
    "open": f"t.state IN {OPEN_STATES}",
    "due_before": "t.projected_due_at <= :due_before",
}

# Over the output columns of the query above.
_MOST_URGENT_FIRST = "projected_due_at ASC NULLS LAST, created_at DESC, id"

# Open tasks of one aircraft that are overdue now, most urgent first.
_OVERDUE = f"""
    SELECT t.id, t.title FROM maintenance_tasks t
    JOIN aircraft a ON a.org_id = t.org_id AND a.id = t.aircraft_id
    JOIN org_policies pol ON pol.org_id = t.org_id
    WHERE t.org_id = :org_id AND t.aircraft_id = :aircraft_id AND t.deleted_at IS NULL
      AND t.state IN {OPEN_STATES} AND {due_status()} = 'overdue'
"""


class TaskRepository(ScopedRepository):
    """Maintenance tasks of one organization: rows, locks, due answers, overdue checks."""

    table = maintenance_tasks
    noun = "maintenance task"

    async def first_overdue(
        self, aircraft_id: UUID, now: datetime, *, task_id: UUID | None = None
    ) -> Row[Any] | None:
        """The most urgent overdue open task of the aircraft (or whether ``task_id`` is one)."""
        sql = _OVERDUE + (" AND t.id = :task_id" if task_id else "")
        sql += " ORDER BY t.projected_due_at NULLS LAST LIMIT 1"
        params = {"org_id": self.org_id, "aircraft_id": aircraft_id, "now": now, "task_id": task_id}
        return (await self.session.execute(text(sql), params)).first()

    async def in_progress_count(self, aircraft_id: UUID, *, excluding: UUID | None = None) -> int:
        statement = select(func.count()).where(
            *self.scope(),
            maintenance_tasks.c.aircraft_id == aircraft_id,
            maintenance_tasks.c.state == "in_progress",
        )
        if excluding is not None:
            statement = statement.where(maintenance_tasks.c.id != excluding)
        return int(await self.session.scalar(statement) or 0)

    async def with_due_answer(self, task_id: UUID, now: datetime) -> RowMapping | None:
        return await fetch_first(
            self.session,
            text(_WITH_DUE_ANSWER + " AND t.id = :task_id").bindparams(
                org_id=self.org_id, task_id=task_id, now=now
            ),
        )

    async def page_with_due_answer(
        self, page: Page, filters: dict[str, Any], now: datetime
    ) -> tuple[list[RowMapping], int]:
        """Tasks matching ``filters`` (None or False: not filtered), most urgent first."""
        params: dict[str, Any] = {"org_id": self.org_id, "now": now}
        conditions = []
        for name, value in filters.items():
            if value is None or value is False:
                continue
            conditions.append(_FILTERS[name])
            if value is not True:
                params[name] = value
        where = "".join(f" AND {condition}" for condition in conditions)
        return await fetch_page(
            self.session,
            text(_WITH_DUE_ANSWER + where),
            page,
            order_sql=_MOST_URGENT_FIRST,
            params=params,
        )
