"""Queries of maintenance programs and the parts their tasks require."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import RowMapping

from amss.db.scoped import ScopedRepository
from amss.db.tables import maintenance_programs, part_definitions, program_parts
from amss.kit.pagination import Page


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

    async def list_page(self, page: Page, filters: dict[str, Any]) -> tuple[list[RowMapping], int]:
        statement = self.select()
        for name in ("aircraft_id", "aircraft_model", "task_type"):
            if filters.get(name) is not None:
                statement = statement.where(maintenance_programs.c[name] == filters[name])
        return await self.page(
            statement, page, [maintenance_programs.c.name, maintenance_programs.c.id]
        )
