"""Queries of the audit trail: filtered pages, a streamed export, and chain verification."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from sqlalchemy import Select, select, text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from amss.audit.schemas import AuditFilters, ChainVerification
from amss.db.scoped import fetch_page
from amss.db.tables import audit_logs
from amss.kit.pagination import Page

_VERIFY = text(
    """
    WITH chain AS (
        SELECT a.seq, a.id, a.hash, a.prev_hash,
               audit_row_hash(a) AS recomputed,
               lag(a.hash) OVER w AS previous_hash,
               lag(a.seq) OVER w AS previous_seq
        FROM audit_logs a
        WHERE a.org_id = :org_id
        WINDOW w AS (ORDER BY a.seq)
    ),
    broken AS (
        SELECT seq, id FROM chain
        WHERE hash <> recomputed
           OR prev_hash <> coalesce(previous_hash, '')
           OR seq <> coalesce(previous_seq, 0) + 1
        ORDER BY seq
        LIMIT 1
    ),
    last AS (SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1)
    SELECT (SELECT count(*) FROM chain) AS checked,
           (SELECT seq FROM broken) AS broken_seq,
           (SELECT id FROM broken) AS broken_id,
           (SELECT seq FROM last) AS last_seq,
           (SELECT hash FROM last) AS last_hash,
           h.last_seq AS head_seq,
           h.last_hash AS head_hash
    FROM (SELECT 1) AS one
    LEFT JOIN audit_chain_heads h ON h.org_id = :org_id
    """
)


class AuditRepository:
    """Audit rows of one organization (never updated, never deleted)."""

    def __init__(self, session: AsyncSession, org_id: UUID) -> None:
        self.session = session
        self.org_id = org_id

    async def newest(self) -> RowMapping:
        """The last row of the organization's chain (by ``seq``)."""
        statement = (
            select(audit_logs)
            .where(audit_logs.c.org_id == self.org_id)
            .order_by(audit_logs.c.seq.desc())
            .limit(1)
        )
        return (await self.session.execute(statement)).mappings().one()

    def filtered(self, filters: AuditFilters) -> Select[Any]:
        statement = select(audit_logs).where(audit_logs.c.org_id == self.org_id)
        if filters.entity_type:
            statement = statement.where(audit_logs.c.entity_type == filters.entity_type)
        if filters.entity_id:
            statement = statement.where(audit_logs.c.entity_id == filters.entity_id)
        if filters.user_id:
            statement = statement.where(audit_logs.c.user_id == filters.user_id)
        if filters.action:
            statement = statement.where(audit_logs.c.action == filters.action)
        if filters.from_:
            statement = statement.where(audit_logs.c.timestamp >= filters.from_)
        if filters.to:
            statement = statement.where(audit_logs.c.timestamp < filters.to)
        return statement

    async def page(self, filters: AuditFilters, page: Page) -> tuple[list[RowMapping], int]:
        return await fetch_page(
            self.session, self.filtered(filters), page, order_by=[audit_logs.c.seq.desc()]
        )

    async def stream(
        self, filters: AuditFilters, batch: int = 1000
    ) -> AsyncIterator[list[RowMapping]]:
        """Every matching row, oldest first, in batches from a server-side cursor."""
        statement = (
            self.filtered(filters).order_by(audit_logs.c.seq).execution_options(yield_per=batch)
        )
        result = await self.session.stream(statement)
        async for partition in result.mappings().partitions(batch):
            yield list(partition)

    async def verify(self) -> ChainVerification:
        row = (await self.session.execute(_VERIFY, {"org_id": self.org_id})).mappings().one()
        checked = int(row["checked"])
        if row["broken_seq"] is not None:
            return ChainVerification(
                ok=False,
                checked=checked,
                first_broken_seq=row["broken_seq"],
                first_broken_id=row["broken_id"],
            )
        head_seq = row["head_seq"] or 0
        last_seq = row["last_seq"] or 0
        if head_seq != last_seq or (row["head_hash"] or "") != (row["last_hash"] or ""):
            # Rows were removed from the end of the chain: the head remembers more.
            return ChainVerification(
                ok=False, checked=checked, first_broken_seq=last_seq + 1, first_broken_id=None
            )
        return ChainVerification(
            ok=True, checked=checked, first_broken_seq=None, first_broken_id=None
        )
