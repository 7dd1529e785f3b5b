"""Use cases of the audit trail: list, export (audited itself) and verify."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from amss.audit import journal
from amss.audit.repository import AuditRepository
from amss.audit.schemas import ActionLogCreate, AuditFilters, AuditLog, ChainVerification
from amss.auth.rules import Caller, authorize
from amss.db.tables import organizations
from amss.db.uow import UnitOfWork
from amss.kit.csvsafe import csv_lines
from amss.kit.jsonable import to_jsonable
from amss.kit.pagination import Page
from amss.kit.tenancy import act_in

EXPORT_COLUMNS = (
    "seq",
    "id",
    "timestamp",
    "org_id",
    "entity_type",
    "entity_id",
    "action",
    "user_id",
    "actor",
    "request_id",
    "ip_address",
    "user_agent",
    "entity_version",
    "details",
    "prev_hash",
    "hash",
)


def _scope_filters(caller: Caller, filters: AuditFilters) -> AuditFilters:
    # Mechanics read their own actions only (SPEC §3).
    if caller.role == "mechanic":
        return filters.model_copy(update={"user_id": caller.user_id})
    return filters


async def list_audit_logs(
    uow: UnitOfWork, caller: Caller, filters: AuditFilters, page: Page
) -> tuple[list[AuditLog], int]:
    authorize(caller, "audit.read")
    rows, total = await AuditRepository(uow.session, caller.org_id).page(
        _scope_filters(caller, filters), page
    )
    return [AuditLog.model_validate(dict(row)) for row in rows], total


async def start_export(uow: UnitOfWork, caller: Caller, filters: AuditFilters) -> None:
    """Authorize and audit the export; the rows are streamed afterwards by ``export_csv``."""
    authorize(caller, "audit.export")
    await journal.record(
        uow,
        caller,
        entity_type="audit_log",
        entity_id=None,
        action="export",
        details={"format": "csv", "filters": filters.model_dump(exclude_none=True)},
    )
    await uow.commit()


async def export_csv(
    session_factory: async_sessionmaker[AsyncSession], org_id: UUID, filters: AuditFilters
) -> AsyncIterator[str]:
    """Stream every matching row as CSV from a server-side cursor (no row cap, flat memory)."""
    yield csv_lines([EXPORT_COLUMNS])
    async with UnitOfWork(session_factory) as uow:
        async for batch in AuditRepository(uow.session, org_id).stream(filters):
            # User agents, entity types and details are written by clients: neutralised.
            yield csv_lines(
                [
                    json.dumps(row["details"], sort_keys=True)
                    if name == "details"
                    else to_jsonable(row[name])
                    for name in EXPORT_COLUMNS
                ]
                for row in batch
            )


async def log_action(uow: UnitOfWork, caller: Caller, data: ActionLogCreate) -> AuditLog:
    """Write an action done outside AMSS (an integration's own work) into the audit trail:
    one row, chained like every other, attributed to the caller. Admins only."""
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "audit.log")
    await journal.record(
        uow,
        caller,
        entity_type=data.entity_type,
        entity_id=data.entity_id,
        action=data.action,
        details=data.details,
    )
    # Appends to one chain are serialized (the trigger locks its head until commit), so the
    # newest row of the chain in this transaction is the one just written.
    row = await AuditRepository(uow.session, caller.org_id).newest()
    await uow.commit()
    return AuditLog.model_validate(dict(row))


async def verify_chain(uow: UnitOfWork, caller: Caller) -> ChainVerification:
    authorize(caller, "audit.verify")
    return await AuditRepository(uow.session, caller.org_id).verify()


async def verify_all(
    uow: UnitOfWork, org_id: UUID | None = None
) -> list[tuple[UUID, str, ChainVerification]]:
    """For ``amss audit verify``: one or every organization (the system verifies, no caller)."""
    statement = select(organizations.c.id, organizations.c.name).order_by(organizations.c.name)
    if org_id is not None:
        statement = statement.where(organizations.c.id == org_id)
    results = []
    for org in (await uow.session.execute(statement)).mappings().all():
        results.append(
            (org["id"], org["name"], await AuditRepository(uow.session, org["id"]).verify())
        )
    return results
