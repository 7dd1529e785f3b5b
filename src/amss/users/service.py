"""Use cases of users: create, list, read, update, delete (soft), with the access matrix."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.passwords import hash_password
from amss.auth.rules import Caller, authorize, check_user_management
from amss.db.uow import UnitOfWork
from amss.kit.errors import Conflict, NotFound
from amss.kit.pagination import Page
from amss.kit.patching import patch_values
from amss.orgs.service import act_in
from amss.users.repository import UserRepository
from amss.users.schemas import UserCreate, UserUpdate

PUBLIC_FIELDS = ("email", "name", "role")


async def create_user(uow: UnitOfWork, caller: Caller, data: UserCreate) -> RowMapping:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "users.write")
    check_user_management(caller, target_role=data.role)
    repo = UserRepository(uow.session, caller.org_id)
    if await repo.email_taken(data.email):
        raise Conflict(f"a user with email {data.email} already exists in this organization")
    row = await repo.insert(
        email=data.email,
        name=data.name,
        role=data.role,
        password_hash=await hash_password(data.password),
    )
    await journal.record(
        uow,
        caller,
        entity_type="user",
        entity_id=row["id"],
        action="create",
        details={"new": {field: row[field] for field in PUBLIC_FIELDS}},
        entity_version=row["version"],
    )
    await uow.commit()
    return row


async def list_users(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> tuple[list[RowMapping], int]:
    authorize(caller, "users.read")
    return await UserRepository(uow.session, caller.org_id).list_page(page, filters)


async def get_user(uow: UnitOfWork, caller: Caller, user_id: UUID) -> RowMapping:
    authorize(caller, "users.read")
    row = await UserRepository(uow.session, caller.org_id).get(user_id)
    if row is None:
        raise NotFound("user not found")
    return row


async def update_user(
    uow: UnitOfWork, caller: Caller, user_id: UUID, data: UserUpdate
) -> RowMapping:
    caller = await act_in(uow, caller, data.org_id)
    repo = UserRepository(uow.session, caller.org_id)
    current = await repo.get(user_id, for_update=True)
    if current is None:
        raise NotFound("user not found")
    authorize(caller, "users.write")
    sent = patch_values(data, required=("email", "password", "role"))
    check_user_management(caller, target_role=current["role"], new_role=sent.get("role"))
    if "email" in sent and await repo.email_taken(sent["email"], except_id=user_id):
        raise Conflict(f"a user with email {sent['email']} already exists in this organization")
    values = dict(sent)
    password_changed = "password" in values
    if password_changed:
        values["password_hash"] = await hash_password(values.pop("password"))
    if not values:
        return current
    row = await repo.update(user_id, **values)
    assert row is not None
    if password_changed:
        await repo.revoke_refresh_tokens(user_id)
    details: dict[str, Any] = {
        "changes": journal.changes(current, row, [f for f in PUBLIC_FIELDS if f in sent])
    }
    if password_changed:
        details["password_changed"] = True
    await journal.record(
        uow,
        caller,
        entity_type="user",
        entity_id=user_id,
        action="update",
        details=details,
        entity_version=row["version"],
    )
    await uow.commit()
    return row


async def delete_user(uow: UnitOfWork, caller: Caller, user_id: UUID) -> None:
    repo = UserRepository(uow.session, caller.org_id)
    current = await repo.get(user_id, for_update=True)
    if current is None:
        raise NotFound("user not found")
    authorize(caller, "users.write")
    check_user_management(caller, target_role=current["role"])
    if caller.user_id == user_id:
        raise Conflict("you cannot delete your own user")
    row = await repo.soft_delete(user_id)
    assert row is not None
    await repo.revoke_refresh_tokens(user_id)
    await journal.record(
        uow,
        caller,
        entity_type="user",
        entity_id=user_id,
        action="delete",
        details={"old": {field: current[field] for field in PUBLIC_FIELDS}},
        entity_version=row["version"],
    )
    await uow.commit()


async def get_own_user(uow: UnitOfWork, caller: Caller) -> RowMapping:
    """Every role may read itself (``/auth/me``), viewers included."""
    assert caller.user_id is not None
    row = await UserRepository(uow.session, caller.home_org_id).get(caller.user_id)
    if row is None:
        raise NotFound("user not found")
    return row
