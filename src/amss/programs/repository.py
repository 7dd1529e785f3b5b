"""Queries of maintenance programs, and the set-based statements that follow their changes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import delete, insert, select, text
from sqlalchemy.engine import Row, RowMapping

from amss.db.scoped import ScopedRepository
from amss.db.tables import maintenance_programs, program_parts
from amss.kit.pagination import Page

# Whether program ``p`` applies to aircraft ``a``: never NULL, so it can be negated.
APPLIES = (
    "(CASE WHEN p.aircraft_id IS NOT NULL THEN p.aircraft_id = a.id "
    "WHEN p.aircraft_model IS NOT NULL THEN p.aircraft_model = a.model ELSE true END)"
)

# Open scheduled program tasks whose pair no longer applies (program or aircraft deleted,
# applicability or model changed) are cancelled with the reason.
_CANCEL_INAPPLICABLE = text(
    f"""
    UPDATE maintenance_tasks t
    SET state = 'cancelled', cancel_reason = :reason, version = t.version + 1, updated_at = now()
    FROM maintenance_programs p, aircraft a
    WHERE t.org_id = :org_id AND t.program_id = p.id AND t.aircraft_id = a.id
      AND t.state = 'scheduled' AND t.deleted_at IS NULL
      AND (CAST(:program_id AS uuid) IS NULL OR p.id = :program_id)
      AND (CAST(:aircraft_id AS uuid) IS NULL OR a.id = :aircraft_id)
      AND (p.deleted_at IS NOT NULL OR a.deleted_at IS NOT NULL OR NOT {APPLIES})
    RETURNING t.id, t.aircraft_id, t.program_id, t.title, t.version
    """
)

# After a program's interval, tolerance or baseline changes: recompute the limits of its
# open scheduled tasks from their basis (a first task takes the new baseline).
_RELIMIT = text(
    """
    WITH rebased AS (
        SELECT t.id,
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
        WHERE t.org_id = :org_id AND t.program_id = :program_id AND t.state = 'scheduled'
          AND t.deleted_at IS NULL
    )
    UPDATE maintenance_tasks t
    SET basis_at = r.basis_at, basis_hours = r.basis_hours, basis_cycles = r.basis_cycles,
        due_at = amss_calendar_due(r.basis_at, r.interval_days, r.interval_months),
        due_hours = r.basis_hours + r.interval_hours,
        due_cycles = r.basis_cycles + r.interval_cycles,
        tolerance_hours = r.tolerance_hours, tolerance_cycles = r.tolerance_cycles,
        tolerance_days = r.tolerance_days,
        version = t.version + 1, updated_at = now()
    FROM rebased r
    WHERE t.id = r.id
    RETURNING t.id, t.aircraft_id, t.title, t.version, t.due_at, t.due_hours, t.due_cycles
    """
)


class ProgramRepository(ScopedRepository):
    table = maintenance_programs

    async def required_parts(self, program_ids: list[UUID]) -> dict[UUID, list[dict[str, Any]]]:
        """Required parts of several programs in one query."""
        rows = await self.session.execute(
            select(
                program_parts.c.program_id,
                program_parts.c.part_definition_id,
                program_parts.c.quantity,
            )
            .where(
                program_parts.c.org_id == self.org_id, program_parts.c.program_id.in_(program_ids)
            )
            .order_by(program_parts.c.program_id, program_parts.c.part_definition_id)
        )
        found: dict[UUID, list[dict[str, Any]]] = {program_id: [] for program_id in program_ids}
        for row in rows:
            found[row.program_id].append(
                {"part_definition_id": row.part_definition_id, "quantity": row.quantity}
            )
        return found

    async def set_required_parts(self, program_id: UUID, parts: list[dict[str, Any]]) -> None:
        await self.session.execute(
            delete(program_parts).where(
                program_parts.c.org_id == self.org_id, program_parts.c.program_id == program_id
            )
        )
        if parts:
            await self.session.execute(
                insert(program_parts),
                [{"org_id": self.org_id, "program_id": program_id, **part} for part in parts],
            )

    async def list_page(self, page: Page, filters: dict[str, Any]) -> tuple[list[RowMapping], int]:
        statement = self.select()
        for name in ("aircraft_id", "aircraft_model", "task_type"):
            if filters.get(name) is not None:
                statement = statement.where(maintenance_programs.c[name] == filters[name])
        return await self.page(
            statement, page, [maintenance_programs.c.name, maintenance_programs.c.id]
        )

    async def cancel_inapplicable(
        self, reason: str, *, program_id: UUID | None = None, aircraft_id: UUID | None = None
    ) -> list[Row[Any]]:
        result = await self.session.execute(
            _CANCEL_INAPPLICABLE,
            {
                "org_id": self.org_id,
                "program_id": program_id,
                "aircraft_id": aircraft_id,
                "reason": reason,
            },
        )
        return list(result.all())

    async def relimit_open_tasks(self, program_id: UUID) -> list[Row[Any]]:
        result = await self.session.execute(
            _RELIMIT, {"org_id": self.org_id, "program_id": program_id}
        )
        return list(result.all())
