"""Use cases of users: create, list, read, update, delete (soft), with the access matrix."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from amss.audit import journal
from amss.auth.passwords import hash_password
from amss.auth.rules import Caller, authorize, check_user_management
from amss.db.uow import UnitOfWork
from amss.kit.errors import Conflict, Forbidden
from amss.kit.pagination import Page
from amss.kit.patching import patch_values
from amss.kit.tenancy import act_in
from amss.users.repository import UserRepository
from amss.users.schemas import CERTIFYING_FIELDS, User, UserCreate, UserUpdate

PUBLIC_FIELDS = ("email", "name", "role", "certificate_number", "authorizations")


async def create_user(uow: UnitOfWork, caller: Caller, data: UserCreate) -> User:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "users.write")
    check_user_management(caller, target_role=data.role)
    repo = UserRepository(uow.session, caller.org_id)
    await repo.ensure_unique("email", data.email)
    row = await repo.insert(
        email=data.email,
        name=data.name,
        role=data.role,
        certificate_number=data.certificate_number,
        authorizations=sorted(set(data.authorizations)),
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
    return User.model_validate(dict(row))


async def list_users(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> tuple[list[User], int]:
    authorize(caller, "users.read")
    rows, total = await UserRepository(uow.session, caller.org_id).list_page(page, filters)
    return [User.model_validate(dict(row)) for row in rows], total


async def get_user(uow: UnitOfWork, caller: Caller, user_id: UUID) -> User:
    authorize(caller, "users.read")
    row = await UserRepository(uow.session, caller.org_id).get_or_404(user_id)
    return User.model_validate(dict(row))


async def update_user(uow: UnitOfWork, caller: Caller, user_id: UUID, data: UserUpdate) -> User:
    caller = await act_in(uow, caller, data.org_id)
    repo = UserRepository(uow.session, caller.org_id)
    current = await repo.get_or_404(user_id, for_update=True)
    authorize(caller, "users.write")
    sent = patch_values(data)
    check_user_management(caller, target_role=current["role"], new_role=sent.get("role"))
    if user_id == caller.user_id and set(CERTIFYING_FIELDS) & sent.keys():
        raise Forbidden(
            "a certificate number and its authorizations are recorded by another administrator, "
            "never by the user itself"
        )
    if "authorizations" in sent:
        sent["authorizations"] = sorted(set(sent["authorizations"]))
    if "email" in sent:
        await repo.ensure_unique("email", sent["email"], except_id=user_id)
    password = sent.pop("password", None)
    if password is not None:
        # Always a change (a new hash), never described in the changes.
        sent["password_hash"] = await hash_password(password)
    row, changes = await repo.patch(current, sent)
    if row is current:
        return User.model_validate(dict(current))
    if password is not None:
        await repo.revoke_refresh_tokens(user_id)
    details: dict[str, Any] = {"changes": changes}
    if password is not None:
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
    return User.model_validate(dict(row))


async def delete_user(uow: UnitOfWork, caller: Caller, user_id: UUID) -> None:
    repo = UserRepository(uow.session, caller.org_id)
    current = await repo.get_or_404(user_id, for_update=True)
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


async def get_own_user(uow: UnitOfWork, caller: Caller) -> User:
    """Every role may read itself (``/auth/me``), viewers included."""
    assert caller.user_id is not None
    row = await UserRepository(uow.session, caller.home_org_id).get_or_404(caller.user_id)
    return User.model_validate(dict(row))
