"""Use cases of compliance items and sign-off (SPEC §6.8)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller, authorize, certificate_for
from amss.compliance.repository import ComplianceRepository
from amss.compliance.schemas import ComplianceCreate, ComplianceItem, ComplianceUpdate, SignOff
from amss.db.uow import UnitOfWork
from amss.due.repository import TaskRepository
from amss.due.rules import OPEN_STATES
from amss.events import catalogue
from amss.kit.errors import Conflict, invalid
from amss.kit.pagination import Page
from amss.kit.patching import diff, patch_values
from amss.kit.tenancy import act_in
from amss.kit.timefmt import utcnow
from amss.users.repository import UserRepository


async def _open_task(uow: UnitOfWork, caller: Caller, task_id: UUID) -> RowMapping:
    # Locked: a completion of the task waits for this item, or this waits for it (and then
    # sees the task closed) — an item can never slip in beside a completion. The task is
    # locked before its items (the lock order of docs/decisions.md).
    task = await TaskRepository(uow.session, caller.org_id).get_or_404(task_id, for_update=True)
    if task["state"] not in OPEN_STATES:
        raise Conflict(
            f"task {task['title']!r} is {task['state']}; its compliance record is closed"
        )
    return task


async def _view(uow: UnitOfWork, caller: Caller, item_id: UUID) -> ComplianceItem:
    row = await ComplianceRepository(uow.session, caller.org_id).get_or_404(item_id)
    return ComplianceItem.model_validate(dict(row))


async def _locked_item(uow: UnitOfWork, caller: Caller, item_id: UUID) -> tuple[Any, RowMapping]:
    """The item's task (locked, open), then the item (locked): the lock order."""
    repo = ComplianceRepository(uow.session, caller.org_id)
    found = await repo.get_or_404(item_id)
    task = await _open_task(uow, caller, found["task_id"])
    return task, await repo.get_or_404(item_id, for_update=True)


async def _check_supersedes(
    uow: UnitOfWork, caller: Caller, task_id: UUID, supersedes_id: UUID | None
) -> None:
    """A rectification supersedes a finding: a signed failed item of the same task."""
    if supersedes_id is None:
        return
    finding = await ComplianceRepository(uow.session, caller.org_id).get_or_404(supersedes_id)
    if finding["task_id"] != task_id:
        raise invalid("supersedes_id", "the item superseded belongs to another task")
    if finding["result"] != "fail" or not finding["signed_off"]:
        raise Conflict(
            f"compliance item {finding['description']!r} is not a finding (a signed fail); "
            "only a finding is superseded"
        )


async def create_item(uow: UnitOfWork, caller: Caller, data: ComplianceCreate) -> ComplianceItem:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "compliance.write")
    await _open_task(uow, caller, data.task_id)
    await _check_supersedes(uow, caller, data.task_id, data.supersedes_id)
    row = await ComplianceRepository(uow.session, caller.org_id).insert(
        task_id=data.task_id,
        description=data.description,
        result=data.result,
        supersedes_id=data.supersedes_id,
        created_by=caller.user_id,
    )
    await journal.record(
        uow,
        caller,
        entity_type="compliance_item",
        entity_id=row["id"],
        action="create",
        details={
            "new": {
                "task_id": data.task_id,
                "description": data.description,
                "result": data.result,
                "supersedes_id": data.supersedes_id,
            }
        },
        entity_version=row["version"],
    )
    await uow.commit()
    return await _view(uow, caller, row["id"])


async def list_items(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> tuple[list[ComplianceItem], int]:
    authorize(caller, "compliance.read")
    rows, total = await ComplianceRepository(uow.session, caller.org_id).list_page(page, filters)
    return [ComplianceItem.model_validate(dict(row)) for row in rows], total


async def items_of(uow: UnitOfWork, caller: Caller, task_id: UUID) -> list[ComplianceItem]:
    rows = await ComplianceRepository(uow.session, caller.org_id).of_task(task_id)
    return [ComplianceItem.model_validate(dict(row)) for row in rows]


async def update_item(
    uow: UnitOfWork, caller: Caller, item_id: UUID, data: ComplianceUpdate
) -> ComplianceItem:
    caller = await act_in(uow, caller, data.org_id)
    repo = ComplianceRepository(uow.session, caller.org_id)
    current = await repo.get_or_404(item_id, for_update=True)
    authorize(caller, "compliance.write")
    if current["signed_off"]:
        raise Conflict("this compliance item is signed off and can no longer change")
    sent = patch_values(data, include=("description", "result"))
    row, changes = await repo.patch(current, sent)
    if changes:
        await journal.record(
            uow,
            caller,
            entity_type="compliance_item",
            entity_id=item_id,
            action="update",
            details={"changes": changes},
            entity_version=row["version"],
        )
        await uow.commit()
    return await _view(uow, caller, item_id)


async def sign_off(uow: UnitOfWork, caller: Caller, item_id: UUID, data: SignOff) -> ComplianceItem:
    caller = await act_in(uow, caller, data.org_id)
    task, current = await _locked_item(uow, caller, item_id)
    authorize(caller, "compliance.sign")
    signer = await UserRepository(uow.session, caller.home_org_id).certifier(caller.user_id)
    certificate = certificate_for(
        caller, signer["certificate_number"] if signer else None, "sign a compliance item"
    )
    if current["signed_off"]:
        raise Conflict("this compliance item is already signed off")
    result = data.result or current["result"]
    if result == "pending":
        raise Conflict(
            "a pending compliance item cannot be signed off; record the result (pass or fail) first"
        )
    now = utcnow()
    row = await ComplianceRepository(uow.session, caller.org_id).update(
        item_id,
        result=result,
        sign_off_user_id=caller.user_id,
        sign_off_time=now,
        certificate_number=certificate,
    )
    assert row is not None
    await journal.record(
        uow,
        caller,
        entity_type="compliance_item",
        entity_id=item_id,
        action="update",
        details={
            "signed_off": True,
            "result": result,
            "certificate_number": certificate,
            "changes": diff(current, row, ["result"]),
        },
        entity_version=row["version"],
        events=[
            catalogue.compliance_signed(
                catalogue.ComplianceSigned(
                    compliance_item_id=item_id,
                    task_id=task["id"],
                    aircraft_id=task["aircraft_id"],
                    description=current["description"],
                    result=result,
                    sign_off_user_id=caller.user_id,
                    sign_off_time=now,
                    certificate_number=certificate,
                    supersedes_id=current["supersedes_id"],
                )
            )
        ],
    )
    await uow.commit()
    return await _view(uow, caller, item_id)
