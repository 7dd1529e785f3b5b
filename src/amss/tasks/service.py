"""Use cases of maintenance tasks: manual tasks, planning changes and the state machine."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller, authorize, may_work_on
from amss.compliance.repository import ComplianceRepository
from amss.db.tables import aircraft, maintenance_tasks, users
from amss.db.uow import UnitOfWork
from amss.events.outbox import Event
from amss.fleet.repository import AircraftRepository
from amss.kit.errors import Conflict, Forbidden, NotFound, invalid
from amss.kit.pagination import Page
from amss.kit.patching import patch_values
from amss.kit.timefmt import utcnow
from amss.orgs.service import act_in
from amss.parts import service as parts
from amss.parts.repository import ReservationRepository
from amss.programs.due_scan import scan_due_status
from amss.programs.forecast import reproject
from amss.programs.generator import generate
from amss.tasks import rules
from amss.tasks.repository import TaskReadRepository, TaskRepository
from amss.tasks.schemas import TaskCreate, TaskTransition, TaskUpdate

PLANNING_FIELDS = ("title", "type", "start_time", "end_time", "assigned_mechanic_id", "notes")
LIMIT_FIELDS = ("due_at", "due_hours", "due_cycles")


def _event(kind: str, task: RowMapping, extra: dict[str, Any] | None = None) -> Event:
    return Event(
        type=kind,
        aggregate_type="maintenance_task",
        aggregate_id=task["id"],
        data={
            "task_id": task["id"],
            "aircraft_id": task["aircraft_id"],
            "program_id": task["program_id"],
            "title": task["title"],
            "state": task["state"],
            "version": task["version"],
            **(extra or {}),
        },
        dedupe_key=f"{kind}:{task['id']}:{task['version']}",
    )


async def _check_mechanic(uow: UnitOfWork, caller: Caller, user_id: UUID | None) -> None:
    if user_id is None:
        return
    role = await uow.session.scalar(
        select(users.c.role).where(
            users.c.org_id == caller.org_id, users.c.id == user_id, users.c.deleted_at.is_(None)
        )
    )
    if role is None:
        raise NotFound("user not found")
    if role != "mechanic":
        raise invalid("assigned_mechanic_id", f"the user is a {role}, not a mechanic")


async def _locked_task(uow: UnitOfWork, caller: Caller, task_id: UUID) -> RowMapping:
    task = await TaskRepository(uow.session, caller.org_id).get(task_id, for_update=True)
    if task is None:
        raise NotFound("maintenance task not found")
    return task


def _check_version(task: RowMapping, version: int | None) -> None:
    if version is not None and version != task["version"]:
        raise Conflict(
            f"task {task['title']!r} changed meanwhile: it is at version {task['version']}, "
            f"you sent {version}; read it again"
        )


async def get_task(uow: UnitOfWork, caller: Caller, task_id: UUID) -> dict[str, Any]:
    """The task with its due answer, reservations and compliance items."""
    authorize(caller, "tasks.read")
    row = await TaskReadRepository(uow.session, caller.org_id).get(task_id, utcnow())
    if row is None:
        raise NotFound("maintenance task not found")
    reservations = await ReservationRepository(uow.session, caller.org_id).of_task(task_id)
    items = await ComplianceRepository(uow.session, caller.org_id).of_task(task_id)
    return {"task": row, "reservations": reservations, "compliance_items": items}


async def list_tasks(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> tuple[list[RowMapping], int]:
    authorize(caller, "tasks.read")
    return await TaskReadRepository(uow.session, caller.org_id).list_page(page, filters, utcnow())


async def create_task(uow: UnitOfWork, caller: Caller, data: TaskCreate) -> UUID:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "tasks.write")
    craft = await AircraftRepository(uow.session, caller.org_id).get(data.aircraft_id)
    if craft is None:
        raise NotFound("aircraft not found")
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
        events=[
            _event(
                "task_created", task, {"tail_number": craft["tail_number"], "type": task["type"]}
            )
        ],
    )
    now = utcnow()
    await reproject(uow.session, caller.org_id, [data.aircraft_id], now)
    await scan_due_status(
        uow, now=now, caller=caller, org_id=caller.org_id, aircraft_ids=[data.aircraft_id]
    )
    await uow.commit()
    return UUID(str(task["id"]))


async def update_task(uow: UnitOfWork, caller: Caller, task_id: UUID, data: TaskUpdate) -> None:
    caller = await act_in(uow, caller, data.org_id)
    task = await _locked_task(uow, caller, task_id)
    authorize(caller, "tasks.write")
    _check_version(task, data.version)
    if task["state"] in rules.FINAL:
        raise Conflict(f"task {task['title']!r} is {task['state']}; it can no longer change")
    sent = patch_values(data, exclude=("org_id", "version"), required=("title", "type"))
    if task["program_id"] is not None and set(LIMIT_FIELDS) & sent.keys():
        raise Conflict(
            "the limits of a generated task come from its maintenance program; change the program"
        )
    if "assigned_mechanic_id" in sent:
        await _check_mechanic(uow, caller, sent["assigned_mechanic_id"])
    merged = {**dict(task), **sent}
    if merged["start_time"] and merged["end_time"] and merged["end_time"] < merged["start_time"]:
        raise invalid("end_time", "is before start_time")
    changes = journal.changes(task, merged, sent.keys())
    if not changes:
        return
    row = await TaskRepository(uow.session, caller.org_id).update(
        task_id, **{k: sent[k] for k in changes}
    )
    assert row is not None
    await journal.record(
        uow,
        caller,
        entity_type="maintenance_task",
        entity_id=task_id,
        action="update",
        details={"changes": changes},
        entity_version=row["version"],
        events=[_event("task_updated", row, {"changes": changes})],
    )
    if set(LIMIT_FIELDS) & changes.keys():
        now = utcnow()
        await reproject(uow.session, caller.org_id, [task["aircraft_id"]], now)
        await scan_due_status(
            uow, now=now, caller=caller, org_id=caller.org_id, aircraft_ids=[task["aircraft_id"]]
        )
    await uow.commit()


async def delete_task(uow: UnitOfWork, caller: Caller, task_id: UUID) -> None:
    task = await _locked_task(uow, caller, task_id)
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
    await parts.release_all(uow, caller, task)
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
    await reproject(uow.session, caller.org_id, [task["aircraft_id"]], utcnow())
    await uow.commit()


# --- the state machine --------------------------------------------------------------------


async def _set_aircraft_status(
    uow: UnitOfWork, caller: Caller, craft: RowMapping, status: str, reason: str
) -> None:
    if craft["status"] == status:
        return
    row = await AircraftRepository(uow.session, caller.org_id).update(craft["id"], status=status)
    assert row is not None
    await journal.record(
        uow,
        caller,
        entity_type="aircraft",
        entity_id=craft["id"],
        action="state_change",
        details={"changes": {"status": {"old": craft["status"], "new": status}}, "reason": reason},
        entity_version=row["version"],
        events=[
            Event(
                type="aircraft_status_updated",
                aggregate_type="aircraft",
                aggregate_id=craft["id"],
                data={
                    "aircraft_id": craft["id"],
                    "tail_number": craft["tail_number"],
                    "old_status": craft["status"],
                    "status": status,
                    "reason": reason,
                },
                dedupe_key=f"aircraft_status_updated:{craft['id']}:{row['version']}",
            )
        ],
    )


async def _in_progress_count(
    uow: UnitOfWork, caller: Caller, aircraft_id: UUID, *, excluding: UUID
) -> int:
    count = await uow.session.scalar(
        select(func.count()).where(
            maintenance_tasks.c.org_id == caller.org_id,
            maintenance_tasks.c.aircraft_id == aircraft_id,
            maintenance_tasks.c.state == "in_progress",
            maintenance_tasks.c.deleted_at.is_(None),
            maintenance_tasks.c.id != excluding,
        )
    )
    return int(count or 0)


async def _restore_aircraft(
    uow: UnitOfWork, caller: Caller, aircraft_id: UUID, task: RowMapping, *, lifts_grounding: bool
) -> None:
    """Back to operational once no work is in progress and nothing overdue remains.

    A grounded aircraft is released only by completing the overdue task that grounded it;
    a grounding set by hand stays until lifted by hand.
    """
    craft = await AircraftRepository(uow.session, caller.org_id).lock(aircraft_id)
    assert craft is not None
    if craft["status"] == "operational" or (craft["status"] == "grounded" and not lifts_grounding):
        return
    if await _in_progress_count(uow, caller, aircraft_id, excluding=task["id"]):
        return
    if await TaskRepository(uow.session, caller.org_id).first_overdue(aircraft_id, utcnow()):
        return
    reason = f"task {task['title']!r} {task['state']}; no work in progress and nothing overdue"
    await _set_aircraft_status(uow, caller, craft, "operational", reason)


async def _start(uow: UnitOfWork, caller: Caller, task: RowMapping) -> dict[str, Any]:
    craft = await AircraftRepository(uow.session, caller.org_id).lock(task["aircraft_id"])
    assert craft is not None
    busy = await _in_progress_count(uow, caller, task["aircraft_id"], excluding=task["id"])
    if busy >= craft["capacity_slots"]:
        raise Conflict(
            f"aircraft {craft['tail_number']} has {busy} tasks in progress and capacity_slots is "
            f"{craft['capacity_slots']}"
        )
    await parts.reserve_required_parts(uow, caller, task)
    values: dict[str, Any] = {"state": "in_progress", "started_at": utcnow()}
    if caller.role == "mechanic" and task["assigned_mechanic_id"] is None:
        values["assigned_mechanic_id"] = caller.user_id
    if craft["status"] == "operational":
        await _set_aircraft_status(
            uow, caller, craft, "maintenance", f"task {task['title']!r} started"
        )
    return values


async def _complete(
    uow: UnitOfWork, caller: Caller, task: RowMapping, data: TaskTransition
) -> dict[str, Any]:
    # The request itself must say what was done: planning notes or the generator's note
    # are not a record of the work.
    notes = (data.notes or "").strip()
    if not notes:
        raise invalid("notes", "describe the work done to complete the task")
    now = utcnow()
    if (
        task["end_time"] is not None
        and now < task["end_time"]
        and caller.role != "mechanic"
        and not data.allow_early_completion
    ):
        raise Conflict(
            f"task {task['title']!r} is planned to end at {task['end_time'].isoformat()}; "
            "completing it earlier needs allow_early_completion"
        )
    for item in await ComplianceRepository(uow.session, caller.org_id).of_task(task["id"]):
        name = f"compliance item {item['description']!r} ({item['id']})"
        if item["result"] == "pending":
            raise Conflict(
                f"{name} is pending; record its result and sign it off before completing"
            )
        if item["result"] == "fail":
            raise Conflict(
                f"{name} failed; rectify and record a passing inspection before completing"
            )
        if not item["signed_off"]:
            raise Conflict(f"{name} is not signed off")
    craft = await AircraftRepository(uow.session, caller.org_id).lock(task["aircraft_id"])
    assert craft is not None
    hours = (
        data.completed_hours if data.completed_hours is not None else craft["flight_hours_total"]
    )
    cycles = data.completed_cycles if data.completed_cycles is not None else craft["cycles_total"]
    if Decimal(hours) > craft["flight_hours_total"]:
        raise invalid(
            "completed_hours", f"is above the aircraft's meter ({craft['flight_hours_total']})"
        )
    if cycles > craft["cycles_total"]:
        raise invalid(
            "completed_cycles", f"is above the aircraft's meter ({craft['cycles_total']})"
        )
    reservations = {
        r["part_item_id"]: r
        for r in await ReservationRepository(uow.session, caller.org_id).of_task(
            task["id"], active_only=True, for_update=True
        )
    }
    used = list(dict.fromkeys(data.parts_used or []))
    missing = [str(item_id) for item_id in used if item_id not in reservations]
    if missing:
        raise Conflict(f"part item(s) {', '.join(missing)} are not reserved for this task")
    for item_id, reservation in reservations.items():
        await parts.settle(
            uow, caller, task, reservation, "used" if item_id in used else "released"
        )
    await parts.check_low_stock(
        uow, caller, {r["part_definition_id"] for r in reservations.values()}
    )
    await uow.session.execute(
        update(aircraft).where(aircraft.c.id == craft["id"]).values(last_maintenance=now)
    )
    return {
        "state": "completed",
        "notes": notes,
        "completed_at": now,
        "completed_by": caller.user_id,
        "completed_hours": hours,
        "completed_cycles": cycles,
    }


async def _cancel(
    uow: UnitOfWork, caller: Caller, task: RowMapping, data: TaskTransition
) -> dict[str, Any]:
    authorize(caller, "tasks.cancel")
    reason = (data.notes or "").strip()
    if not reason:
        raise invalid("notes", "give the reason for cancelling")
    await parts.release_all(uow, caller, task)
    return {"state": "cancelled", "cancel_reason": reason, "notes": data.notes}


async def transition(uow: UnitOfWork, caller: Caller, task_id: UUID, data: TaskTransition) -> None:
    caller = await act_in(uow, caller, data.org_id)
    task = await _locked_task(uow, caller, task_id)
    authorize(caller, "tasks.transition")
    _check_version(task, data.version)
    rules.check_transition(task["title"], task["state"], data.new_state)
    was_overdue = data.new_state == "completed" and bool(
        await TaskRepository(uow.session, caller.org_id).first_overdue(
            task["aircraft_id"], utcnow(), task_id=task_id
        )
    )
    if data.new_state != "cancelled" and not may_work_on(caller, task["assigned_mechanic_id"]):
        raise Forbidden("mechanics start and complete tasks assigned to them or to nobody")
    if data.new_state == "in_progress":
        values = await _start(uow, caller, task)
    elif data.new_state == "completed":
        values = await _complete(uow, caller, task, data)
    else:
        values = await _cancel(uow, caller, task, data)
    row = await TaskRepository(uow.session, caller.org_id).update(task_id, **values)
    assert row is not None
    details: dict[str, Any] = {"changes": {"state": {"old": task["state"], "new": data.new_state}}}
    if data.new_state == "completed":
        details.update(
            notes=values["notes"],
            completed_hours=values["completed_hours"],
            completed_cycles=values["completed_cycles"],
            parts_used=data.parts_used or [],
        )
    if data.new_state == "cancelled":
        details["reason"] = values["cancel_reason"]
    await journal.record(
        uow,
        caller,
        entity_type="maintenance_task",
        entity_id=task_id,
        action="state_change",
        details=details,
        entity_version=row["version"],
        events=[
            _event(
                "task_state_changed", row, {"old_state": task["state"], "new_state": data.new_state}
            )
        ],
    )
    now = utcnow()
    if data.new_state in rules.FINAL:
        if task["program_id"] is not None:
            # The requirement stays open: its next task (or a replacement) now, in this transaction.
            await generate(
                uow.session,
                caller,
                now=now,
                reason=f"task {task['title']!r} {data.new_state}",
                org_id=caller.org_id,
                program_id=task["program_id"],
                aircraft_id=task["aircraft_id"],
            )
        await reproject(uow.session, caller.org_id, [task["aircraft_id"]], now)
        await scan_due_status(
            uow, now=now, caller=caller, org_id=caller.org_id, aircraft_ids=[task["aircraft_id"]]
        )
        await _restore_aircraft(uow, caller, task["aircraft_id"], row, lifts_grounding=was_overdue)
    await uow.commit()
