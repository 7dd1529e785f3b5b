"""``/api/v1/compliance-items``: inspection steps and their sign-off."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response

from amss.auth.deps import ActingCallerDep, CallerDep, UowDep
from amss.compliance import service
from amss.compliance.schemas import (
    ComplianceCreate,
    ComplianceItem,
    ComplianceUpdate,
    Result,
    SignOff,
)
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS, WRITE_ERRORS
from amss.kit.pagination import PageDep, set_total

router = APIRouter(prefix="/compliance-items", tags=["compliance"], route_class=JSONRoute)


@router.post(
    "",
    status_code=201,
    response_model=ComplianceItem,
    summary="Add a compliance item to a task",
    responses=WRITE_ERRORS,
)
async def create_item(body: ComplianceCreate, caller: CallerDep, uow: UowDep) -> ComplianceItem:
    return await service.create_item(uow, caller, body)


@router.get(
    "",
    response_model=list[ComplianceItem],
    summary="List compliance items, newest first",
    responses=READ_ERRORS,
)
async def list_items(
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    task_id: Annotated[UUID | None, Query()] = None,
    result: Annotated[Result | None, Query()] = None,
    signed: Annotated[bool | None, Query()] = None,
) -> list[ComplianceItem]:
    items, total = await service.list_items(
        uow, caller, page, {"task_id": task_id, "result": result, "signed": signed}
    )
    set_total(response, total)
    return items


@router.patch(
    "/{item_id}",
    response_model=ComplianceItem,
    summary="Change an unsigned compliance item",
    responses=WRITE_ERRORS,
)
async def update_item(
    item_id: UUID, body: ComplianceUpdate, caller: CallerDep, uow: UowDep
) -> ComplianceItem:
    return await service.update_item(uow, caller, item_id, body)


@router.patch(
    "/{item_id}/sign-off",
    response_model=ComplianceItem,
    summary="Sign off (mechanic or admin); the item is immutable afterwards",
    responses=WRITE_ERRORS,
)
async def sign_off(
    item_id: UUID, caller: CallerDep, uow: UowDep, body: Annotated[SignOff | None, Body()] = None
) -> ComplianceItem:
    return await service.sign_off(uow, caller, item_id, body or SignOff())
