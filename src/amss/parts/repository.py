"""Queries of part definitions, items and reservations, with availability and low stock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import Select, exists, func, insert, select, text
from sqlalchemy.engine import Row, RowMapping

from amss.db.scoped import NaturalKey, ScopedRepository, fetch_one
from amss.db.tables import (
    maintenance_programs,
    org_policies,
    part_definitions,
    part_items,
    part_reservations,
    program_parts,
)
from amss.kit.pagination import Page

_ACTIVE = part_reservations.c.state == "reserved"


def _is_reserved() -> Any:
    return exists().where(part_reservations.c.part_item_id == part_items.c.id, _ACTIVE)


def available_items(definition_id: Any, today: date) -> Select[Any]:
    """In stock, not deleted, unexpired and not reserved: what a task can take."""
    return select(part_items.c.id).where(
        part_items.c.part_definition_id == definition_id,
        part_items.c.status == "in_stock",
        part_items.c.deleted_at.is_(None),
        (part_items.c.expiry_date.is_(None)) | (part_items.c.expiry_date >= today),
        ~_is_reserved(),
    )


# Stock per definition, the low-stock flag flipped where it crosses: a definition below
# min_stock gets one alert, and another only after it has recovered.
_LOW_STOCK = text(
    """
    WITH stock AS (
        SELECT d.id, d.name, d.part_number, d.min_stock,
               (SELECT count(*) FROM part_items i
                WHERE i.part_definition_id = d.id AND i.status = 'in_stock' AND i.deleted_at IS NULL
                  AND (i.expiry_date IS NULL OR i.expiry_date >= :today)
                  AND NOT EXISTS (
                      SELECT 1 FROM part_reservations r
                      WHERE r.part_item_id = i.id AND r.state = 'reserved')) AS available
        FROM part_definitions d
        WHERE d.org_id = :org_id AND d.id = ANY(:definition_ids) AND d.deleted_at IS NULL
    )
    UPDATE part_definitions d SET low_stock_alerted = (s.available < s.min_stock)
    FROM stock s
    WHERE d.id = s.id AND d.low_stock_alerted <> (s.available < s.min_stock)
    RETURNING d.id, s.name, s.part_number, s.min_stock, s.available, d.low_stock_alerted
    """
)


class DefinitionRepository(ScopedRepository):
    table = part_definitions
    noun = "part definition"
    natural_keys = (
        NaturalKey("name", "a part definition named {value!r} already exists", func.lower),
    )

    def select(self) -> Select[Any]:
        # The organization's local date (SPEC §6.1), not the server's.
        zone = (
            select(org_policies.c.time_zone)
            .where(org_policies.c.org_id == part_definitions.c.org_id)
            .correlate(part_definitions)
            .scalar_subquery()
        )
        today = func.date(func.timezone(zone, func.now()))
        available = (
            select(func.count())
            .select_from(part_items)
            .where(
                part_items.c.part_definition_id == part_definitions.c.id,
                part_items.c.status == "in_stock",
                part_items.c.deleted_at.is_(None),
                (part_items.c.expiry_date.is_(None)) | (part_items.c.expiry_date >= today),
                ~_is_reserved(),
            )
            .scalar_subquery()
        )
        return select(part_definitions, available.label("available")).where(*self.scope())

    async def list_page(self, page: Page, filters: dict[str, Any]) -> tuple[list[RowMapping], int]:
        statement = self.select()
        if filters.get("category"):
            statement = statement.where(part_definitions.c.category == filters["category"])
        if filters.get("part_number"):
            statement = statement.where(part_definitions.c.part_number == filters["part_number"])
        return await self.page(statement, page, [part_definitions.c.name])

    async def has_live_items(self, definition_id: UUID) -> bool:
        statement = select(part_items.c.id).where(
            part_items.c.org_id == self.org_id,
            part_items.c.part_definition_id == definition_id,
            part_items.c.deleted_at.is_(None),
            part_items.c.status == "in_stock",
        )
        return (await self.session.execute(statement.limit(1))).first() is not None

    async def required_by_programs(self, definition_id: UUID) -> list[str]:
        statement = (
            select(maintenance_programs.c.name)
            .join(program_parts, program_parts.c.program_id == maintenance_programs.c.id)
            .where(
                program_parts.c.org_id == self.org_id,
                program_parts.c.part_definition_id == definition_id,
                maintenance_programs.c.deleted_at.is_(None),
            )
            .order_by(maintenance_programs.c.name)
        )
        return list((await self.session.execute(statement)).scalars().all())

    async def low_stock_crossings(
        self, definition_ids: Sequence[UUID], today: date
    ) -> list[Row[Any]]:
        if not definition_ids:
            return []
        rows = await self.session.execute(
            _LOW_STOCK,
            {"org_id": self.org_id, "definition_ids": list(definition_ids), "today": today},
        )
        return [row for row in rows.all() if row.low_stock_alerted]

    async def required_for_program(self, program_id: UUID) -> list[RowMapping]:
        statement = (
            select(
                program_parts.c.part_definition_id,
                program_parts.c.quantity,
                part_definitions.c.name,
            )
            .join(part_definitions, part_definitions.c.id == program_parts.c.part_definition_id)
            .where(program_parts.c.org_id == self.org_id, program_parts.c.program_id == program_id)
            .order_by(part_definitions.c.name)
        )
        return list((await self.session.execute(statement)).mappings().all())


class ItemRepository(ScopedRepository):
    table = part_items
    noun = "part item"
    natural_keys = (
        NaturalKey("serial_number", "a part item with serial number {value} already exists"),
    )

    def select(self) -> Select[Any]:
        return select(part_items, _is_reserved().label("reserved")).where(*self.scope())

    async def list_page(self, page: Page, filters: dict[str, Any]) -> tuple[list[RowMapping], int]:
        statement = self.select()
        if filters.get("status"):
            statement = statement.where(part_items.c.status == filters["status"])
        if filters.get("definition_id"):
            statement = statement.where(part_items.c.part_definition_id == filters["definition_id"])
        if filters.get("expiry_before"):
            statement = statement.where(part_items.c.expiry_date < filters["expiry_before"])
        return await self.page(
            statement,
            page,
            [part_items.c.expiry_date.asc().nulls_last(), part_items.c.serial_number],
        )

    async def pick_available(self, definition_id: UUID, quantity: int, today: date) -> list[UUID]:
        """Earliest expiry first; rows another transaction is taking are skipped, not waited for."""
        statement = (
            available_items(definition_id, today)
            .where(part_items.c.org_id == self.org_id)
            .order_by(
                part_items.c.expiry_date.asc().nulls_last(),
                part_items.c.created_at,
                part_items.c.id,
            )
            .limit(quantity)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(statement)).scalars().all())


class ReservationRepository(ScopedRepository):
    table = part_reservations
    noun = "part reservation"
    has_soft_delete = False

    def select(self) -> Select[Any]:
        return (
            select(part_reservations, part_items.c.part_definition_id, part_items.c.serial_number)
            .join(part_items, part_items.c.id == part_reservations.c.part_item_id)
            .where(*self.scope())
        )

    async def create(self, task_id: UUID, item_id: UUID, created_by: UUID | None) -> RowMapping:
        row = await fetch_one(
            self.session,
            insert(part_reservations)
            .values(
                org_id=self.org_id, task_id=task_id, part_item_id=item_id, created_by=created_by
            )
            .returning(part_reservations.c.id),
        )
        created = await self.get(row["id"])
        assert created is not None
        return created

    async def of_task(
        self, task_id: UUID, *, active_only: bool = False, for_update: bool = False
    ) -> list[RowMapping]:
        statement = self.select().where(part_reservations.c.task_id == task_id)
        if active_only:
            statement = statement.where(_ACTIVE)
        if for_update:
            statement = statement.with_for_update(of=part_reservations)
        return list(
            (await self.session.execute(statement.order_by(part_reservations.c.created_at)))
            .mappings()
            .all()
        )

    async def list_page(self, page: Page, filters: dict[str, Any]) -> tuple[list[RowMapping], int]:
        statement = self.select()
        for name in ("task_id", "part_item_id", "state"):
            if filters.get(name):
                statement = statement.where(part_reservations.c[name] == filters[name])
        return await self.page(statement, page, [part_reservations.c.created_at.desc()])
