"""Queries of the reports: a handful of set-based statements whatever the fleet size, and
server-side cursors for the exports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from amss.db.jsonview import select_list
from amss.db.scoped import fetch_page
from amss.due.repository import DUE_ANSWER_COLUMNS, MOST_URGENT_FIRST, TaskRepository
from amss.due.schemas import DueListItem
from amss.due.sql import APPLIES, OPEN_STATES, RATE_CYCLES, RATE_HOURS, due_status
from amss.kit.errors import NotFound
from amss.kit.pagination import Page
from amss.reports.schemas import ComplianceFilters, DueFilters

# Every count of the summary in one statement: each part one aggregate over one table.
_SUMMARY = text(
    f"""
    WITH tasks AS (
        SELECT count(*) FILTER (WHERE t.state = 'scheduled') AS scheduled,
               count(*) FILTER (WHERE t.state = 'in_progress') AS in_progress,
               count(*) FILTER (WHERE t.state = 'completed') AS completed,
               count(*) FILTER (WHERE t.state = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE t.state IN {OPEN_STATES} AND {due_status()} = 'overdue')
                   AS overdue,
               count(*) FILTER (WHERE t.state IN {OPEN_STATES} AND {due_status()} = 'due_soon')
                   AS due_soon
        FROM maintenance_tasks t
        JOIN aircraft a ON a.org_id = t.org_id AND a.id = t.aircraft_id
        JOIN org_policies pol ON pol.org_id = t.org_id
        WHERE t.org_id = :org_id AND t.deleted_at IS NULL
    ), fleet AS (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'operational') AS operational,
               count(*) FILTER (WHERE status = 'maintenance') AS maintenance,
               count(*) FILTER (WHERE status = 'grounded') AS grounded
        FROM aircraft WHERE org_id = :org_id AND deleted_at IS NULL
    ), stock AS (
        SELECT count(*) FILTER (WHERE status = 'in_stock') AS in_stock,
               count(*) FILTER (WHERE status = 'used') AS used,
               count(*) FILTER (WHERE status = 'disposed') AS disposed
        FROM part_items WHERE org_id = :org_id AND deleted_at IS NULL
    ), available AS (
        -- What a reservation could take (SPEC §6.7): in stock, unreserved, unexpired on the
        -- organization's calendar.
        SELECT i.part_definition_id, count(*) AS n
        FROM part_items i
        JOIN org_policies pol ON pol.org_id = i.org_id
        WHERE i.org_id = :org_id AND i.deleted_at IS NULL AND i.status = 'in_stock'
          AND (i.expiry_date IS NULL
               OR i.expiry_date >= CAST(CAST(:now AS timestamptz) AT TIME ZONE pol.time_zone
                                        AS date))
          AND NOT EXISTS (SELECT 1 FROM part_reservations r
                          WHERE r.org_id = i.org_id AND r.part_item_id = i.id
                            AND r.state = 'reserved')
        GROUP BY i.part_definition_id
    ), low AS (
        SELECT count(*) AS low_stock_definitions
        FROM part_definitions d
        LEFT JOIN available v ON v.part_definition_id = d.id
        WHERE d.org_id = :org_id AND d.deleted_at IS NULL AND coalesce(v.n, 0) < d.min_stock
    ), items AS (
        SELECT count(*) FILTER (WHERE sign_off_time IS NULL) AS pending,
               count(*) FILTER (WHERE sign_off_time IS NOT NULL) AS signed
        FROM compliance_items WHERE org_id = :org_id AND deleted_at IS NULL
    )
    SELECT row_to_json(tasks) AS tasks, row_to_json(fleet) AS aircraft,
           (SELECT row_to_json(p) FROM (SELECT stock.*, low.low_stock_definitions) p) AS parts,
           row_to_json(items) AS compliance
    FROM tasks, fleet, stock, low, items
    """
)

# Compliance items with their task, aircraft and signer; the filters are added below.
_COMPLIANCE_ITEMS = """
    SELECT c.id, c.task_id, t.title AS task_title, t.aircraft_id, a.tail_number,
           c.description, c.result, c.sign_off_time IS NOT NULL AS signed_off,
           c.sign_off_user_id AS signer_id, coalesce(u.name, u.email) AS signer_name,
           c.certificate_number, c.sign_off_time, c.supersedes_id, c.created_at,
           coalesce(c.sign_off_time, c.created_at) AS time
    FROM compliance_items c
    JOIN maintenance_tasks t ON t.org_id = c.org_id AND t.id = c.task_id
    JOIN aircraft a ON a.org_id = t.org_id AND a.id = t.aircraft_id
    LEFT JOIN users u ON u.org_id = c.org_id AND u.id = c.sign_off_user_id
    WHERE c.org_id = :org_id AND c.deleted_at IS NULL
"""
_COMPLIANCE_FILTERS = {
    "aircraft_id": "t.aircraft_id = :aircraft_id",
    "task_id": "c.task_id = :task_id",
    "result": "c.result = :result",
    "from_": "coalesce(c.sign_off_time, c.created_at) >= :from_",
    "to": "coalesce(c.sign_off_time, c.created_at) < :to",
}
NEWEST_FIRST = "time DESC, id"

_COMPLIANCE_COUNTS = """
    SELECT count(*) AS total,
           count(*) FILTER (WHERE result = 'pass') AS pass,
           count(*) FILTER (WHERE result = 'fail') AS fail,
           count(*) FILTER (WHERE result = 'pending') AS pending,
           count(*) FILTER (WHERE signed_off) AS signed,
           count(*) FILTER (WHERE NOT signed_off) AS unsigned
    FROM ({matching}) AS m
"""

_AIRCRAFT = text(
    f"""
    SELECT a.id, a.tail_number, a.model, a.serial_number, a.status, a.flight_hours_total,
           a.cycles_total, {RATE_HOURS} AS daily_hours_rate, {RATE_CYCLES} AS daily_cycles_rate
    FROM aircraft a JOIN org_policies pol ON pol.org_id = a.org_id
    WHERE a.org_id = :org_id AND a.id = :aircraft_id AND a.deleted_at IS NULL
    """
)

# Every applicable requirement of one aircraft with its newest last-done record (and who
# certified it, and what it rests on) and its open task's due answer: one statement.
_REQUIREMENTS = text(
    f"""
    SELECT p.id AS program_id, p.name, p.ata_chapter, p.interval_hours, p.interval_cycles,
           p.interval_days, p.interval_months, p.mandatory,
           r.performed_at, r.performed_hours, r.performed_cycles,
           coalesce(r.certified_by_name, u.name, u.email) AS certified_by_name,
           r.certificate_number, r.reference, r.task_id AS record_task_id,
           CASE r.source WHEN 'import' THEN 'import' WHEN 'record' THEN 'record_entry'
                ELSE CASE WHEN rt.record_entry THEN 'record_entry' ELSE 'task' END
           END AS rests_on,
           o.id AS task_id, o.state, o.due_at, o.due_hours, o.due_cycles, o.projected_due_at,
           o.due_hours - a.flight_hours_total AS remaining_hours,
           o.due_cycles - a.cycles_total AS remaining_cycles,
           round(CAST(extract(epoch FROM o.due_at - CAST(:now AS timestamptz)) / 86400
                      AS numeric), 3) AS remaining_days,
           o.governing_limit, o.basis_source,
           CASE WHEN o.id IS NOT NULL THEN {due_status("o")} END AS due_status
    FROM maintenance_programs p
    JOIN aircraft a ON a.org_id = p.org_id AND a.id = :aircraft_id AND {APPLIES}
    JOIN org_policies pol ON pol.org_id = p.org_id
    LEFT JOIN LATERAL (
        SELECT * FROM compliance_records c
        WHERE c.org_id = p.org_id AND c.program_id = p.id AND c.aircraft_id = a.id
        ORDER BY c.performed_at DESC, c.created_at DESC LIMIT 1
    ) r ON true
    LEFT JOIN users u ON u.org_id = r.org_id AND u.id = r.certified_by_user_id
    LEFT JOIN maintenance_tasks rt ON rt.org_id = r.org_id AND rt.id = r.task_id
    LEFT JOIN maintenance_tasks o
        ON o.org_id = p.org_id AND o.program_id = p.id AND o.aircraft_id = a.id
       AND o.state IN {OPEN_STATES} AND o.deleted_at IS NULL
    WHERE p.org_id = :org_id AND p.deleted_at IS NULL
    ORDER BY p.ata_chapter NULLS LAST, p.name, p.id
    """
)

# Findings still open on one aircraft (SPEC §6.8): a signed fail stays open until a signed
# pass supersedes it, directly or through a chain of signed failed re-inspections — the
# rule of ``tasks.rules.check_compliance_items``, walked by a recursive query.
_OPEN_FINDINGS = text(
    """
    WITH RECURSIVE findings AS (
        SELECT c.id, c.task_id, t.title AS task_title, c.description,
               coalesce(u.name, u.email) AS signer_name, c.certificate_number, c.sign_off_time
        FROM compliance_items c
        JOIN maintenance_tasks t ON t.org_id = c.org_id AND t.id = c.task_id
        LEFT JOIN users u ON u.org_id = c.org_id AND u.id = c.sign_off_user_id
        WHERE c.org_id = :org_id AND t.aircraft_id = :aircraft_id AND c.deleted_at IS NULL
          AND t.deleted_at IS NULL AND c.result = 'fail' AND c.sign_off_time IS NOT NULL
    ), chain (root, id, result) AS (
        SELECT f.id, f.id, 'fail'::text FROM findings f
        UNION ALL
        SELECT chain.root, n.id, n.result
        FROM chain
        JOIN compliance_items n
          ON n.org_id = :org_id AND n.supersedes_id = chain.id
         AND n.sign_off_time IS NOT NULL AND n.deleted_at IS NULL
        WHERE chain.result = 'fail'
    )
    SELECT f.* FROM findings f
    WHERE NOT EXISTS (SELECT 1 FROM chain WHERE chain.root = f.id AND chain.result = 'pass')
    ORDER BY f.sign_off_time, f.id
    """
)


def _where(filters: Mapping[str, Any], conditions: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """The conditions of the filters given, and their bound values."""
    sql, params = "", {}
    for name, value in filters.items():
        if value is not None and name in conditions:
            sql += f" AND {conditions[name]}"
            params[name] = value
    return sql, params


async def _stream(
    session: AsyncSession, sql: str, params: Mapping[str, Any], batch: int
) -> AsyncIterator[list[RowMapping]]:
    """Every row of ``sql`` in batches from a server-side cursor: flat memory at any size."""
    result = await session.stream(text(sql).execution_options(yield_per=batch), dict(params))
    async for partition in result.mappings().partitions(batch):
        yield list(partition)


class ReportRepository:
    """The reports' queries over one organization."""

    def __init__(self, session: AsyncSession, org_id: UUID) -> None:
        self.session = session
        self.org_id = org_id

    async def summary(self, now: datetime) -> RowMapping:
        result = await self.session.execute(_SUMMARY, {"org_id": self.org_id, "now": now})
        return result.mappings().one()

    # --- compliance ------------------------------------------------------------------------

    def _compliance(self, filters: ComplianceFilters) -> tuple[str, dict[str, Any]]:
        where, params = _where(vars(filters), _COMPLIANCE_FILTERS)
        if filters.signed is not None:
            where += f" AND c.sign_off_time IS {'NOT ' if filters.signed else ''}NULL"
        return _COMPLIANCE_ITEMS + where, {"org_id": self.org_id, **params}

    async def compliance_counts(self, filters: ComplianceFilters) -> RowMapping:
        matching, params = self._compliance(filters)
        statement = text(_COMPLIANCE_COUNTS.format(matching=matching))
        return (await self.session.execute(statement, params)).mappings().one()

    async def compliance_page(
        self, filters: ComplianceFilters, page: Page
    ) -> tuple[list[RowMapping], int]:
        matching, params = self._compliance(filters)
        return await fetch_page(
            self.session, text(matching), page, order_sql=NEWEST_FIRST, params=params
        )

    def stream_compliance(
        self, filters: ComplianceFilters, batch: int = 1000
    ) -> AsyncIterator[list[RowMapping]]:
        matching, params = self._compliance(filters)
        return _stream(
            self.session, f"SELECT * FROM ({matching}) AS m ORDER BY {NEWEST_FIRST}", params, batch
        )

    # --- due list --------------------------------------------------------------------------

    def stream_due_list(
        self, filters: DueFilters, now: datetime, batch: int = 1000
    ) -> AsyncIterator[list[RowMapping]]:
        """The whole due list of ``filters`` in the urgency order of SPEC §6.3, each row the
        fields of ``DueListItem`` formatted as its JSON writes them."""
        matching, params = TaskRepository(self.session, self.org_id).due_list_query(
            due_filters(filters, now), now
        )
        fields = select_list(DueListItem, {"task_id": "p.id", **DUE_ANSWER_COLUMNS})
        sql = f"""
            WITH p AS (
                SELECT m.*, row_number() OVER (ORDER BY {MOST_URGENT_FIRST}) AS _n
                FROM ({matching}) AS m
            )
            SELECT {fields} FROM p ORDER BY p._n
        """
        return _stream(self.session, sql, params, batch)

    # --- the aircraft's status record ------------------------------------------------------

    async def aircraft(self, aircraft_id: UUID) -> RowMapping:
        row = (
            (
                await self.session.execute(
                    _AIRCRAFT, {"org_id": self.org_id, "aircraft_id": aircraft_id}
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound("aircraft not found")
        return row

    async def requirements(self, aircraft_id: UUID, now: datetime) -> list[RowMapping]:
        params = {"org_id": self.org_id, "aircraft_id": aircraft_id, "now": now}
        return list((await self.session.execute(_REQUIREMENTS, params)).mappings().all())

    async def open_findings(self, aircraft_id: UUID) -> list[RowMapping]:
        params = {"org_id": self.org_id, "aircraft_id": aircraft_id}
        return list((await self.session.execute(_OPEN_FINDINGS, params)).mappings().all())

    async def exists(self, table: str, row_id: UUID) -> bool:
        """Whether a live row of this organization has this id (a filter naming another
        organization's row is a 404, as in a path)."""
        assert table in ("aircraft", "maintenance_tasks")
        statement = text(
            f"SELECT 1 FROM {table} WHERE org_id = :org_id AND id = :id AND deleted_at IS NULL"
        )
        found = await self.session.scalar(statement, {"org_id": self.org_id, "id": row_id})
        return found is not None


def due_filters(filters: DueFilters, now: datetime) -> dict[str, Any]:
    """The due ledger's filters of a due list: open tasks, a horizon that never hides work
    that is due (SPEC §6.3), an aircraft, a status."""
    return {
        "open": True,
        "aircraft_id": filters.aircraft_id,
        "due_status": filters.due_status,
        "due_before": now + timedelta(days=filters.days) if filters.days is not None else None,
    }
