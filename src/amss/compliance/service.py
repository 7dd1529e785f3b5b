"""Use cases of compliance items and sign-off (SPEC §6.8)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller, authorize
from amss.compliance.repository import ComplianceRepository
from amss.compliance.schemas import ComplianceCreate, ComplianceUpdate, SignOff
from amss.db.uow import UnitOfWork
from amss.events.outbox import Event
from amss.kit.errors import Conflict, NotFound
from amss.kit.pagination import Page
from amss.kit.patching import patch_values
from amss.kit.timefmt import utcnow
from amss.orgs.service import act_in
from amss.tasks.repository import TaskRepository


async def _open_task(uow: UnitOfWork, caller: Caller, task_id: UUID) -> RowMapping:
    # Locked: a completion of the task waits for this item, or this waits for it (and then
    # sees the task closed) — an item can never slip in beside a completion.
    task = await TaskRepository(uow.session, caller.org_id).get(task_id, for_update=True)
    if task is None:
        raise NotFound("maintenance task not found")
    if task["state"] not in ("scheduled", "in_progress"):
        raise Conflict(
            f"task {task['title']!r} is {task['state']}; its compliance record is closed"
        )
    return task


async def _item(
    uow: UnitOfWork, caller: Caller, item_id: UUID, *, for_update: bool = False
) -> RowMapping:
    row = await ComplianceRepository(uow.session, caller.org_id).get(item_id, for_update=for_update)
    if row is None:
        raise NotFound("compliance item not found")
    return row


async def create_item(uow: UnitOfWork, caller: Caller, data: ComplianceCreate) -> RowMapping:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "compliance.write")
    await _open_task(uow, caller, data.task_id)
    row = await ComplianceRepository(uow.session, caller.org_id).insert(
        task_id=data.task_id,
        description=data.description,
        result=data.result,
        created_by=caller.user_id,
    )
    await journal.record(
        uow,
        caller,
        entity_type="compliance_item",
        entity_id=row["id"],
        action="create",
        details={
            "new": {"task_id": data.task_id, "description": data.description, "result": data.result}
        },
        entity_version=row["version"],
    )
    await uow.commit()
    return await _item(uow, caller, row["id"])


async def list_items(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> tuple[list[RowMapping], int]:
    authorize(caller, "compliance.read")
    return await ComplianceRepository(uow.session, caller.org_id).list_page(page, filters)


async def update_item(
    uow: UnitOfWork, caller: Caller, item_id: UUID, data: ComplianceUpdate
) -> RowMapping:
    caller = await act_in(uow, caller, data.org_id)
    current = await _item(uow, caller, item_id, for_update=True)
    authorize(caller, "compliance.write")
    if current["signed_off"]:
        raise Conflict("this compliance item is signed off and can no longer change")
    sent = patch_values(data, include=("description", "result"), required=("description", "result"))
    changes = journal.changes(current, {**dict(current), **sent}, sent.keys())
    if changes:
        row = await ComplianceRepository(uow.session, caller.org_id).update(
            item_id, **{name: sent[name] for name in changes}
        )
        assert row is not None
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
    return await _item(uow, caller, item_id)


async def sign_off(uow: UnitOfWork, caller: Caller, item_id: UUID, data: SignOff) -> RowMapping:
    caller = await act_in(uow, caller, data.org_id)
    current = await _item(uow, caller, item_id, for_update=True)
    authorize(caller, "compliance.sign")
    if current["signed_off"]:
        raise Conflict("this compliance item is already signed off")
    task = await _open_task(uow, caller, current["task_id"])
    result = data.result or current["result"]
    if result == "pending":
        raise Conflict(
            "a pending compliance item cannot be signed off; record the result (pass or fail) first"
        )
    now = utcnow()
    row = await ComplianceRepository(uow.session, caller.org_id).update(
        item_id, result=result, sign_off_user_id=caller.user_id, sign_off_time=now
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
            "changes": journal.changes(current, row, ["result"]),
        },
        entity_version=row["version"],
        events=[
            Event(
                type="compliance_signed",
                aggregate_type="compliance_item",
                aggregate_id=item_id,
                data={
                    "compliance_item_id": item_id,
                    "task_id": task["id"],
                    "aircraft_id": task["aircraft_id"],
                    "description": current["description"],
                    "result": result,
                    "sign_off_user_id": caller.user_id,
                    "sign_off_time": now,
                },
                dedupe_key=f"compliance_signed:{item_id}",
            )
        ],
    )
    await uow.commit()
    return await _item(uow, caller, item_id)
