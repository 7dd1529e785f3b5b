"""Queries of maintenance programs and the parts their tasks require."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import delete, insert, select, text
from sqlalchemy.engine import RowMapping

from amss.db.scoped import ScopedRepository
from amss.db.tables import maintenance_programs, part_definitions, program_parts, program_satisfies
from amss.due.sql import APPLIES
from amss.kit.pagination import Page

# Every program reachable from :start through "satisfies"; :target among them is a cycle.
_REACHES = text(
    """
    WITH RECURSIVE reach(id) AS (
        SELECT unnest(CAST(:start AS uuid[]))
        UNION
        SELECT s.satisfied_program_id FROM program_satisfies s JOIN reach r ON s.program_id = r.id
        WHERE s.org_id = :org_id
    )
    SELECT 1 FROM reach WHERE id = :target LIMIT 1
    """
)

# The live programs that doing :program_id also does on :aircraft_id — through satisfies,
# transitively (a C-check includes the A-check, which includes the daily) — and that apply
# to that aircraft.
_ALSO_DONE = text(
    f"""
    WITH RECURSIVE reach(id) AS (
        SELECT CAST(:program_id AS uuid)
        UNION
        SELECT s.satisfied_program_id FROM program_satisfies s
        JOIN reach r ON s.program_id = r.id
        JOIN maintenance_programs live ON live.org_id = s.org_id
             AND live.id = s.satisfied_program_id AND live.deleted_at IS NULL
        WHERE s.org_id = :org_id
    )
    SELECT p.id FROM reach
    JOIN maintenance_programs p ON p.org_id = :org_id AND p.id = reach.id
    JOIN aircraft a ON a.org_id = :org_id AND a.id = :aircraft_id
    WHERE p.id <> :program_id AND {APPLIES}
    ORDER BY p.id
    """
)


class ProgramRepository(ScopedRepository):
    table = maintenance_programs
    noun = "maintenance program"

    async def required_parts(self, program_ids: Sequence[UUID]) -> dict[UUID, list[dict[str, Any]]]:
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

    async def unknown_part_definitions(self, definition_ids: Sequence[UUID]) -> list[UUID]:
        """Those of ``definition_ids`` that are not live part definitions of the organization."""
        known = set(
            (
                await self.session.execute(
                    select(part_definitions.c.id).where(
                        part_definitions.c.org_id == self.org_id,
                        part_definitions.c.deleted_at.is_(None),
                        part_definitions.c.id.in_(definition_ids),
                    )
                )
            ).scalars()
        )
        return [definition_id for definition_id in definition_ids if definition_id not in known]

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

    async def satisfied(self, program_ids: Sequence[UUID]) -> dict[UUID, list[UUID]]:
        """The programs each of these also does, in one query."""
        rows = await self.session.execute(
            select(program_satisfies.c.program_id, program_satisfies.c.satisfied_program_id)
            .where(
                program_satisfies.c.org_id == self.org_id,
                program_satisfies.c.program_id.in_(program_ids),
            )
            .order_by(program_satisfies.c.satisfied_program_id)
        )
        found: dict[UUID, list[UUID]] = {program_id: [] for program_id in program_ids}
        for row in rows:
            found[row.program_id].append(row.satisfied_program_id)
        return found

    async def would_cycle(self, program_id: UUID, satisfied: Sequence[UUID]) -> bool:
        """Whether ``program_id`` is already done by one of ``satisfied`` (directly or
        through others): doing A would do B would do A."""
        found = await self.session.scalar(
            _REACHES, {"start": list(satisfied), "target": program_id, "org_id": self.org_id}
        )
        return found is not None

    async def also_done(self, program_id: UUID, aircraft_id: UUID) -> list[UUID]:
        """The programs that doing ``program_id`` on the aircraft also does (SPEC §6.2)."""
        rows = await self.session.execute(
            _ALSO_DONE,
            {"program_id": program_id, "aircraft_id": aircraft_id, "org_id": self.org_id},
        )
        return [row.id for row in rows]

    async def set_satisfied(self, program_id: UUID, satisfied: Sequence[UUID]) -> None:
        await self.session.execute(
            delete(program_satisfies).where(
                program_satisfies.c.org_id == self.org_id,
                program_satisfies.c.program_id == program_id,
            )
        )
        if satisfied:
            await self.session.execute(
                insert(program_satisfies),
                [
                    {"org_id": self.org_id, "program_id": program_id, "satisfied_program_id": other}
                    for other in satisfied
                ],
            )

    async def unknown_programs(self, program_ids: Sequence[UUID]) -> list[UUID]:
        known = set(
            (
                await self.session.execute(
                    select(maintenance_programs.c.id).where(
                        *self.scope(), maintenance_programs.c.id.in_(program_ids)
                    )
                )
            ).scalars()
        )
        return [program_id for program_id in program_ids if program_id not in known]

    async def list_page(self, page: Page, filters: dict[str, Any]) -> tuple[list[RowMapping], int]:
        statement = self.select()
        for name in ("aircraft_id", "aircraft_model", "task_type"):
            if filters.get(name) is not None:
                statement = statement.where(maintenance_programs.c[name] == filters[name])
        return await self.page(
            statement, page, [maintenance_programs.c.name, maintenance_programs.c.id]
        )
