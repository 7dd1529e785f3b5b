"""``/api/v1/aircraft/{id}/due-list``, ``…/compliance-records``, ``…/requirements``: what is
due on one aircraft, when each requirement was last done, and its inspection status."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from amss.auth.deps import ActingCallerDep, CallerDep, UowDep
from amss.due import service
from amss.due.schemas import ComplianceRecord, DueListItem, RecordCreate, Requirement
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS, WRITE_ERRORS
from amss.kit.pagination import PageDep, json_page, set_total

router = APIRouter(prefix="/aircraft", tags=["aircraft"], route_class=JSONRoute)


@router.get(
    "/{aircraft_id}/due-list",
    response_model=list[DueListItem],
    summary="Open tasks of this aircraft, most urgent first",
    responses=READ_ERRORS,
)
async def due_list(
    aircraft_id: UUID,
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    days: Annotated[
        int | None, Query(ge=0, le=36500, description="horizon in days (none by default)")
    ] = None,
) -> Response:
    return json_page(await service.aircraft_due_list(uow, caller, aircraft_id, page, days))


@router.post(
    "/{aircraft_id}/compliance-records",
    status_code=201,
    response_model=ComplianceRecord,
    summary="Record when a requirement was last done on this aircraft (re-bases its open task)",
    responses=WRITE_ERRORS,
)
async def record_last_done(
    aircraft_id: UUID, body: RecordCreate, caller: CallerDep, uow: UowDep
) -> ComplianceRecord:
    return await service.record_last_done(uow, caller, aircraft_id, body)


@router.get(
    "/{aircraft_id}/compliance-records",
    response_model=list[ComplianceRecord],
    summary="Last-done records of this aircraft, newest first",
    responses=READ_ERRORS,
)
async def list_records(
    aircraft_id: UUID,
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    program_id: Annotated[UUID | None, Query()] = None,
) -> list[ComplianceRecord]:
    items, total = await service.list_records(uow, caller, aircraft_id, program_id, page)
    set_total(response, total)
    return items


@router.get(
    "/{aircraft_id}/requirements",
    response_model=list[Requirement],
    summary="Every applicable requirement with its last done, open task and due answer",
    responses=READ_ERRORS,
)
async def requirements(
    aircraft_id: UUID, caller: ActingCallerDep, uow: UowDep, page: PageDep, response: Response
) -> list[Requirement]:
    items, total = await service.requirements(uow, caller, aircraft_id, page)
    set_total(response, total)
    return items
