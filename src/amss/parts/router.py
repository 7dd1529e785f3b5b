"""``/api/v1/part-definitions``, ``/part-items`` and ``/part-reservations``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from amss.auth.deps import ActingCallerDep, CallerDep, UowDep
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS, WRITE_ERRORS
from amss.kit.pagination import PageDep, set_total
from amss.kit.types import PlainDate
from amss.parts import service
from amss.parts.schemas import (
    Definition,
    DefinitionCreate,
    DefinitionUpdate,
    Item,
    ItemCreate,
    ItemStatus,
    ItemUpdate,
    Reservation,
    ReservationCreate,
    ReservationState,
    ReservationTransition,
)

router = APIRouter(tags=["parts"], route_class=JSONRoute)


@router.post(
    "/part-definitions",
    status_code=201,
    response_model=Definition,
    summary="Add a part definition",
    responses=WRITE_ERRORS,
)
async def create_definition(body: DefinitionCreate, caller: CallerDep, uow: UowDep) -> Definition:
    return await service.create_definition(uow, caller, body)


@router.get(
    "/part-definitions",
    response_model=list[Definition],
    summary="List part definitions, by name",
    responses=READ_ERRORS,
)
async def list_definitions(
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    category: Annotated[str | None, Query(max_length=100)] = None,
    part_number: Annotated[str | None, Query(max_length=100)] = None,
) -> list[Definition]:
    items, total = await service.list_definitions(
        uow, caller, page, {"category": category, "part_number": part_number}
    )
    set_total(response, total)
    return items


@router.get(
    "/part-definitions/{definition_id}",
    response_model=Definition,
    summary="Read a part definition",
    responses=READ_ERRORS,
)
async def get_definition(definition_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Definition:
    return await service.get_definition(uow, caller, definition_id)


@router.patch(
    "/part-definitions/{definition_id}",
    response_model=Definition,
    summary="Change a part definition",
    responses=WRITE_ERRORS,
)
async def update_definition(
    definition_id: UUID, body: DefinitionUpdate, caller: CallerDep, uow: UowDep
) -> Definition:
    return await service.update_definition(uow, caller, definition_id, body)


@router.delete(
    "/part-definitions/{definition_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a part definition without stock",
    responses=WRITE_ERRORS,
)
async def delete_definition(definition_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Response:
    await service.delete_definition(uow, caller, definition_id)
    return Response(status_code=204)


@router.post(
    "/part-items",
    status_code=201,
    response_model=Item,
    summary="Add a serialized part item",
    responses=WRITE_ERRORS,
)
async def create_item(body: ItemCreate, caller: CallerDep, uow: UowDep) -> Item:
    return await service.create_item(uow, caller, body)


@router.get(
    "/part-items",
    response_model=list[Item],
    summary="List part items, earliest expiry first",
    responses=READ_ERRORS,
)
async def list_items(
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    status: Annotated[ItemStatus | None, Query()] = None,
    definition_id: Annotated[UUID | None, Query()] = None,
    expiry_before: Annotated[PlainDate | None, Query(description="YYYY-MM-DD")] = None,
) -> list[Item]:
    filters = {"status": status, "definition_id": definition_id, "expiry_before": expiry_before}
    items, total = await service.list_items(uow, caller, page, filters)
    set_total(response, total)
    return items


@router.get(
    "/part-items/{item_id}", response_model=Item, summary="Read a part item", responses=READ_ERRORS
)
async def get_item(item_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Item:
    return await service.get_item(uow, caller, item_id)


@router.patch(
    "/part-items/{item_id}",
    response_model=Item,
    summary="Change a part item (dispose: not while reserved)",
    responses=WRITE_ERRORS,
)
async def update_item(item_id: UUID, body: ItemUpdate, caller: CallerDep, uow: UowDep) -> Item:
    return await service.update_item(uow, caller, item_id, body)


@router.delete(
    "/part-items/{item_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a part item (not while reserved)",
    responses=WRITE_ERRORS,
)
async def delete_item(item_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Response:
    await service.delete_item(uow, caller, item_id)
    return Response(status_code=204)


@router.post(
    "/part-reservations",
    status_code=201,
    response_model=Reservation,
    summary="Reserve a part item for an open task",
    responses=WRITE_ERRORS,
)
async def create_reservation(
    body: ReservationCreate, caller: CallerDep, uow: UowDep
) -> Reservation:
    row = await service.create_reservation(
        uow, caller, body.task_id, body.part_item_id, body.org_id
    )
    return row


@router.get(
    "/part-reservations",
    response_model=list[Reservation],
    summary="List reservations, newest first",
    responses=READ_ERRORS,
)
async def list_reservations(
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    task_id: Annotated[UUID | None, Query()] = None,
    part_item_id: Annotated[UUID | None, Query()] = None,
    state: Annotated[ReservationState | None, Query()] = None,
) -> list[Reservation]:
    filters = {"task_id": task_id, "part_item_id": part_item_id, "state": state}
    items, total = await service.list_reservations(uow, caller, page, filters)
    set_total(response, total)
    return items


@router.patch(
    "/part-reservations/{reservation_id}/state",
    response_model=Reservation,
    summary="Use or release a reservation",
    responses=WRITE_ERRORS,
)
async def transition_reservation(
    reservation_id: UUID, body: ReservationTransition, caller: CallerDep, uow: UowDep
) -> Reservation:
    row = await service.transition_reservation(
        uow, caller, reservation_id, body.new_state, body.org_id
    )
    return row
