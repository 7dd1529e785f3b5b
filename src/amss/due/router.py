"""``/api/v1/aircraft/{id}/due-list``: what is due on one aircraft, most urgent first."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from amss.auth.deps import ActingCallerDep, UowDep
from amss.due import service
from amss.due.schemas import DueListItem
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS
from amss.kit.pagination import PageDep, set_total

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
    response: Response,
    days: Annotated[
        int | None, Query(ge=0, le=36500, description="horizon in days (none by default)")
    ] = None,
) -> list[DueListItem]:
    items, total = await service.aircraft_due_list(uow, caller, aircraft_id, page, days)
    set_total(response, total)
    return items
