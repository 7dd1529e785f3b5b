"""``/api/v1/organizations``: tenants and their policies."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from amss.auth.deps import CallerDep, UowDep
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS, WRITE_ERRORS
from amss.kit.pagination import PageDep, set_total
from amss.orgs import service
from amss.orgs.schemas import (
    Organization,
    OrganizationCreate,
    OrganizationUpdate,
    Policy,
    PolicyUpdate,
)

router = APIRouter(prefix="/organizations", tags=["organizations"], route_class=JSONRoute)


@router.post(
    "",
    status_code=201,
    response_model=Organization,
    summary="Create an organization (admin)",
    responses=WRITE_ERRORS,
)
async def create_organization(
    body: OrganizationCreate, caller: CallerDep, uow: UowDep
) -> Organization:
    return await service.create_organization(uow, caller, body)


@router.get(
    "",
    response_model=list[Organization],
    summary="List organizations (admins see all)",
    responses=READ_ERRORS,
)
async def list_organizations(
    caller: CallerDep, uow: UowDep, page: PageDep, response: Response
) -> list[Organization]:
    items, total = await service.list_organizations(uow, caller, page)
    set_total(response, total)
    return items


@router.get(
    "/{org_id}", response_model=Organization, summary="Read an organization", responses=READ_ERRORS
)
async def get_organization(org_id: UUID, caller: CallerDep, uow: UowDep) -> Organization:
    return await service.get_organization(uow, caller, org_id)


@router.patch(
    "/{org_id}",
    response_model=Organization,
    summary="Rename an organization",
    responses=WRITE_ERRORS,
)
async def update_organization(
    org_id: UUID, body: OrganizationUpdate, caller: CallerDep, uow: UowDep
) -> Organization:
    return await service.update_organization(uow, caller, org_id, body)


@router.get(
    "/{org_id}/policy",
    response_model=Policy,
    summary="Read an organization's policy",
    responses=READ_ERRORS,
)
async def get_policy(org_id: UUID, caller: CallerDep, uow: UowDep) -> Policy:
    return await service.get_policy(uow, caller, org_id)


@router.patch(
    "/{org_id}/policy",
    response_model=Policy,
    summary="Change an organization's policy",
    responses=WRITE_ERRORS,
)
async def update_policy(org_id: UUID, body: PolicyUpdate, caller: CallerDep, uow: UowDep) -> Policy:
    return await service.update_policy(uow, caller, org_id, body)
