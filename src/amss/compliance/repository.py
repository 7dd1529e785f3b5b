"""Queries of compliance items."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.engine import RowMapping

from amss.db.scoped import ScopedRepository
from amss.db.tables import compliance_items
from amss.kit.pagination import Page


class ComplianceRepository(ScopedRepository):
    table = compliance_items
    noun = "compliance item"

    def select(self) -> Select[Any]:
        return select(
            compliance_items, compliance_items.c.sign_off_time.is_not(None).label("signed_off")
        ).where(*self.scope())

    async def of_task(self, task_id: UUID) -> list[RowMapping]:
        statement = self.select().where(compliance_items.c.task_id == task_id)
        rows = await self.session.execute(statement.order_by(compliance_items.c.created_at))
        return list(rows.mappings().all())

    async def list_page(self, page: Page, filters: dict[str, Any]) -> tuple[list[RowMapping], int]:
        statement = self.select()
        if filters.get("task_id"):
            statement = statement.where(compliance_items.c.task_id == filters["task_id"])
        if filters.get("result"):
            statement = statement.where(compliance_items.c.result == filters["result"])
        if filters.get("signed") is not None:
            signed = compliance_items.c.sign_off_time.is_not(None)
            statement = statement.where(signed if filters["signed"] else ~signed)
        return await self.page(statement, page, [compliance_items.c.created_at.desc()])
