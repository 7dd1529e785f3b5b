"""``/api/v1/aircraft/{id}/compliance-records`` and ``…/requirements``: when each requirement
was last done on one aircraft, and its inspection status (its due list is a report:
``reports/router.py``)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from amss.auth.deps import ActingCallerDep, CallerDep, UowDep
from amss.due import service
from amss.due.schemas import ComplianceRecord, RecordCreate, Requirement
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS, WRITE_ERRORS
from amss.kit.pagination import PageDep, set_total

router = APIRouter(prefix="/aircraft", tags=["aircraft"], route_class=JSONRoute)


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
