"""``/api/v1/aircraft``: the fleet, utilization and each aircraft's due list."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from amss.auth.deps import ActingCallerDep, CallerDep, UowDep
from amss.fleet import service
from amss.fleet.schemas import (
    Aircraft,
    AircraftCreate,
    AircraftStatus,
    AircraftUpdate,
    UtilizationCreate,
    UtilizationEntry,
)
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS, WRITE_ERRORS
from amss.kit.pagination import PageDep, set_total
from amss.kit.types import PlainDate

router = APIRouter(prefix="/aircraft", tags=["aircraft"], route_class=JSONRoute)


@router.post(
    "", status_code=201, response_model=Aircraft, summary="Add an aircraft", responses=WRITE_ERRORS
)
async def create_aircraft(body: AircraftCreate, caller: CallerDep, uow: UowDep) -> Aircraft:
    return await service.create_aircraft(uow, caller, body)


@router.get(
    "",
    response_model=list[Aircraft],
    summary="List aircraft, by tail number",
    responses=READ_ERRORS,
)
async def list_aircraft(
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    status: Annotated[AircraftStatus | None, Query()] = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
    tail_number: Annotated[str | None, Query(max_length=20)] = None,
) -> list[Aircraft]:
    filters = {"status": status, "model": model, "tail_number": tail_number}
    items, total = await service.list_aircraft(uow, caller, page, filters)
    set_total(response, total)
    return items


@router.get(
    "/{aircraft_id}", response_model=Aircraft, summary="Read an aircraft", responses=READ_ERRORS
)
async def get_aircraft(aircraft_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Aircraft:
    return await service.get_aircraft(uow, caller, aircraft_id)


@router.patch(
    "/{aircraft_id}",
    response_model=Aircraft,
    summary="Change an aircraft (meters only go up; status rules of SPEC §6.6)",
    responses=WRITE_ERRORS,
)
async def update_aircraft(
    aircraft_id: UUID, body: AircraftUpdate, caller: CallerDep, uow: UowDep
) -> Aircraft:
    return await service.update_aircraft(uow, caller, aircraft_id, body)


@router.delete(
    "/{aircraft_id}",
    status_code=204,
    response_class=Response,
    summary="Remove an aircraft (soft delete; its scheduled tasks are cancelled)",
    responses=WRITE_ERRORS,
)
async def delete_aircraft(aircraft_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Response:
    await service.delete_aircraft(uow, caller, aircraft_id)
    return Response(status_code=204)


@router.post(
    "/{aircraft_id}/utilization",
    status_code=201,
    response_model=UtilizationEntry,
    summary="Record utilization (201 new; 200 when the external_id was already recorded)",
    responses={200: {"model": UtilizationEntry, "description": "already recorded"}, **WRITE_ERRORS},
)
async def record_utilization(
    aircraft_id: UUID, body: UtilizationCreate, caller: CallerDep, uow: UowDep, response: Response
) -> UtilizationEntry:
    entry, created = await service.record_utilization(uow, caller, aircraft_id, body)
    if not created:
        response.status_code = 200
    return entry


@router.get(
    "/{aircraft_id}/utilization",
    response_model=list[UtilizationEntry],
    summary="Utilization entries, newest flight date first",
    responses=READ_ERRORS,
)
async def list_utilization(
    aircraft_id: UUID,
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    date_from: Annotated[PlainDate | None, Query(alias="from")] = None,
    date_to: Annotated[PlainDate | None, Query(alias="to")] = None,
) -> list[UtilizationEntry]:
    items, total = await service.list_utilization(
        uow, caller, aircraft_id, page, date_from, date_to
    )
    set_total(response, total)
    return items
