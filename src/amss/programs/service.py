"""Use cases of maintenance programs (SPEC §6.2); the due engine keeps their tasks in step."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller, authorize
from amss.db.uow import UnitOfWork
from amss.due import engine, records, rules
from amss.due.repository import RecordRepository
from amss.fleet.repository import AircraftRepository
from amss.kit.errors import Conflict, FieldProblem, NotFound, ValidationFailed, invalid
from amss.kit.pagination import Page
from amss.kit.patching import diff, patch_values
from amss.kit.tenancy import act_in
from amss.kit.timefmt import moment_of, utcnow, zone
from amss.programs.repository import ProgramRepository
from amss.programs.schemas import (
    INTERVAL_FIELDS,
    GenerationResult,
    Program,
    ProgramCreate,
    ProgramUpdate,
    to_program,
)

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
    "mandatory",
    "required_authorization",
)
# Changes after which the due engine must follow: which aircraft, and their limits.
DUE_INPUTS = frozenset(
    {
        *INTERVAL_FIELDS,
        "aircraft_id",
        "aircraft_model",
        "tolerance_hours",
        "tolerance_cycles",
        "tolerance_days",
        "mandatory",
    }
)
# The original system's program-level baseline: one aircraft's last-done record now.
BASELINE = rules.AnchorFields("last_performed", "last_performed_hours", "last_performed_cycles")


async def _views(uow: UnitOfWork, caller: Caller, rows: list[RowMapping]) -> list[Program]:
    """Programs with their ``required_parts`` and, for one-aircraft programs, their newest
    last-done record as ``last_performed*`` (two queries for the whole page)."""
    repo = ProgramRepository(uow.session, caller.org_id)
    ids = [row["id"] for row in rows]
    parts = await repo.required_parts(ids)
    satisfied = await repo.satisfied(ids)
    baselines = await RecordRepository(uow.session, caller.org_id).newest_of_programs(
        [(row["id"], row["aircraft_id"]) for row in rows if row["aircraft_id"] is not None]
    )
    views = []
    for row in rows:
        record = baselines.get(row["id"])
        views.append(
            to_program(
                {
                    **dict(row),
                    "required_parts": parts[row["id"]],
                    "satisfies": satisfied[row["id"]],
                    "last_performed": record["performed_at"] if record else None,
                    "last_performed_hours": record["performed_hours"] if record else None,
                    "last_performed_cycles": record["performed_cycles"] if record else None,
                }
            )
        )
    return views


def _baseline_sent(data: ProgramCreate | ProgramUpdate) -> bool:
    return any(
        getattr(data, name) is not None for name in (BASELINE.at, BASELINE.hours, BASELINE.cycles)
    )


async def _record_baseline(
    uow: UnitOfWork, caller: Caller, program: RowMapping, data: ProgramCreate | ProgramUpdate
) -> bool:
    """``last_performed*`` of a one-aircraft program become that aircraft's last-done
    record; on a wider program they are refused: one aircraft's hours are never another's
    baseline (SPEC §6.2)."""
    if not _baseline_sent(data):
        return False
    sent = next(
        name
        for name in (BASELINE.at, BASELINE.hours, BASELINE.cycles)
        if getattr(data, name) is not None
    )
    if program["aircraft_id"] is None:
        raise invalid(
            sent,
            "only a program for one aircraft takes a last-done point; for a model- or "
            "organization-wide program record it per aircraft "
            "(POST /aircraft/{id}/compliance-records)",
        )
    if data.last_performed is None:
        raise invalid(BASELINE.at, f"required with {sent}")
    craft = await AircraftRepository(uow.session, caller.org_id).get_or_404(
        program["aircraft_id"], for_update=True
    )
    performed_at = moment_of(data.last_performed, zone(craft["time_zone"]))
    rules.check_anchors(
        BASELINE,
        interval=rules.Interval.of(program),
        at=performed_at,
        hours=data.last_performed_hours,
        cycles=data.last_performed_cycles,
        meters=rules.Meters(craft["flight_hours_total"], craft["cycles_total"]),
        now=utcnow(),
    )
    newest = (
        await RecordRepository(uow.session, caller.org_id).newest(craft["id"], [program["id"]])
    ).get(program["id"])
    if newest is not None and newest["performed_at"] > performed_at:
        raise Conflict(
            f"{craft['tail_number']} has a newer last-done record of {program['name']!r} "
            f"({newest['performed_at'].isoformat()}); records are history and a baseline "
            "cannot move back"
        )
    await records.write(
        uow,
        caller,
        [
            records.Accomplishment(
                program_id=program["id"],
                aircraft_id=craft["id"],
                performed_at=performed_at,
                performed_hours=data.last_performed_hours,
                performed_cycles=data.last_performed_cycles,
                source="record",
                reference=f"last_performed of program {program['name']!r}",
            )
        ],
    )
    return True


async def _set_required_parts(
    uow: UnitOfWork, caller: Caller, program_id: UUID, parts: list[dict[str, Any]] | None
) -> None:
    if parts is None:
        return
    repo = ProgramRepository(uow.session, caller.org_id)
    if await repo.unknown_part_definitions([part["part_definition_id"] for part in parts]):
        raise NotFound("part definition not found")
    await repo.set_required_parts(program_id, parts)


async def _set_satisfied(
    uow: UnitOfWork, caller: Caller, program_id: UUID, satisfied: list[UUID] | None
) -> None:
    """``satisfies``: live programs of the organization, never itself, never a cycle."""
    if satisfied is None:
        return
    repo = ProgramRepository(uow.session, caller.org_id)
    if program_id in satisfied:
        raise invalid("satisfies", "a program cannot satisfy itself")
    if await repo.unknown_programs(satisfied):
        raise NotFound("maintenance program not found")
    if await repo.would_cycle(program_id, satisfied):
        raise invalid(
            "satisfies",
            "would make a cycle: a program it satisfies already satisfies it, directly or "
            "through others",
        )
    await repo.set_satisfied(program_id, satisfied)


async def _check_aircraft(uow: UnitOfWork, caller: Caller, aircraft_id: UUID | None) -> None:
    if aircraft_id is not None:
        await AircraftRepository(uow.session, caller.org_id).get_or_404(aircraft_id)


async def create_program(uow: UnitOfWork, caller: Caller, data: ProgramCreate) -> Program:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "programs.write")
    await _check_aircraft(uow, caller, data.aircraft_id)
    values = data.model_dump(include=set(STORED_FIELDS), exclude_none=True)
    row = await ProgramRepository(uow.session, caller.org_id).insert(**values)
    parts = data.model_dump(mode="python")["required_parts"]
    await _set_required_parts(uow, caller, row["id"], parts)
    await _set_satisfied(uow, caller, row["id"], data.satisfies)
    stored = {name: row[name] for name in STORED_FIELDS if row[name] is not None}
    await journal.record(
        uow,
        caller,
        entity_type="maintenance_program",
        entity_id=row["id"],
        action="create",
        details={
            "new": {**stored, "required_parts": parts or [], "satisfies": data.satisfies or []}
        },
        entity_version=row["version"],
    )
    await _record_baseline(uow, caller, row, data)
    await engine.after_change(
        uow, caller, reason=f"program {row['name']!r} created", program_ids=[row["id"]]
    )
    await uow.commit()
    return (await _views(uow, caller, [row]))[0]


async def list_programs(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> tuple[list[Program], int]:
    authorize(caller, "programs.read")
    rows, total = await ProgramRepository(uow.session, caller.org_id).list_page(page, filters)
    return await _views(uow, caller, rows), total


async def get_program(uow: UnitOfWork, caller: Caller, program_id: UUID) -> Program:
    authorize(caller, "programs.read")
    row = await ProgramRepository(uow.session, caller.org_id).get_or_404(program_id)
    return (await _views(uow, caller, [row]))[0]


async def update_program(
    uow: UnitOfWork, caller: Caller, program_id: UUID, data: ProgramUpdate
) -> Program:
    caller = await act_in(uow, caller, data.org_id)
    repo = ProgramRepository(uow.session, caller.org_id)
    current = await repo.get_or_404(program_id, for_update=True)
    authorize(caller, "programs.write")
    sent = patch_values(data, include=STORED_FIELDS)
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
    row, changes = await repo.patch(current, sent)
    baseline = await _record_baseline(uow, caller, row, data)
    if "required_parts" in data.model_fields_set:
        parts = data.model_dump(mode="python")["required_parts"] or []
        before = (await repo.required_parts([program_id]))[program_id]
        await _set_required_parts(uow, caller, program_id, parts)
        changes.update(diff({"required_parts": before}, {"required_parts": parts}))
    if "satisfies" in data.model_fields_set:
        wanted = data.satisfies or []
        before_satisfied = (await repo.satisfied([program_id]))[program_id]
        await _set_satisfied(uow, caller, program_id, wanted)
        changes.update(
            diff({"satisfies": before_satisfied}, {"satisfies": sorted(wanted, key=str)})
        )
    if changes and row is current:
        bumped = await repo.update(program_id)  # new parts or satisfied programs: a new version
        assert bumped is not None
        row = bumped
    if not changes and not baseline:
        return (await _views(uow, caller, [row]))[0]
    if changes:
        await journal.record(
            uow,
            caller,
            entity_type="maintenance_program",
            entity_id=program_id,
            action="update",
            details={"changes": changes},
            entity_version=row["version"],
        )
    if baseline or DUE_INPUTS & changes.keys():
        await engine.after_change(
            uow, caller, reason=f"program {row['name']!r} changed", program_ids=[program_id]
        )
    await uow.commit()
    return (await _views(uow, caller, [row]))[0]


async def delete_program(uow: UnitOfWork, caller: Caller, program_id: UUID) -> None:
    repo = ProgramRepository(uow.session, caller.org_id)
    current = await repo.get_or_404(program_id, for_update=True)
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
    await engine.after_change(
        uow,
        caller,
        reason=f"maintenance program {current['name']!r} deleted",
        program_ids=[program_id],
    )
    await uow.commit()


async def generate_tasks(uow: UnitOfWork, caller: Caller, program_id: UUID) -> GenerationResult:
    """``POST /maintenance-programs/{id}/generate``: the engine, limited to this program."""
    await ProgramRepository(uow.session, caller.org_id).get_or_404(program_id)
    authorize(caller, "programs.write")
    followed = await engine.after_change(
        uow, caller, reason="generation requested", program_ids=[program_id]
    )
    await uow.commit()
    return GenerationResult(
        program_id=program_id, generated=len(followed.generated), task_ids=followed.generated
    )
