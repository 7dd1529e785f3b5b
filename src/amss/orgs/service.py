"""Use cases of organizations and their policies."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller, authorize
from amss.db.uow import UnitOfWork
from amss.due import engine
from amss.kit.errors import Forbidden, NotFound
from amss.kit.pagination import Page
from amss.kit.patching import diff, patch_values
from amss.orgs.repository import OrganizationRepository
from amss.orgs.schemas import (
    DUE_POLICY_FIELDS,
    QUOTA_FIELDS,
    Organization,
    OrganizationCreate,
    OrganizationUpdate,
    Policy,
    PolicyUpdate,
)


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
) -> Organization:
    authorize(caller, "organizations.create")
    repo = OrganizationRepository(uow.session)
    await repo.ensure_unique_name(data.name)
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
    return Organization.model_validate(dict(row))


async def list_organizations(
    uow: UnitOfWork, caller: Caller, page: Page
) -> tuple[list[Organization], int]:
    authorize(caller, "organizations.read")
    only = None if caller.role == "admin" else caller.home_org_id
    rows, total = await OrganizationRepository(uow.session).page(page, only)
    return [Organization.model_validate(dict(row)) for row in rows], total


async def get_organization(uow: UnitOfWork, caller: Caller, org_id: UUID) -> Organization:
    authorize(caller, "organizations.read")
    return Organization.model_validate(dict(await _get_visible(uow, caller, org_id)))


async def update_organization(
    uow: UnitOfWork, caller: Caller, org_id: UUID, data: OrganizationUpdate
) -> Organization:
    current = await _get_visible(uow, caller, org_id, for_update=True)
    authorize(caller, "organizations.update")
    sent = patch_values(data, exclude=())
    repo = OrganizationRepository(uow.session)
    if "name" in sent:
        await repo.ensure_unique_name(sent["name"], except_id=org_id)
    changes = diff(current, {**dict(current), **sent}, sent.keys())
    if not changes:
        return Organization.model_validate(dict(current))
    row = await repo.update(org_id, **{name: sent[name] for name in changes})
    await journal.record(
        uow,
        caller.acting_in(org_id),
        entity_type="organization",
        entity_id=org_id,
        action="update",
        details={"changes": changes},
        entity_version=row["version"],
    )
    await uow.commit()
    return Organization.model_validate(dict(row))


async def get_policy(uow: UnitOfWork, caller: Caller, org_id: UUID) -> Policy:
    await _get_visible(uow, caller, org_id)
    authorize(caller, "policy.read")
    policy = await OrganizationRepository(uow.session).policy(org_id)
    if policy is None:
        raise NotFound("organization not found")
    return Policy.model_validate(dict(policy))


async def update_policy(
    uow: UnitOfWork, caller: Caller, org_id: UUID, data: PolicyUpdate
) -> Policy:
    await _get_visible(uow, caller, org_id)
    authorize(caller, "policy.update")
    sent = patch_values(data, exclude=())
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
    changes = diff(current, {**dict(current), **sent}, sent.keys())
    if not changes:
        return Policy.model_validate(dict(current))
    row = await repo.update_policy(org_id, **{name: sent[name] for name in changes})
    acting = caller.acting_in(org_id)
    await journal.record(
        uow,
        acting,
        entity_type="org_policy",
        entity_id=org_id,
        action="update",
        details={"changes": changes},
    )
    if DUE_POLICY_FIELDS & changes.keys():
        # Rates and due-soon windows change every forecast and due status of the fleet.
        await engine.after_change(uow, acting, reason="organization policy changed")
    await uow.commit()
    return Policy.model_validate(dict(row))
