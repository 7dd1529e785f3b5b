"""The repository base: organization scoping, paging, lookups and updates in one place."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Executable,
    Select,
    Table,
    TextClause,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from amss.kit.errors import Conflict, NotFound
from amss.kit.jsonable import SECRET_FIELDS, to_jsonable
from amss.kit.pagination import Page
from amss.kit.patching import Changes, diff
from amss.kit.timefmt import utcnow

TOTAL = "_total"


async def fetch_first(session: AsyncSession, statement: Executable) -> RowMapping | None:
    row: RowMapping | None = (await session.execute(statement)).mappings().first()
    return row


async def fetch_one(session: AsyncSession, statement: Executable) -> RowMapping:
    row: RowMapping = (await session.execute(statement)).mappings().one()
    return row


async def fetch_page(
    session: AsyncSession,
    statement: Select[Any] | TextClause,
    page: Page,
    *,
    order_by: Sequence[ColumnElement[Any]] = (),
    order_sql: str = "",
    params: Mapping[str, Any] | None = None,
) -> tuple[list[RowMapping], int]:
    """One page of rows and the total count of every matching row (``X-Total-Count``).

    One round trip (a window count) when the page has rows; past the end the total is
    counted separately, so the header is the same on every page of a list.
    ``statement`` is a Select ordered by ``order_by``, or textual SQL (bound with
    ``params``) ordered by ``order_sql`` over its output columns.
    """
    bound = dict(params or {})
    if isinstance(statement, TextClause):
        inner = statement.text
        paged = text(
            f"SELECT *, count(*) OVER () AS {TOTAL} FROM ({inner}) AS matching"
            f" ORDER BY {order_sql} LIMIT :_limit OFFSET :_offset"
        )
        counted = text(f"SELECT count(*) FROM ({inner}) AS matching")
        result = await session.execute(
            paged, {**bound, "_limit": page.limit, "_offset": page.offset}
        )
        rows = list(result.mappings().all())
        if rows or page.offset == 0:
            return rows, int(rows[0][TOTAL]) if rows else 0
        return [], int(await session.scalar(counted, bound) or 0)
    windowed = statement.add_columns(func.count().over().label(TOTAL))
    query = windowed.order_by(*order_by).limit(page.limit).offset(page.offset)
    rows = list((await session.execute(query, bound)).mappings().all())
    if rows or page.offset == 0:
        return rows, int(rows[0][TOTAL]) if rows else 0
    total = await session.scalar(select(func.count()).select_from(statement.subquery()), bound)
    return [], int(total or 0)


@dataclass(frozen=True)
class NaturalKey:
    """A field unique among the live rows of an organization, as its unique index reads it.

    ``normalize`` is the SQL function the index applies (``upper`` for tail numbers), and
    ``message`` the 409 a client sees, with ``{value}`` in it.
    """

    column: str
    message: str
    normalize: Callable[[Any], ColumnElement[Any]] | None = None


async def ensure_unique(
    session: AsyncSession,
    table: Table,
    key: NaturalKey,
    value: Any,
    *,
    scope: Sequence[ColumnElement[bool]],
    except_id: UUID | None = None,
) -> None:
    """409 with the key's message when a row in ``scope`` already holds ``value``."""
    stored: ColumnElement[Any] = table.c[key.column]
    wanted: Any = value
    if key.normalize is not None:
        stored, wanted = key.normalize(stored), key.normalize(value)
    statement = select(table.c.id).where(*scope, stored == wanted)
    if except_id is not None:
        statement = statement.where(table.c.id != except_id)
    if (await session.execute(statement.limit(1))).first() is not None:
        raise Conflict(key.message.format(value=value))


class ScopedRepository:
    """Queries of one tenant table, always filtered by ``org_id`` (and live rows only).

    A row of another organization is simply not found, which callers report as 404.
    """

    table: ClassVar[Table]
    noun: ClassVar[str]
    has_soft_delete: ClassVar[bool] = True
    natural_keys: ClassVar[tuple[NaturalKey, ...]] = ()

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
            statement = statement.with_for_update(of=self.table)
        return await fetch_first(self.session, statement)

    async def get_or_404(self, row_id: UUID, *, for_update: bool = False) -> RowMapping:
        """The row, or 404 ``"<noun> not found"`` (also for another organization's id)."""
        row = await self.get(row_id, for_update=for_update)
        if row is None:
            raise NotFound(f"{self.noun} not found")
        return row

    async def page(
        self, statement: Select[Any], page: Page, order_by: Sequence[ColumnElement[Any]]
    ) -> tuple[list[RowMapping], int]:
        return await fetch_page(self.session, statement, page, order_by=order_by)

    async def ensure_unique(
        self, column: str, value: Any, *, except_id: UUID | None = None
    ) -> None:
        """409 when another live row of the organization already holds this natural key."""
        key = next(k for k in self.natural_keys if k.column == column)
        await ensure_unique(
            self.session, self.table, key, value, scope=self.scope(), except_id=except_id
        )

    async def insert(self, **values: Any) -> RowMapping:
        statement = insert(self.table).values(org_id=self.org_id, **values).returning(self.table)
        return await fetch_one(self.session, statement)

    async def update(self, row_id: UUID, **values: Any) -> RowMapping | None:
        """Change a live row (``version`` and ``updated_at`` follow where the table has them);
        None when not found."""
        stamped = dict(values)
        if "version" in self.table.c:
            stamped["version"] = self.table.c.version + 1
        if "updated_at" in self.table.c:
            stamped["updated_at"] = utcnow()
        statement = (
            update(self.table)
            .where(*self.scope(), self.table.c.id == row_id)
            .values(**stamped)
            .returning(self.table)
        )
        return await fetch_first(self.session, statement)

    async def patch(
        self, current: RowMapping, sent: Mapping[str, Any]
    ) -> tuple[RowMapping, Changes]:
        """Apply the sent fields that really change a row already read (and locked).

        Nothing changes → ``(current, {})``: no write, no version bump, and so no audit row
        for the caller to write. Every PATCH in AMSS goes through here. The changes
        returned never name a secret (a new password hash is written, not described).
        """
        written = {
            name: value
            for name, value in sent.items()
            if name in SECRET_FIELDS or to_jsonable(current.get(name)) != to_jsonable(value)
        }
        if not written:
            return current, {}
        row = await self.update(current["id"], **written)
        if row is None:
            raise NotFound(f"{self.noun} not found")
        return row, diff(current, row, written.keys())

    async def soft_delete(self, row_id: UUID) -> RowMapping | None:
        return await self.update(row_id, deleted_at=utcnow())
