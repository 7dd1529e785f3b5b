"""Use cases of maintenance programs, and keeping the generated tasks in step with them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller, authorize
from amss.db.uow import UnitOfWork
from amss.events.outbox import Event
from amss.fleet.repository import AircraftRepository
from amss.kit.errors import FieldProblem, NotFound, ValidationFailed, invalid
from amss.kit.pagination import Page
from amss.kit.patching import patch_values
from amss.kit.timefmt import utcnow
from amss.orgs.service import act_in
from amss.parts.repository import DefinitionRepository
from amss.programs.due_scan import scan_due_status
from amss.programs.forecast import reproject
from amss.programs.generator import generate
from amss.programs.repository import ProgramRepository
from amss.programs.schemas import INTERVAL_FIELDS, ProgramCreate, ProgramUpdate

STORED_FIELDS = (
    "name",
    "description",
    "ata_chapter",
    "task_type",
    "aircraft_id",
    "aircraft_model",
    "interval_hours",
    "interval_cycles",
    "interval_days",
    "interval_months",
    "tolerance_hours",
    "tolerance_cycles",
    "tolerance_days",
    "next_due_basis",
    "estimated_duration_hours",
    "last_performed",
    "last_performed_hours",
    "last_performed_cycles",
)
APPLICABILITY_FIELDS = frozenset({"aircraft_id", "aircraft_model"})
LIMIT_FIELDS = frozenset(
    {
        *INTERVAL_FIELDS,
        "tolerance_hours",
        "tolerance_cycles",
        "tolerance_days",
        "last_performed",
        "last_performed_hours",
        "last_performed_cycles",
    }
)
NOT_NULL_FIELDS = ("name", "task_type", "next_due_basis", "estimated_duration_hours")


async def cancel_tasks(uow: UnitOfWork, caller: Caller, rows: list[Any], reason: str) -> None:
    """Audit and announce tasks the set-based statements just cancelled."""
    for row in rows:
        await journal.record(
            uow,
            caller,
            entity_type="maintenance_task",
            entity_id=row.id,
            action="state_change",
            details={
                "changes": {"state": {"old": "scheduled", "new": "cancelled"}},
                "reason": reason,
            },
            entity_version=row.version,
            events=[
                Event(
                    type="task_state_changed",
                    aggregate_type="maintenance_task",
                    aggregate_id=row.id,
                    data={
                        "task_id": row.id,
                        "aircraft_id": row.aircraft_id,
                        "program_id": row.program_id,
                        "title": row.title,
                        "old_state": "scheduled",
                        "new_state": "cancelled",
                        "reason": reason,
                        "version": row.version,
                    },
                    dedupe_key=f"task_state_changed:{row.id}:{row.version}",
                )
            ],
        )


async def keep_tasks_in_step(
    uow: UnitOfWork,
    caller: Caller,
    reason: str,
    *,
    program_id: UUID | None = None,
    aircraft_id: UUID | None = None,
) -> list[UUID]:
    """Cancel tasks whose requirement no longer applies, generate the missing ones, and
    rescan due status where tasks were added. Returns the generated task ids."""
    now = utcnow()
    cancelled = await ProgramRepository(uow.session, caller.org_id).cancel_inapplicable(
        reason, program_id=program_id, aircraft_id=aircraft_id
    )
    await cancel_tasks(uow, caller, cancelled, reason)
    generated = await generate(
        uow.session,
        caller,
        now=now,
        reason=reason,
        org_id=caller.org_id,
        program_id=program_id,
        aircraft_id=aircraft_id,
    )
    touched = sorted(
        {task.aircraft_id for task in generated} | {row.aircraft_id for row in cancelled}
    )
    if cancelled:
        await reproject(uow.session, caller.org_id, touched, now)
    if touched:
        await scan_due_status(
            uow, now=now, caller=caller, org_id=caller.org_id, aircraft_ids=touched
        )
    return [task.id for task in generated]


async def _set_required_parts(
    uow: UnitOfWork, caller: Caller, program_id: UUID, parts: list[dict[str, Any]] | None
) -> None:
    if parts is None:
        return
    definitions = DefinitionRepository(uow.session, caller.org_id)
    for part in parts:
        if await definitions.get(part["part_definition_id"]) is None:
            raise NotFound("part definition not found")
    await ProgramRepository(uow.session, caller.org_id).set_required_parts(program_id, parts)


async def with_required_parts(
    uow: UnitOfWork, caller: Caller, rows: list[RowMapping]
) -> list[dict[str, Any]]:
    """Programs as dicts with their ``required_parts`` (one query for the whole page)."""
    parts = await ProgramRepository(uow.session, caller.org_id).required_parts(
        [row["id"] for row in rows]
    )
    return [{**dict(row), "required_parts": parts[row["id"]]} for row in rows]


async def _check_aircraft(uow: UnitOfWork, caller: Caller, aircraft_id: UUID | None) -> None:
    if (
        aircraft_id is not None
        and await AircraftRepository(uow.session, caller.org_id).get(aircraft_id) is None
    ):
        raise NotFound("aircraft not found")


async def create_program(uow: UnitOfWork, caller: Caller, data: ProgramCreate) -> RowMapping:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "programs.write")
    await _check_aircraft(uow, caller, data.aircraft_id)
    values = data.model_dump(include=set(STORED_FIELDS), exclude_none=True)
    row = await ProgramRepository(uow.session, caller.org_id).insert(**values)
    parts = data.model_dump(mode="python")["required_parts"]
    await _set_required_parts(uow, caller, row["id"], parts)
    stored = {name: row[name] for name in STORED_FIELDS if row[name] is not None}
    await journal.record(
        uow,
        caller,
        entity_type="maintenance_program",
        entity_id=row["id"],
        action="create",
        details={"new": {**stored, "required_parts": parts or []}},
        entity_version=row["version"],
    )
    await keep_tasks_in_step(uow, caller, f"program {row['name']!r} created", program_id=row["id"])
    await uow.commit()
    return row


async def list_programs(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> tuple[list[RowMapping], int]:
    authorize(caller, "programs.read")
    return await ProgramRepository(uow.session, caller.org_id).list_page(page, filters)


async def get_program(uow: UnitOfWork, caller: Caller, program_id: UUID) -> RowMapping:
    authorize(caller, "programs.read")
    row = await ProgramRepository(uow.session, caller.org_id).get(program_id)
    if row is None:
        raise NotFound("maintenance program not found")
    return row


async def update_program(
    uow: UnitOfWork, caller: Caller, program_id: UUID, data: ProgramUpdate
) -> RowMapping:
    caller = await act_in(uow, caller, data.org_id)
    repo = ProgramRepository(uow.session, caller.org_id)
    current = await repo.get(program_id, for_update=True)
    if current is None:
        raise NotFound("maintenance program not found")
    authorize(caller, "programs.write")
    sent = patch_values(data, include=STORED_FIELDS, required=NOT_NULL_FIELDS)
    merged = {**dict(current), **sent}
    if all(merged[name] is None for name in INTERVAL_FIELDS):
        raise ValidationFailed(
            "a program needs at least one interval",
            details=[
                FieldProblem(name, "cannot clear the last interval")
                for name in INTERVAL_FIELDS
                if name in sent
            ],
        )
    if merged["aircraft_id"] is not None and merged["aircraft_model"] is not None:
        raise invalid("aircraft_model", "give aircraft_id or aircraft_model, not both")
    if sent.get("aircraft_id") is not None:
        await _check_aircraft(uow, caller, sent["aircraft_id"])
    changes = journal.changes(current, merged, sent.keys())
    parts_sent = "required_parts" in data.model_fields_set
    if parts_sent:
        parts = data.model_dump(mode="python")["required_parts"] or []
        before = (await ProgramRepository(uow.session, caller.org_id).required_parts([program_id]))[
            program_id
        ]
        await _set_required_parts(uow, caller, program_id, parts)
        if journal.changes({"required_parts": before}, {"required_parts": parts}):
            changes["required_parts"] = {"old": before, "new": parts}
    if not changes:
        return current
    row = await repo.update(program_id, **{name: sent[name] for name in changes if name in sent})
    assert row is not None
    await journal.record(
        uow,
        caller,
        entity_type="maintenance_program",
        entity_id=program_id,
        action="update",
        details={"changes": changes},
        entity_version=row["version"],
    )
    if LIMIT_FIELDS & changes.keys():
        relimited = await repo.relimit_open_tasks(program_id)
        for task in relimited:
            await journal.record(
                uow,
                caller,
                entity_type="maintenance_task",
                entity_id=task.id,
                action="update",
                details={
                    "reason": f"program {row['name']!r} changed",
                    "new": {
                        "due_at": task.due_at,
                        "due_hours": task.due_hours,
                        "due_cycles": task.due_cycles,
                    },
                },
                entity_version=task.version,
                events=[
                    Event(
                        type="task_updated",
                        aggregate_type="maintenance_task",
                        aggregate_id=task.id,
                        data={
                            "task_id": task.id,
                            "aircraft_id": task.aircraft_id,
                            "title": task.title,
                            "due_at": task.due_at,
                            "due_hours": task.due_hours,
                            "due_cycles": task.due_cycles,
                            "version": task.version,
                        },
                        dedupe_key=f"task_updated:{task.id}:{task.version}",
                    )
                ],
            )
        aircraft_ids = sorted({task.aircraft_id for task in relimited})
        now = utcnow()
        await reproject(uow.session, caller.org_id, aircraft_ids, now)
        await scan_due_status(
            uow, now=now, caller=caller, org_id=caller.org_id, aircraft_ids=aircraft_ids
        )
    if APPLICABILITY_FIELDS & changes.keys():
        await keep_tasks_in_step(
            uow, caller, f"program {row['name']!r} applicability changed", program_id=program_id
        )
    await uow.commit()
    return row


async def delete_program(uow: UnitOfWork, caller: Caller, program_id: UUID) -> None:
    repo = ProgramRepository(uow.session, caller.org_id)
    current = await repo.get(program_id, for_update=True)
    if current is None:
        raise NotFound("maintenance program not found")
    authorize(caller, "programs.write")
    row = await repo.soft_delete(program_id)
    assert row is not None
    await journal.record(
        uow,
        caller,
        entity_type="maintenance_program",
        entity_id=program_id,
        action="delete",
        details={"old": {"name": current["name"]}},
        entity_version=row["version"],
    )
    reason = f"maintenance program {current['name']!r} deleted"
    cancelled = await repo.cancel_inapplicable(reason, program_id=program_id)
    await cancel_tasks(uow, caller, cancelled, reason)
    await reproject(
        uow.session, caller.org_id, sorted({r.aircraft_id for r in cancelled}), utcnow()
    )
    await uow.commit()


async def generate_tasks(uow: UnitOfWork, caller: Caller, program_id: UUID) -> list[UUID]:
    """``POST /maintenance-programs/{id}/generate``: a sweep limited to this program."""
    program = await ProgramRepository(uow.session, caller.org_id).get(program_id)
    if program is None:
        raise NotFound("maintenance program not found")
    authorize(caller, "programs.write")
    ids = await keep_tasks_in_step(uow, caller, "generation requested", program_id=program_id)
    await uow.commit()
    return ids
