"""Queries of organizations and their policies."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from amss.db.scoped import NaturalKey, ensure_unique, fetch_first, fetch_one, fetch_page
from amss.db.tables import org_policies, organizations
from amss.kit.pagination import Page
from amss.kit.timefmt import utcnow

NAME = NaturalKey("name", "an organization named {value!r} already exists", func.lower)


class OrganizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, org_id: UUID, *, for_update: bool = False) -> RowMapping | None:
        statement = select(organizations).where(
            organizations.c.id == org_id, organizations.c.deleted_at.is_(None)
        )
        if for_update:
            statement = statement.with_for_update()
        return await fetch_first(self.session, statement)

    async def exists(self, org_id: UUID) -> bool:
        return await self.get(org_id) is not None

    async def ensure_unique_name(self, name: str, *, except_id: UUID | None = None) -> None:
        await ensure_unique(
            self.session,
            organizations,
            NAME,
            name,
            scope=[organizations.c.deleted_at.is_(None)],
            except_id=except_id,
        )

    async def page(self, page: Page, only: UUID | None) -> tuple[list[RowMapping], int]:
        statement = select(organizations).where(organizations.c.deleted_at.is_(None))
        if only is not None:
            statement = statement.where(organizations.c.id == only)
        return await fetch_page(self.session, statement, page, order_by=[organizations.c.name])

    async def create(self, name: str) -> RowMapping:
        row = await fetch_one(
            self.session, insert(organizations).values(name=name).returning(organizations)
        )
        await self.session.execute(insert(org_policies).values(org_id=row["id"]))
        return row

    async def update(self, org_id: UUID, **values: Any) -> RowMapping:
        statement = (
            update(organizations)
            .where(organizations.c.id == org_id)
            .values(**values, version=organizations.c.version + 1, updated_at=utcnow())
            .returning(organizations)
        )
        return await fetch_one(self.session, statement)

    async def policy(self, org_id: UUID, *, for_update: bool = False) -> RowMapping | None:
        statement = select(org_policies).where(org_policies.c.org_id == org_id)
        if for_update:
            statement = statement.with_for_update()
        return await fetch_first(self.session, statement)

    async def update_policy(self, org_id: UUID, **values: Any) -> RowMapping:
        statement = (
            update(org_policies)
            .where(org_policies.c.org_id == org_id)
            .values(**values, updated_at=utcnow())
            .returning(org_policies)
        )
        return await fetch_one(self.session, statement)
