"""Use cases of the due engine's own views: due lists, last-done records, requirements."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from amss.auth.rules import Caller, authorize
from amss.db.jsonview import Rendered
from amss.db.uow import UnitOfWork
from amss.due import engine, records, rules
from amss.due.repository import RecordRepository, TaskRepository
from amss.due.schemas import (
    ComplianceRecord,
    DueListItem,
    RecordCreate,
    Requirement,
)
from amss.fleet.repository import AircraftRepository
from amss.kit.errors import Conflict
from amss.kit.pagination import Page
from amss.kit.tenancy import act_in
from amss.kit.timefmt import moment_of, utcnow, zone


async def aircraft_due_list(
    uow: UnitOfWork, caller: Caller, aircraft_id: UUID, page: Page, days: int | None
) -> Rendered[DueListItem]:
    """Open tasks of one aircraft, most urgent first; a horizon only when ``days`` is given
    (and even then every task that is not ``ok`` stays on the list)."""
    authorize(caller, "tasks.read")
    await AircraftRepository(uow.session, caller.org_id).get_or_404(aircraft_id)
    now = utcnow()
    filters = {
        "aircraft_id": aircraft_id,
        "open": True,
        "due_before": now + timedelta(days=days) if days is not None else None,
    }
    return await TaskRepository(uow.session, caller.org_id).due_list(page, filters, now)


async def record_last_done(
    uow: UnitOfWork, caller: Caller, aircraft_id: UUID, data: RecordCreate
) -> ComplianceRecord:
    """A last-done record from the aircraft's paper records; re-bases the open task."""
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "records.write")
    craft = await AircraftRepository(uow.session, caller.org_id).get_or_404(
        aircraft_id, for_update=True
    )
    repo = RecordRepository(uow.session, caller.org_id)
    program = await repo.requirement(data.program_id)
    if not rules.applies(program, craft):
        raise Conflict(
            f"maintenance program {program['name']!r} does not apply to aircraft "
            f"{craft['tail_number']}"
        )
    performed_at = moment_of(data.performed_at, zone(craft["time_zone"]))
    rules.check_anchors(
        rules.AnchorFields(),
        interval=rules.Interval.of(program),
        at=performed_at,
        hours=data.performed_hours,
        cycles=data.performed_cycles,
        meters=rules.Meters(craft["flight_hours_total"], craft["cycles_total"]),
        now=utcnow(),
    )
    [row] = await records.write(
        uow,
        caller,
        [
            records.Accomplishment(
                program_id=program["id"],
                aircraft_id=aircraft_id,
                performed_at=performed_at,
                performed_hours=data.performed_hours,
                performed_cycles=data.performed_cycles,
                source="record",
                reference=data.reference,
                certified_by_name=data.certified_by_name,
                certificate_number=data.certificate_number,
            )
        ],
    )
    await engine.after_change(
        uow,
        caller,
        reason=f"last-done record of {program['name']!r} on {craft['tail_number']}",
        aircraft_ids=[aircraft_id],
        program_ids=[program["id"]],
    )
    await uow.commit()
    return ComplianceRecord.model_validate(dict(row))


async def list_records(
    uow: UnitOfWork, caller: Caller, aircraft_id: UUID, program_id: UUID | None, page: Page
) -> tuple[list[ComplianceRecord], int]:
    authorize(caller, "records.read")
    await AircraftRepository(uow.session, caller.org_id).get_or_404(aircraft_id)
    rows, total = await RecordRepository(uow.session, caller.org_id).history(
        aircraft_id, program_id, page
    )
    return [ComplianceRecord.model_validate(dict(row)) for row in rows], total


async def requirements(
    uow: UnitOfWork, caller: Caller, aircraft_id: UUID, page: Page
) -> tuple[list[Requirement], int]:
    """The aircraft's inspection status: every applicable requirement, its last done, its
    open task and due answer (three queries, whatever the page size)."""
    authorize(caller, "records.read")
    await AircraftRepository(uow.session, caller.org_id).get_or_404(aircraft_id)
    repo = RecordRepository(uow.session, caller.org_id)
    programs, total = await repo.applicable(aircraft_id, page)
    ids = [program["id"] for program in programs]
    last = await repo.newest(aircraft_id, ids)
    now = utcnow()
    open_tasks = await TaskRepository(uow.session, caller.org_id).open_due_items(
        aircraft_id, ids, now
    )
    return [
        Requirement.model_validate(
            {
                **dict(program),
                "program_id": program["id"],
                "last_done": dict(last[program["id"]]) if program["id"] in last else None,
                "open_task": open_tasks.get(program["id"]),
            }
        )
        for program in programs
    ], total
