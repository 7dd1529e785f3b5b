"""Use cases of maintenance tasks: manual tasks, planning changes and the state machine.

Locks follow the one order of ``docs/decisions.md``: the aircraft, then the task, then its
reservations, part items and compliance items. A task's aircraft never changes, so its
id is read first without a lock.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller, authorize, certificate_for, may_work_on
from amss.compliance import service as compliance
from amss.db.jsonview import Rendered
from amss.db.uow import UnitOfWork
from amss.due import engine, records
from amss.due.repository import DUE_ANSWER_COLUMNS, RecordRepository, TaskRepository
from amss.due.rules import Meters
from amss.events import catalogue
from amss.fleet.repository import AircraftRepository
from amss.fleet.status import StatusChange, change_status
from amss.kit.errors import Conflict, Forbidden, NotFound, invalid
from amss.kit.pagination import Page
from amss.kit.patching import patch_values
from amss.kit.tenancy import act_in
from amss.kit.timefmt import local_date, moment_of, utcnow, zone
from amss.parts import service as parts
from amss.programs.repository import ProgramRepository
from amss.tasks import repository, rules
from amss.tasks.schemas import (
    Task,
    TaskCreate,
    TaskDetail,
    TaskTransition,
    TaskUpdate,
)
from amss.users.repository import UserRepository

LIMIT_FIELDS = ("due_at", "due_hours", "due_cycles")
# What a generated task takes from its program; a change to it is a change of the program.
PROGRAM_FIELDS = (*LIMIT_FIELDS, "mandatory")


async def _check_mechanic(uow: UnitOfWork, caller: Caller, user_id: UUID | None) -> None:
    if user_id is None:
        return
    user = await UserRepository(uow.session, caller.org_id).get_or_404(user_id)
    if user["role"] != "mechanic":
        raise invalid("assigned_mechanic_id", f"the user is a {user['role']}, not a mechanic")


async def _lock(uow: UnitOfWork, caller: Caller, task_id: UUID) -> tuple[RowMapping, RowMapping]:
    """The task's aircraft, then the task, both locked (404 for another organization's)."""
    tasks = TaskRepository(uow.session, caller.org_id)
    found = await tasks.get_or_404(task_id)
    craft = await AircraftRepository(uow.session, caller.org_id).get_or_404(
        found["aircraft_id"], for_update=True
    )
    return craft, await tasks.get_or_404(task_id, for_update=True)


def _check_version(task: RowMapping, version: int | None) -> None:
    if version is not None and version != task["version"]:
        raise Conflict(
            f"task {task['title']!r} changed meanwhile: it is at version {task['version']}, "
            f"you sent {version}; read it again"
        )


async def detail(uow: UnitOfWork, caller: Caller, task_id: UUID) -> Rendered[TaskDetail]:
    """The task with its due answer, reservations and compliance items."""
    authorize(caller, "tasks.read")
    rendered = await repository.task_detail(uow.session, caller.org_id, task_id, utcnow())
    if rendered is None:
        raise NotFound("maintenance task not found")
    return rendered


async def list_tasks(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> Rendered[Task]:
    authorize(caller, "tasks.read")
    return await TaskRepository(uow.session, caller.org_id).page_json(
        Task, page, filters, utcnow(), DUE_ANSWER_COLUMNS
    )


async def create_task(uow: UnitOfWork, caller: Caller, data: TaskCreate) -> Rendered[TaskDetail]:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "tasks.write")
    craft = await AircraftRepository(uow.session, caller.org_id).get_or_404(
        data.aircraft_id, for_update=True
    )
    await _check_mechanic(uow, caller, data.assigned_mechanic_id)
    values = data.model_dump(exclude={"org_id"})
    task = await TaskRepository(uow.session, caller.org_id).insert(
        **values, created_by=caller.user_id
    )
    await journal.record(
        uow,
        caller,
        entity_type="maintenance_task",
        entity_id=task["id"],
        action="create",
        details={"new": {k: v for k, v in values.items() if v is not None}},
        entity_version=task["version"],
        events=[catalogue.task_created(task, craft["tail_number"])],
    )
    await engine.after_change(
        uow, caller, reason=f"task {task['title']!r} created", aircraft_ids=[craft["id"]]
    )
    await uow.commit()
    return await detail(uow, caller, task["id"])


async def update_task(
    uow: UnitOfWork, caller: Caller, task_id: UUID, data: TaskUpdate
) -> Rendered[TaskDetail]:
    caller = await act_in(uow, caller, data.org_id)
    craft, task = await _lock(uow, caller, task_id)
    authorize(caller, "tasks.write")
    _check_version(task, data.version)
    if task["state"] in rules.FINAL_STATES:
        raise Conflict(f"task {task['title']!r} is {task['state']}; it can no longer change")
    sent = patch_values(data, exclude=("org_id", "version"))
    if task["program_id"] is not None and set(PROGRAM_FIELDS) & sent.keys():
        raise Conflict(
            "the limits and mandatory flag of a generated task come from its maintenance "
            "program; change the program"
        )
    if "assigned_mechanic_id" in sent:
        await _check_mechanic(uow, caller, sent["assigned_mechanic_id"])
    merged = {**dict(task), **sent}
    if merged["start_time"] and merged["end_time"] and merged["end_time"] < merged["start_time"]:
        raise invalid("end_time", "is before start_time")
    row, changes = await TaskRepository(uow.session, caller.org_id).patch(task, sent)
    if changes:
        await journal.record(
            uow,
            caller,
            entity_type="maintenance_task",
            entity_id=task_id,
            action="update",
            details={"changes": changes},
            entity_version=row["version"],
            events=[catalogue.task_updated(row, changes)],
        )
        if set(PROGRAM_FIELDS) & changes.keys():
            await engine.after_change(
                uow, caller, reason=f"task {row['title']!r} changed", aircraft_ids=[craft["id"]]
            )
        await uow.commit()
    return await detail(uow, caller, task_id)


async def delete_task(uow: UnitOfWork, caller: Caller, task_id: UUID) -> None:
    craft, task = await _lock(uow, caller, task_id)
    authorize(caller, "tasks.write")
    if task["state"] != "scheduled":
        raise Conflict(
            f"task {task['title']!r} is {task['state']}; only scheduled tasks can be deleted"
        )
    if task["program_id"] is not None:
        raise Conflict(
            "a generated task is not deleted: cancel it with a reason "
            "(PATCH …/state with new_state cancelled)"
        )
    await parts.settle_all(uow, caller, task)
    row = await TaskRepository(uow.session, caller.org_id).soft_delete(task_id)
    assert row is not None
    await journal.record(
        uow,
        caller,
        entity_type="maintenance_task",
        entity_id=task_id,
        action="delete",
        details={"old": {"title": task["title"], "state": task["state"]}},
        entity_version=row["version"],
    )
    await engine.after_change(
        uow, caller, reason=f"task {task['title']!r} deleted", aircraft_ids=[craft["id"]]
    )
    await uow.commit()


# --- the state machine --------------------------------------------------------------------


async def _start(
    uow: UnitOfWork, caller: Caller, craft: RowMapping, task: RowMapping
) -> dict[str, Any]:
    busy = await TaskRepository(uow.session, caller.org_id).in_progress_count(
        craft["id"], excluding=task["id"]
    )
    rules.check_capacity(craft["tail_number"], busy, craft["capacity_slots"])
    await parts.reserve_required_parts(uow, caller, task)
    values: dict[str, Any] = {"state": "in_progress", "started_at": utcnow()}
    if caller.role == "mechanic" and task["assigned_mechanic_id"] is None:
        values["assigned_mechanic_id"] = caller.user_id
    if craft["status"] == "operational":
        await change_status(
            uow,
            caller,
            [
                StatusChange(
                    craft["id"], "maintenance", f"task {task['title']!r} started", task["id"]
                )
            ],
        )
    return values


async def _certification(
    uow: UnitOfWork, caller: Caller, task: RowMapping, data: TaskTransition
) -> rules.Certification:
    """Who certifies this completion, in which of the two forms of SPEC §6.5 (403 or 400
    saying what is missing)."""
    entered = data.record_entry_fields()
    if rules.completion_form(caller.role, entered) == "record_entry":
        return rules.record_entry(entered)
    act = "complete a task"
    assigned = task["assigned_mechanic_id"]
    if assigned is not None and assigned != caller.user_id:
        raise Forbidden(
            f"task {task['title']!r} is assigned to another mechanic; only they sign its "
            "completion (or a planner enters it from the signed paper record)"
        )
    required = None
    if task["program_id"] is not None:
        program = await ProgramRepository(uow.session, caller.org_id).get(task["program_id"])
        required = program["required_authorization"] if program else None
    signer = await UserRepository(uow.session, caller.home_org_id).certifier(caller.user_id)
    certificate = certificate_for(
        caller,
        signer["certificate_number"] if signer else None,
        act,
        authorizations=signer["authorizations"] if signer else (),
        required=required,
        otherwise="a planner may enter the completion from the signed paper record "
        f"({', '.join(rules.RECORD_ENTRY_FIELDS)})",
    )
    assert signer is not None
    return rules.Certification(
        record_entry=False,
        certified_by_user_id=caller.user_id,
        certified_by_name=signer["name"],
        certificate_number=certificate,
        record_reference=None,
    )


async def _complete(
    uow: UnitOfWork, caller: Caller, craft: RowMapping, task: RowMapping, data: TaskTransition
) -> dict[str, Any]:
    notes = rules.work_done(data.notes)
    certified = await _certification(uow, caller, task, data)
    now = utcnow()
    where = zone(craft["time_zone"])
    done_at = moment_of(data.completed_at, where) if data.completed_at is not None else now
    previous = None
    if task["program_id"] is not None:
        newest = await RecordRepository(uow.session, caller.org_id).newest(
            craft["id"], [task["program_id"]]
        )
        previous = newest[task["program_id"]]["performed_at"] if newest else None
    rules.check_completed_at(done_at, now, basis_at=task["basis_at"], previous=previous)
    items = await compliance.items_of(uow, caller, task["id"])
    rules.check_compliance_items([rules.ItemState.of(item.model_dump()) for item in items])
    meters_now = Meters(craft["flight_hours_total"], craft["cycles_total"])
    at_completion = meters_now
    if data.completed_at is not None:
        hours_then, cycles_then = await AircraftRepository(uow.session, caller.org_id).meters_at(
            craft["id"], local_date(done_at, where)
        )
        at_completion = Meters(hours_then, cycles_then)
    hours, cycles = rules.completion_meters(
        data.completed_hours, data.completed_cycles, at_completion=at_completion, now=meters_now
    )
    tasks = TaskRepository(uow.session, caller.org_id)
    early = None
    if any(task[name] is not None for name in LIMIT_FIELDS):
        early = rules.is_early(await tasks.status_at(task["id"], done_at, hours, cycles))
    reserved = await parts.active_reservations(uow, caller, task["id"])
    used = rules.check_parts_used(data.parts_used or [], reserved)
    await parts.settle_all(uow, caller, task, used)
    await AircraftRepository(uow.session, caller.org_id).record_maintenance(craft["id"], done_at)
    also_done: list[UUID] = []
    if task["program_id"] is not None:
        # The requirement itself and every one it satisfies (the annual does the 100-hour):
        # one last-done record each at the same point, linked to this task.
        also_done = await ProgramRepository(uow.session, caller.org_id).also_done(
            task["program_id"], craft["id"]
        )
        await records.write(
            uow,
            caller,
            [
                records.Accomplishment(
                    program_id=program_id,
                    aircraft_id=craft["id"],
                    performed_at=done_at,
                    performed_hours=hours,
                    performed_cycles=cycles,
                    source="task",
                    reference=certified.record_reference or f"maintenance task {task['id']}",
                    task_id=task["id"],
                    certified_by_user_id=certified.certified_by_user_id,
                    certified_by_name=certified.certified_by_name,
                    certificate_number=certified.certificate_number,
                )
                for program_id in [task["program_id"], *also_done]
            ],
        )
    return {
        "state": "completed",
        "notes": notes,
        "completed_at": done_at,
        "completed_by": caller.user_id,
        "completed_hours": hours,
        "completed_cycles": cycles,
        "early": early,
        "record_entry": certified.record_entry,
        "certified_by_user_id": certified.certified_by_user_id,
        "certified_by_name": certified.certified_by_name,
        "certificate_number": certified.certificate_number,
        "record_reference": certified.record_reference,
        "also_done": also_done,
    }


async def _cancel(
    uow: UnitOfWork, caller: Caller, task: RowMapping, data: TaskTransition
) -> dict[str, Any]:
    authorize(caller, "tasks.cancel")
    reason = rules.cancel_reason(data.notes)
    await parts.settle_all(uow, caller, task)
    return {"state": "cancelled", "cancel_reason": reason, "notes": data.notes}


async def _back_in_service(
    uow: UnitOfWork, caller: Caller, craft: RowMapping, task: RowMapping, *, lifts_grounding: bool
) -> None:
    """Back to operational once no work is in progress and nothing overdue remains.

    A grounded aircraft is released only by completing the overdue task that grounded it;
    a grounding set by hand stays until lifted by hand.
    """
    if craft["status"] == "operational" or (craft["status"] == "grounded" and not lifts_grounding):
        return
    tasks = TaskRepository(uow.session, caller.org_id)
    if await tasks.in_progress_count(craft["id"]):
        return
    if await engine.first_overdue(uow, caller, craft["id"]):
        return
    reason = f"task {task['title']!r} {task['state']}; no work in progress and nothing overdue"
    await change_status(uow, caller, [StatusChange(craft["id"], "operational", reason, task["id"])])


async def transition(
    uow: UnitOfWork, caller: Caller, task_id: UUID, data: TaskTransition
) -> Rendered[TaskDetail]:
    caller = await act_in(uow, caller, data.org_id)
    craft, task = await _lock(uow, caller, task_id)
    authorize(caller, "tasks.transition")
    _check_version(task, data.version)
    rules.check_transition(task["title"], task["state"], data.new_state)
    was_overdue = data.new_state == "completed" and bool(
        await engine.first_overdue(uow, caller, craft["id"], task_id=task_id)
    )
    if data.new_state != "cancelled" and not may_work_on(caller, task["assigned_mechanic_id"]):
        raise Forbidden("mechanics start and complete tasks assigned to them or to nobody")
    if data.new_state == "in_progress":
        values = await _start(uow, caller, craft, task)
    elif data.new_state == "completed":
        values = await _complete(uow, caller, craft, task, data)
    else:
        values = await _cancel(uow, caller, task, data)
    also_done: list[UUID] = values.pop("also_done", [])
    row = await TaskRepository(uow.session, caller.org_id).update(task_id, **values)
    assert row is not None
    details: dict[str, Any] = {"changes": {"state": {"old": task["state"], "new": data.new_state}}}
    if data.new_state == "completed":
        details.update(
            notes=values["notes"],
            completed_hours=values["completed_hours"],
            completed_cycles=values["completed_cycles"],
            parts_used=data.parts_used or [],
            early=values["early"],
            record_entry=values["record_entry"],
            certified_by_user_id=values["certified_by_user_id"],
            certified_by_name=values["certified_by_name"],
            certificate_number=values["certificate_number"],
            record_reference=values["record_reference"],
            also_done=also_done,
        )
    reason = values.get("cancel_reason")
    if reason is not None:
        details["reason"] = reason
    await journal.record(
        uow,
        caller,
        entity_type="maintenance_task",
        entity_id=task_id,
        action="state_change",
        details=details,
        entity_version=row["version"],
        events=[catalogue.task_state_changed(row, old_state=task["state"], reason=reason)],
    )
    if data.new_state in rules.FINAL_STATES:
        # The requirement stays open: its next task (or a replacement) now, in this transaction.
        await engine.after_change(
            uow,
            caller,
            reason=f"task {task['title']!r} {data.new_state}",
            aircraft_ids=[craft["id"]],
            program_ids=[task["program_id"], *also_done]
            if task["program_id"] is not None
            else None,
        )
        current = await AircraftRepository(uow.session, caller.org_id).get_or_404(craft["id"])
        await _back_in_service(uow, caller, current, row, lifts_grounding=was_overdue)
    await uow.commit()
    return await detail(uow, caller, task_id)
