"""The task ledger: maintenance tasks of one organization, and their live due answer.

The due engine owns the ledger (it generates, limits and re-projects the tasks); the
execution areas (parts, compliance, tasks) read and lock task rows through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.engine import Row, RowMapping
from sqlalchemy.sql.elements import ColumnElement

from amss.db.jsonview import Rendered, View, fetch_page_json
from amss.db.scoped import ScopedRepository, fetch_first, fetch_page
from amss.db.tables import compliance_records, maintenance_programs, maintenance_tasks
from amss.due.rules import DueStatus
from amss.due.schemas import DueListItem
from amss.due.sql import APPLIES, OPEN_STATES, RATE_CYCLES, RATE_HOURS, due_status
from amss.kit.errors import NotFound
from amss.kit.pagination import Page

# A task with what its due answer needs: the aircraft's meters, the rates used, the live
# due status (open tasks only).
WITH_DUE_ANSWER = f"""
    SELECT t.*, a.tail_number, a.flight_hours_total, a.cycles_total,
           {RATE_HOURS} AS daily_hours_rate, {RATE_CYCLES} AS daily_cycles_rate,
           CASE WHEN t.state IN {OPEN_STATES} THEN {due_status()} END AS live_due_status
    FROM maintenance_tasks t
    JOIN aircraft a ON a.org_id = t.org_id AND a.id = t.aircraft_id
    JOIN org_policies pol ON pol.org_id = t.org_id
    WHERE t.org_id = :org_id AND t.deleted_at IS NULL
"""

# The computed half of a task's due answer over a row of the query above (``p``): the live
# status and what remains (``rules.remaining``), for open tasks only.
_OPEN = f"p.state IN {OPEN_STATES}"
DUE_ANSWER_COLUMNS = {
    "due_status": "p.live_due_status",
    "remaining_hours": f"CASE WHEN {_OPEN} THEN p.due_hours - p.flight_hours_total END",
    "remaining_cycles": f"CASE WHEN {_OPEN} THEN p.due_cycles - p.cycles_total END",
    "remaining_days": (
        f"CASE WHEN {_OPEN} THEN round(CAST(extract(epoch FROM p.due_at - CAST(:now AS"
        " timestamptz)) / 86400 AS numeric), 3) END"
    ),
}

# Filter name → SQL condition; values are always bound, never interpolated.
_FILTERS = {
    "aircraft_id": "t.aircraft_id = :aircraft_id",
    "program_id": "t.program_id = :program_id",
    "program_ids": "t.program_id = ANY(:program_ids)",
    "state": "t.state = :state",
    "type": "t.type = :type",
    "assigned_mechanic_id": "t.assigned_mechanic_id = :assigned_mechanic_id",
    "due_status": f"t.state IN {OPEN_STATES} AND {due_status()} = :due_status",
    "open": f"t.state IN {OPEN_STATES}",
    # A horizon never hides work that is due: every task not ``ok`` stays on the list.
    "due_before": f"(t.projected_due_at <= :due_before OR {due_status()} <> 'ok')",
}

# SPEC §6.3 urgency, over the output columns of the query above: overdue, then due, then
# by projected date; within a status, tasks without a projection after the dated ones.
MOST_URGENT_FIRST = (
    "CASE live_due_status WHEN 'overdue' THEN 0 WHEN 'due' THEN 1 ELSE 2 END,"
    " projected_due_at ASC NULLS LAST, created_at DESC, id"
)

# Open mandatory tasks of one aircraft that are overdue now — what makes it unairworthy
# (SPEC §6.6) — most urgent first.
_OVERDUE = f"""
    SELECT t.id, t.title FROM maintenance_tasks t
    JOIN aircraft a ON a.org_id = t.org_id AND a.id = t.aircraft_id
    JOIN org_policies pol ON pol.org_id = t.org_id
    WHERE t.org_id = :org_id AND t.aircraft_id = :aircraft_id AND t.deleted_at IS NULL
      AND t.state IN {OPEN_STATES} AND t.mandatory AND {due_status()} = 'overdue'
"""

# A task's due status at another moment and meter reading: when it was completed.
_STATUS_AT = f"""
    SELECT {due_status()} FROM maintenance_tasks t
    JOIN org_policies pol ON pol.org_id = t.org_id
    CROSS JOIN (SELECT CAST(:hours AS numeric) AS flight_hours_total,
                       CAST(:cycles AS integer) AS cycles_total) a
    WHERE t.org_id = :org_id AND t.id = :task_id
"""


class TaskRepository(ScopedRepository):
    """Maintenance tasks of one organization: rows, locks, due answers, overdue checks."""

    table = maintenance_tasks
    noun = "maintenance task"

    async def first_overdue(
        self, aircraft_id: UUID, now: datetime, *, task_id: UUID | None = None
    ) -> Row[Any] | None:
        """The most urgent overdue mandatory open task of the aircraft (or whether
        ``task_id`` is one)."""
        sql = _OVERDUE + (" AND t.id = :task_id" if task_id else "")
        sql += " ORDER BY t.projected_due_at NULLS LAST LIMIT 1"
        params = {"org_id": self.org_id, "aircraft_id": aircraft_id, "now": now, "task_id": task_id}
        return (await self.session.execute(text(sql), params)).first()

    async def status_at(
        self, task_id: UUID, at: datetime, hours: Decimal, cycles: int
    ) -> DueStatus:
        """The task's due status at ``at`` with the aircraft at these meters."""
        params = {"org_id": self.org_id, "task_id": task_id, "now": at}
        status = await self.session.scalar(
            text(_STATUS_AT), {**params, "hours": hours, "cycles": cycles}
        )
        return cast(DueStatus, status)

    async def in_progress_count(self, aircraft_id: UUID, *, excluding: UUID | None = None) -> int:
        statement = select(func.count()).where(
            *self.scope(),
            maintenance_tasks.c.aircraft_id == aircraft_id,
            maintenance_tasks.c.state == "in_progress",
        )
        if excluding is not None:
            statement = statement.where(maintenance_tasks.c.id != excluding)
        return int(await self.session.scalar(statement) or 0)

    async def open_due_items(
        self, aircraft_id: UUID, program_ids: Sequence[UUID], now: datetime
    ) -> dict[UUID, DueListItem]:
        """The open task of each of these programs on one aircraft, as a due-list row."""
        if not program_ids:
            return {}
        filters = {"aircraft_id": aircraft_id, "open": True, "program_ids": list(program_ids)}
        page = Page(limit=len(program_ids), offset=0)
        rendered = await self.due_list(page, filters, now)
        return {item.program_id: item for item in rendered.items if item.program_id is not None}

    @staticmethod
    def _matching(
        org_id: UUID, filters: dict[str, Any], now: datetime
    ) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"org_id": org_id, "now": now}
        conditions = []
        for name, value in filters.items():
            if value is None or value is False:
                continue
            conditions.append(_FILTERS[name])
            if value is not True:
                params[name] = value
        return WITH_DUE_ANSWER + "".join(f" AND {c}" for c in conditions), params

    async def page_json(
        self,
        view: type[View],
        page: Page,
        filters: dict[str, Any],
        now: datetime,
        columns: Mapping[str, str],
    ) -> Rendered[View]:
        """Tasks matching ``filters``, most urgent first, rendered by PostgreSQL as ``view``
        (``columns``: its fields beyond the task's own, over a row ``p`` of the tasks with
        their due answer)."""
        matching, params = self._matching(self.org_id, filters, now)
        return await fetch_page_json(
            self.session,
            view,
            matching,
            order_sql=MOST_URGENT_FIRST,
            limit=page.limit,
            offset=page.offset,
            params=params,
            columns=columns,
        )

    def due_list_query(self, filters: dict[str, Any], now: datetime) -> tuple[str, dict[str, Any]]:
        """The SQL and parameters of the tasks matching ``filters`` with their due answer (a
        row ``p`` of ``DUE_ANSWER_COLUMNS``), for a report that streams the whole list."""
        return self._matching(self.org_id, filters, now)

    async def due_list(
        self, page: Page, filters: dict[str, Any], now: datetime
    ) -> Rendered[DueListItem]:
        """The due list of ``filters`` rendered by PostgreSQL, most urgent first."""
        columns = {"task_id": "p.id", **DUE_ANSWER_COLUMNS}
        return await self.page_json(DueListItem, page, filters, now, columns)


class RecordRepository(ScopedRepository):
    """Last-done records of one organization (append-only) and the requirements they meet."""

    table = compliance_records
    noun = "last-done record"
    has_soft_delete = False

    async def history(
        self, aircraft_id: UUID, program_id: UUID | None, page: Page
    ) -> tuple[list[RowMapping], int]:
        """Newest first: the order an inspector reads a logbook in."""
        statement = self.select().where(compliance_records.c.aircraft_id == aircraft_id)
        if program_id is not None:
            statement = statement.where(compliance_records.c.program_id == program_id)
        order = [compliance_records.c.performed_at.desc(), compliance_records.c.created_at.desc()]
        return await self.page(statement, page, order)

    async def _newest_by_program(self, *where: ColumnElement[bool]) -> dict[UUID, RowMapping]:
        """The newest record of each program among those ``where`` selects."""
        rows = await self.session.execute(
            self.select()
            .where(*where)
            .ext(distinct_on(compliance_records.c.program_id))
            .order_by(
                compliance_records.c.program_id,
                compliance_records.c.performed_at.desc(),
                compliance_records.c.created_at.desc(),
            )
        )
        return {row["program_id"]: row for row in rows.mappings()}

    async def newest(
        self, aircraft_id: UUID, program_ids: Sequence[UUID]
    ) -> dict[UUID, RowMapping]:
        """The baseline of each of these programs on one aircraft, in one query."""
        if not program_ids:
            return {}
        return await self._newest_by_program(
            compliance_records.c.aircraft_id == aircraft_id,
            compliance_records.c.program_id.in_(program_ids),
        )

    async def newest_of_programs(
        self, pairs: Sequence[tuple[UUID, UUID]]
    ) -> dict[UUID, RowMapping]:
        """The baseline of each (program, its one aircraft) pair, by program, in one query."""
        if not pairs:
            return {}
        return await self._newest_by_program(
            tuple_(compliance_records.c.program_id, compliance_records.c.aircraft_id).in_(pairs)
        )

    async def requirement(self, program_id: UUID) -> RowMapping:
        """The (live) program a record is for; 404 for another organization's."""
        row = await fetch_first(
            self.session,
            select(maintenance_programs).where(
                maintenance_programs.c.org_id == self.org_id,
                maintenance_programs.c.id == program_id,
                maintenance_programs.c.deleted_at.is_(None),
            ),
        )
        if row is None:
            raise NotFound("maintenance program not found")
        return row

    async def applicable(self, aircraft_id: UUID, page: Page) -> tuple[list[RowMapping], int]:
        """Every live program that applies to the aircraft, by name."""
        statement = text(
            f"""
            SELECT p.* FROM maintenance_programs p
            JOIN aircraft a ON a.org_id = p.org_id AND a.id = :aircraft_id AND {APPLIES}
            WHERE p.org_id = :org_id AND p.deleted_at IS NULL
            """
        )
        return await fetch_page(
            self.session,
            statement,
            page,
            order_sql="name, id",
            params={"org_id": self.org_id, "aircraft_id": aircraft_id},
        )
