"""Use cases of organizations and their policies."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller, authorize
from amss.db.uow import UnitOfWork
from amss.kit.errors import Conflict, Forbidden, NotFound
from amss.kit.pagination import Page
from amss.kit.patching import patch_values
from amss.orgs.repository import OrganizationRepository
from amss.orgs.schemas import (
    QUOTA_FIELDS,
    REQUIRED_POLICY_FIELDS,
    OrganizationCreate,
    OrganizationUpdate,
    PolicyUpdate,
)


async def act_in(uow: UnitOfWork, caller: Caller, org_id: UUID | None) -> Caller:
    """The caller acting in ``org_id``: honoured for admins (404 if it does not exist)."""
    if org_id is None or caller.role != "admin" or org_id == caller.org_id:
        return caller
    if not await OrganizationRepository(uow.session).exists(org_id):
        raise NotFound("organization not found")
    return caller.acting_in(org_id)


def _visible(caller: Caller, org_id: UUID) -> bool:
    return caller.role == "admin" or org_id == caller.home_org_id


async def _get_visible(
    uow: UnitOfWork, caller: Caller, org_id: UUID, *, for_update: bool = False
) -> RowMapping:
    row = None
    if _visible(caller, org_id):
        row = await OrganizationRepository(uow.session).get(org_id, for_update=for_update)
    if row is None:
        raise NotFound("organization not found")
    return row


async def create_organization(
    uow: UnitOfWork, caller: Caller, data: OrganizationCreate
) -> RowMapping:
    authorize(caller, "organizations.create")
    repo = OrganizationRepository(uow.session)
    if await repo.name_taken(data.name):
        raise Conflict(f"an organization named {data.name!r} already exists")
    row = await repo.create(data.name)
    await journal.record(
        uow,
        caller.acting_in(row["id"]),
        entity_type="organization",
        entity_id=row["id"],
        action="create",
        details={"new": {"name": row["name"]}},
        entity_version=row["version"],
    )
    await uow.commit()
    return row


async def list_organizations(
    uow: UnitOfWork, caller: Caller, page: Page
) -> tuple[list[RowMapping], int]:
    authorize(caller, "organizations.read")
    only = None if caller.role == "admin" else caller.home_org_id
    return await OrganizationRepository(uow.session).page(page, only)


async def get_organization(uow: UnitOfWork, caller: Caller, org_id: UUID) -> RowMapping:
    authorize(caller, "organizations.read")
    return await _get_visible(uow, caller, org_id)


async def update_organization(
    uow: UnitOfWork, caller: Caller, org_id: UUID, data: OrganizationUpdate
) -> RowMapping:
    current = await _get_visible(uow, caller, org_id, for_update=True)
    authorize(caller, "organizations.update")
    sent = patch_values(data, exclude=(), required=("name",))
    repo = OrganizationRepository(uow.session)
    if "name" in sent and await repo.name_taken(sent["name"], except_id=org_id):
        raise Conflict(f"an organization named {sent['name']!r} already exists")
    if not sent:
        return current
    row = await repo.update(org_id, **sent)
    await journal.record(
        uow,
        caller.acting_in(org_id),
        entity_type="organization",
        entity_id=org_id,
        action="update",
        details={"changes": journal.changes(current, row, sent.keys())},
        entity_version=row["version"],
    )
    await uow.commit()
    return row


async def get_policy(uow: UnitOfWork, caller: Caller, org_id: UUID) -> RowMapping:
    await _get_visible(uow, caller, org_id)
    authorize(caller, "policy.read")
    policy = await OrganizationRepository(uow.session).policy(org_id)
    if policy is None:
        raise NotFound("organization not found")
    return policy


async def update_policy(
    uow: UnitOfWork, caller: Caller, org_id: UUID, data: PolicyUpdate
) -> RowMapping:
    await _get_visible(uow, caller, org_id)
    authorize(caller, "policy.update")
    sent = patch_values(data, exclude=(), required=REQUIRED_POLICY_FIELDS)
    quotas = sorted(QUOTA_FIELDS & sent.keys())
    if quotas and caller.role != "admin":
        raise Forbidden(
            f"only an admin may change quotas ({', '.join(quotas)}); "
            f"role {caller.role} may read them"
        )
    repo = OrganizationRepository(uow.session)
    current = await repo.policy(org_id, for_update=True)
    if current is None:
        raise NotFound("organization not found")
    if not sent:
        return current
    row = await repo.update_policy(org_id, **sent)
    await journal.record(
        uow,
        caller.acting_in(org_id),
        entity_type="org_policy",
        entity_id=org_id,
        action="update",
        details={"changes": journal.changes(current, row, sent.keys())},
    )
    await uow.commit()
    return row
