"""Queries of webhooks and their deliveries."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Select, func, select, update
from sqlalchemy.engine import RowMapping

from amss.db.scoped import ScopedRepository, fetch_first
from amss.db.tables import webhook_deliveries, webhooks
from amss.kit.pagination import Page
from amss.kit.timefmt import utcnow

RETRYABLE = ("pending", "failed")


class WebhookRepository(ScopedRepository):
    table = webhooks
    noun = "webhook"

    async def list_page(self, page: Page) -> tuple[list[RowMapping], int]:
        return await self.page(self.select(), page, [webhooks.c.created_at.desc()])

    async def get_with_deleted(self, webhook_id: UUID) -> RowMapping | None:
        """A webhook of this organization, deleted or not: its history stays readable."""
        return await fetch_first(
            self.session,
            select(webhooks).where(webhooks.c.org_id == self.org_id, webhooks.c.id == webhook_id),
        )

    async def count_live(self) -> int:
        statement = select(func.count()).select_from(webhooks).where(*self.scope())
        return int(await self.session.scalar(statement) or 0)


class DeliveryRepository(ScopedRepository):
    table = webhook_deliveries
    noun = "delivery"
    has_soft_delete = False

    def select(self) -> Select[Any]:
        return select(webhook_deliveries).where(*self.scope())

    async def of_webhook(
        self, webhook_id: UUID, page: Page, status: str | None
    ) -> tuple[list[RowMapping], int]:
        statement = self.select().where(webhook_deliveries.c.webhook_id == webhook_id)
        if status:
            statement = statement.where(webhook_deliveries.c.status == status)
        return await self.page(statement, page, [webhook_deliveries.c.created_at.desc()])

    async def find(self, webhook_id: UUID, delivery_id: UUID) -> RowMapping | None:
        return await fetch_first(
            self.session,
            self.select()
            .where(
                webhook_deliveries.c.webhook_id == webhook_id,
                webhook_deliveries.c.id == delivery_id,
            )
            .with_for_update(),
        )

    async def cancel_open(self, webhook_id: UUID) -> None:
        await self.session.execute(
            update(webhook_deliveries)
            .where(
                *self.scope(),
                webhook_deliveries.c.webhook_id == webhook_id,
                webhook_deliveries.c.status.in_(RETRYABLE),
            )
            .values(status="cancelled", next_attempt_at=None, updated_at=utcnow())
        )
