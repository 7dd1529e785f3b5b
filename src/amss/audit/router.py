"""``/api/v1/audit-logs``: read, export as CSV, verify the hash chain."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from amss.audit import service
from amss.audit.schemas import AuditAction, AuditFilters, AuditLog, ChainVerification
from amss.auth.deps import ActingCallerDep, UowDep, writes
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS
from amss.kit.pagination import PageDep, set_total
from amss.kit.types import UtcDateTime

router = APIRouter(prefix="/audit-logs", tags=["audit"], route_class=JSONRoute)


async def audit_filters(
    entity_type: Annotated[str | None, Query(max_length=100)] = None,
    entity_id: Annotated[UUID | None, Query()] = None,
    user_id: Annotated[UUID | None, Query()] = None,
    action: Annotated[AuditAction | None, Query()] = None,
    from_: Annotated[
        UtcDateTime | None, Query(alias="from", description="RFC 3339, inclusive")
    ] = None,
    to: Annotated[UtcDateTime | None, Query(description="RFC 3339, exclusive")] = None,
) -> AuditFilters:
    return AuditFilters(
        entity_type=entity_type,
        entity_id=entity_id,
        user_id=user_id,
        action=action,
        from_=from_,
        to=to,
    )


FiltersDep = Annotated[AuditFilters, Depends(audit_filters)]


@router.get(
    "", response_model=list[AuditLog], summary="Audit rows, newest first", responses=READ_ERRORS
)
async def list_audit_logs(
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    filters: FiltersDep,
) -> list[AuditLog]:
    items, total = await service.list_audit_logs(uow, caller, filters, page)
    set_total(response, total)
    return items


@router.get(
    "/export",
    summary="Every matching audit row as CSV (streamed, oldest first)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "CSV with a header row"},
        **READ_ERRORS,
    },
)
@writes  # the export itself is audited
async def export_audit_logs(
    request: Request,
    caller: ActingCallerDep,
    uow: UowDep,
    filters: FiltersDep,
) -> StreamingResponse:
    await service.start_export(uow, caller, filters)
    return StreamingResponse(
        service.export_csv(request.app.state.database.session_factory, caller.org_id, filters),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit-logs.csv"'},
    )


@router.get(
    "/verify",
    response_model=ChainVerification,
    summary="Recompute the hash chain",
    responses=READ_ERRORS,
)
async def verify_audit_chain(caller: ActingCallerDep, uow: UowDep) -> ChainVerification:
    return await service.verify_chain(uow, caller)
