"""The repository base: organization scoping lives here, not in each query by hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import ColumnElement, Executable, Select, Table, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from amss.kit.pagination import Page
from amss.kit.timefmt import utcnow


async def fetch_first(session: AsyncSession, statement: Executable) -> RowMapping | None:
    row: RowMapping | None = (await session.execute(statement)).mappings().first()
    return row


async def fetch_one(session: AsyncSession, statement: Executable) -> RowMapping:
    row: RowMapping = (await session.execute(statement)).mappings().one()
    return row


class ScopedRepository:
    """Queries of one tenant table, always filtered by ``org_id`` (and live rows only).

    A row of another organization is simply not found, which callers report as 404.
    """

    table: ClassVar[Table]
    has_soft_delete: ClassVar[bool] = True

    def __init__(self, session: AsyncSession, org_id: UUID) -> None:
        self.session = session
        self.org_id = org_id

    def scope(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [self.table.c.org_id == self.org_id]
        if self.has_soft_delete:
            conditions.append(self.table.c.deleted_at.is_(None))
        return conditions

    def select(self) -> Select[Any]:
        return select(self.table).where(*self.scope())

    async def get(self, row_id: UUID, *, for_update: bool = False) -> RowMapping | None:
        statement = self.select().where(self.table.c.id == row_id)
        if for_update:
            statement = statement.with_for_update()
        return await fetch_first(self.session, statement)

    async def page(
        self, statement: Select[Any], page: Page, order_by: Sequence[ColumnElement[Any]]
    ) -> tuple[list[RowMapping], int]:
        """One round trip: the page's rows and the total count (window function)."""
        counted = statement.add_columns(func.count().over().label("_total"))
        rows = (
            (
                await self.session.execute(
                    counted.order_by(*order_by).limit(page.limit).offset(page.offset)
                )
            )
            .mappings()
            .all()
        )
        if rows:
            return list(rows), int(rows[0]["_total"])
        if page.offset == 0:
            return [], 0
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        return [], int(total or 0)

    async def insert(self, **values: Any) -> RowMapping:
        statement = insert(self.table).values(org_id=self.org_id, **values).returning(self.table)
        return await fetch_one(self.session, statement)

    async def update(self, row_id: UUID, **values: Any) -> RowMapping | None:
        """Change a live row, bump ``version`` and ``updated_at``; None when not found."""
        statement = (
            update(self.table)
            .where(*self.scope(), self.table.c.id == row_id)
            .values(**values, version=self.table.c.version + 1, updated_at=utcnow())
            .returning(self.table)
        )
        return await fetch_first(self.session, statement)

    async def soft_delete(self, row_id: UUID) -> RowMapping | None:
        return await self.update(row_id, deleted_at=utcnow())
