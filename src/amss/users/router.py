"""``/api/v1/users``: the users of an organization."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from amss.auth.deps import ActingCallerDep, CallerDep, UowDep
from amss.auth.rules import Role
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS, WRITE_ERRORS
from amss.kit.pagination import PageDep, set_total
from amss.users import service
from amss.users.schemas import User, UserCreate, UserUpdate

router = APIRouter(prefix="/users", tags=["users"], route_class=JSONRoute)


@router.post(
    "", status_code=201, response_model=User, summary="Create a user", responses=WRITE_ERRORS
)
async def create_user(body: UserCreate, caller: CallerDep, uow: UowDep) -> User:
    return await service.create_user(uow, caller, body)


@router.get("", response_model=list[User], summary="List users, by email", responses=READ_ERRORS)
async def list_users(
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    role: Annotated[Role | None, Query()] = None,
    email: Annotated[str | None, Query(max_length=254)] = None,
) -> list[User]:
    filters = {"role": role, "email": email.strip().lower() if email else None}
    items, total = await service.list_users(uow, caller, page, filters)
    set_total(response, total)
    return items


@router.get("/{user_id}", response_model=User, summary="Read a user", responses=READ_ERRORS)
async def get_user(user_id: UUID, caller: ActingCallerDep, uow: UowDep) -> User:
    return await service.get_user(uow, caller, user_id)


@router.patch(
    "/{user_id}",
    response_model=User,
    summary="Change a user (email, name, role, password)",
    responses=WRITE_ERRORS,
)
async def update_user(user_id: UUID, body: UserUpdate, caller: CallerDep, uow: UowDep) -> User:
    return await service.update_user(uow, caller, user_id, body)


@router.delete(
    "/{user_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a user (soft)",
    responses=WRITE_ERRORS,
)
async def delete_user(user_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Response:
    await service.delete_user(uow, caller, user_id)
    return Response(status_code=204)
