"""Queries of users (scoped to one organization) and of their refresh tokens."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import update
from sqlalchemy.engine import RowMapping

from amss.db.scoped import NaturalKey, ScopedRepository
from amss.db.tables import refresh_tokens, users
from amss.kit.pagination import Page
from amss.kit.timefmt import utcnow


class UserRepository(ScopedRepository):
    table = users
    noun = "user"
    natural_keys = (
        NaturalKey("email", "a user with email {value} already exists in this organization"),
    )

    async def certifier(self, caller_user_id: UUID | None) -> RowMapping | None:
        """The acting user's own row, for a certifying act (its certificate, its
        authorizations); None for the system."""
        if caller_user_id is None:
            return None
        return await self.get(caller_user_id)

    async def list_page(self, page: Page, filters: dict[str, Any]) -> tuple[list[RowMapping], int]:
        statement = self.select()
        if filters.get("role"):
            statement = statement.where(users.c.role == filters["role"])
        if filters.get("email"):
            statement = statement.where(users.c.email == filters["email"])
        return await self.page(statement, page, [users.c.email])

    async def revoke_refresh_tokens(self, user_id: UUID) -> None:
        await self.session.execute(
            update(refresh_tokens)
            .where(
                refresh_tokens.c.org_id == self.org_id,
                refresh_tokens.c.user_id == user_id,
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
