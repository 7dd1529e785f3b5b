"""Use cases of aircraft and their utilization (SPEC §6.1, §6.6)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from amss.audit import journal
from amss.auth.rules import Caller, authorize
from amss.db.uow import UnitOfWork
from amss.due import engine
from amss.fleet.repository import METER_SETTINGS, AircraftRepository, UtilizationRepository
from amss.fleet.schemas import (
    MAX_METER_CYCLES,
    MAX_METER_HOURS,
    Aircraft,
    AircraftCreate,
    AircraftUpdate,
    UtilizationCreate,
    UtilizationEntry,
)
from amss.fleet.status import StatusChange, change_status
from amss.kit.errors import Conflict, NotFound, invalid
from amss.kit.pagination import Page
from amss.kit.patching import diff, patch_values
from amss.kit.tenancy import act_in, time_zone_of
from amss.kit.timefmt import local_today, zone

MAX_HOURS_PER_DAY = Decimal(24)
MAX_CYCLES_PER_DAY = 1000
PUBLIC_FIELDS = (
    "tail_number",
    "model",
    "serial_number",
    "status",
    "capacity_slots",
    "flight_hours_total",
    "cycles_total",
    "avg_daily_hours",
    "avg_daily_cycles",
    "last_maintenance",
)
METERS = ("flight_hours_total", "cycles_total")
# Changes after which the due engine must follow (forecasts, applicability).
DUE_INPUTS = frozenset({"model", "avg_daily_hours", "avg_daily_cycles"})


async def _view(uow: UnitOfWork, caller: Caller, aircraft_id: UUID) -> Aircraft:
    row = await AircraftRepository(uow.session, caller.org_id).get_or_404(aircraft_id)
    return Aircraft.model_validate(dict(row))


async def create_aircraft(uow: UnitOfWork, caller: Caller, data: AircraftCreate) -> Aircraft:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "aircraft.write")
    repo = AircraftRepository(uow.session, caller.org_id)
    await repo.ensure_unique("tail_number", data.tail_number)
    row = await repo.insert(**data.model_dump(exclude={"org_id"}))
    await journal.record(
        uow,
        caller,
        entity_type="aircraft",
        entity_id=row["id"],
        action="create",
        details={"new": {name: row[name] for name in PUBLIC_FIELDS}},
        entity_version=row["version"],
    )
    # The meters it enters AMSS with are its first utilization entry, so a wrong starting
    # meter is corrected like any other entry.
    await _add_utilization(
        uow,
        caller,
        row,
        flight_date=local_today(await time_zone_of(uow.session, caller.org_id)),
        hours=data.flight_hours_total,
        cycles=data.cycles_total,
        source="initial",
        external_id=None,
        corrects_id=None,
        to_meters=False,
    )
    await engine.after_change(
        uow,
        caller,
        reason=f"aircraft {row['tail_number']} added",
        aircraft_ids=[row["id"]],
        utilization=True,
    )
    await uow.commit()
    return await _view(uow, caller, row["id"])


async def list_aircraft(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> tuple[list[Aircraft], int]:
    authorize(caller, "aircraft.read")
    rows, total = await AircraftRepository(uow.session, caller.org_id).list_page(page, filters)
    return [Aircraft.model_validate(dict(row)) for row in rows], total


async def get_aircraft(uow: UnitOfWork, caller: Caller, aircraft_id: UUID) -> Aircraft:
    authorize(caller, "aircraft.read")
    return await _view(uow, caller, aircraft_id)


async def _check_status_change(uow: UnitOfWork, caller: Caller, current: Any, status: str) -> None:
    """An aircraft with an overdue mandatory requirement is not airworthy (SPEC §6.6): while
    one remains it stays grounded — not operational, not even in maintenance."""
    if status == current["status"]:
        return
    if current["status"] != "grounded" and status != "operational":
        return
    overdue = await engine.first_overdue(uow, caller, current["id"])
    if overdue is not None:
        raise Conflict(
            f"aircraft {current['tail_number']} cannot be {status}: mandatory task "
            f"{overdue.title!r} ({overdue.id}) is overdue"
        )


async def update_aircraft(
    uow: UnitOfWork, caller: Caller, aircraft_id: UUID, data: AircraftUpdate
) -> Aircraft:
    caller = await act_in(uow, caller, data.org_id)
    repo = AircraftRepository(uow.session, caller.org_id)
    current = await repo.get_or_404(aircraft_id, for_update=True)
    authorize(caller, "aircraft.write")
    sent = patch_values(data)
    if "tail_number" in sent:
        await repo.ensure_unique("tail_number", sent["tail_number"], except_id=aircraft_id)
    raises = {name: sent.pop(name, current[name]) - current[name] for name in METERS}
    for name, delta in raises.items():
        if delta < 0:
            raise invalid(
                name,
                f"a meter only goes up ({current[name]} now); post a correcting utilization entry "
                "to lower it",
            )
    status = sent.pop("status", current["status"])
    await _check_status_change(uow, caller, current, status)
    row, changes = await repo.patch(current, sent)
    if changes:
        await journal.record(
            uow,
            caller,
            entity_type="aircraft",
            entity_id=aircraft_id,
            action="update",
            details={"changes": changes},
            entity_version=row["version"],
        )
    if status != current["status"]:
        await change_status(uow, caller, [StatusChange(aircraft_id, status, "set by user")])
    flown = any(raises.values())
    if flown:
        await _add_utilization(
            uow,
            caller,
            row,
            flight_date=local_today(zone(current["time_zone"])),
            hours=raises["flight_hours_total"],
            cycles=raises["cycles_total"],
            source="manual",
            external_id=None,
            corrects_id=None,
        )
    if flown or DUE_INPUTS & changes.keys():
        await engine.after_change(
            uow,
            caller,
            reason=f"aircraft {row['tail_number']} changed",
            aircraft_ids=[aircraft_id],
            utilization=flown,
        )
    await uow.commit()
    return await _view(uow, caller, aircraft_id)


async def delete_aircraft(uow: UnitOfWork, caller: Caller, aircraft_id: UUID) -> None:
    repo = AircraftRepository(uow.session, caller.org_id)
    current = await repo.get_or_404(aircraft_id, for_update=True)
    authorize(caller, "aircraft.write")
    in_progress = await repo.tasks_in_progress(aircraft_id)
    if in_progress:
        raise Conflict(
            f"aircraft {current['tail_number']} has {in_progress} task(s) in progress; "
            "complete or cancel them first"
        )
    row = await repo.soft_delete(aircraft_id)
    assert row is not None
    await journal.record(
        uow,
        caller,
        entity_type="aircraft",
        entity_id=aircraft_id,
        action="delete",
        details={"old": {"tail_number": current["tail_number"], "model": current["model"]}},
        entity_version=row["version"],
    )
    await engine.after_change(
        uow, caller, reason=f"aircraft {current['tail_number']} deleted", aircraft_ids=[aircraft_id]
    )
    await uow.commit()


async def _add_utilization(
    uow: UnitOfWork,
    caller: Caller,
    craft: Any,
    *,
    flight_date: date,
    hours: Decimal,
    cycles: int,
    source: str,
    external_id: str | None,
    corrects_id: UUID | None,
    to_meters: bool = True,
) -> tuple[Any, bool]:
    """Append an entry and add it to the meters (``to_meters=False``: the meters already
    hold it, as for the initial entry); ``(entry, created)``. The caller has the aircraft
    locked, and runs the due engine afterwards."""
    entries = UtilizationRepository(uow.session, caller.org_id)
    entry = await entries.append(
        craft["id"],
        flight_date=flight_date,
        flight_hours=hours,
        cycles=cycles,
        source=source,
        external_id=external_id,
        corrects_id=corrects_id,
        created_by=caller.user_id,
    )
    if entry is None:  # the same external_id arrived concurrently: the first one stands
        assert external_id is not None
        existing = await entries.by_external_id(craft["id"], external_id)
        assert existing is not None
        return existing, False
    updated = craft
    if to_meters:
        updated = await AircraftRepository(uow.session, caller.org_id).add_to_meters(
            craft["id"], hours, cycles
        )
    await journal.record(
        uow,
        caller,
        entity_type="utilization_entry",
        entity_id=entry["id"],
        action="create",
        details={
            "new": {
                "aircraft_id": craft["id"],
                "flight_date": flight_date,
                "flight_hours": hours,
                "cycles": cycles,
                "source": source,
                "external_id": external_id,
                "corrects_id": corrects_id,
            },
            "meters": diff(craft, updated, METERS),
        },
    )
    return entry, True


async def record_utilization(
    uow: UnitOfWork, caller: Caller, aircraft_id: UUID, data: UtilizationCreate
) -> tuple[UtilizationEntry, bool]:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "utilization.record")
    craft = await AircraftRepository(uow.session, caller.org_id).get_or_404(
        aircraft_id, for_update=True
    )
    entries = UtilizationRepository(uow.session, caller.org_id)
    if data.external_id is not None:
        existing = await entries.by_external_id(aircraft_id, data.external_id)
        if existing is not None:
            return UtilizationEntry.model_validate(dict(existing)), False
    if data.source == "initial":
        raise invalid("source", "initial is the meters an aircraft enters AMSS with")
    today = local_today(zone(craft["time_zone"]))
    if data.flight_date > today:
        raise invalid("flight_date", f"{data.flight_date} is in the future (today is {today})")
    if data.corrects_id is None:
        if data.flight_hours < 0:
            raise invalid("flight_hours", "negative only in a correcting entry (with corrects_id)")
        if data.cycles < 0:
            raise invalid("cycles", "negative only in a correcting entry (with corrects_id)")
        if data.cycles > 0 and data.flight_hours == 0:
            raise invalid("cycles", f"{data.cycles} cycles without flight hours")
        if data.source not in METER_SETTINGS:
            if data.flight_hours > MAX_HOURS_PER_DAY:
                raise invalid("flight_hours", f"more than {MAX_HOURS_PER_DAY} hours in a day")
            if data.cycles > MAX_CYCLES_PER_DAY:
                raise invalid("cycles", f"more than {MAX_CYCLES_PER_DAY} cycles in a day")
            flown = await entries.flown_on(aircraft_id, data.flight_date)
            if flown + data.flight_hours > MAX_HOURS_PER_DAY:
                raise invalid(
                    "flight_hours",
                    f"{craft['tail_number']} would have {flown + data.flight_hours} flight "
                    f"hours on {data.flight_date} (at most {MAX_HOURS_PER_DAY})",
                )
    else:
        corrected = await entries.get_entry(aircraft_id, data.corrects_id)
        if corrected is None:
            raise NotFound("utilization entry to correct not found")
        if corrected["corrects_id"] is not None:
            raise invalid("corrects_id", "correct the original entry, not a correction of it")
        # A correction takes back at most what its entry still adds (a +9,000 h typo is
        # undone in one entry); it never makes an entry negative.
        net_hours, net_cycles = await entries.net_of(data.corrects_id)
        if net_hours + data.flight_hours < 0:
            raise invalid(
                "flight_hours",
                f"the entry and its corrections add {net_hours} h; a correction can take "
                f"back at most that",
            )
        if net_cycles + data.cycles < 0:
            raise invalid(
                "cycles",
                f"the entry and its corrections add {net_cycles} cycles; a correction can "
                "take back at most that",
            )
    if craft["flight_hours_total"] + data.flight_hours > MAX_METER_HOURS:
        raise invalid("flight_hours", f"the hours meter would pass {MAX_METER_HOURS}")
    if craft["cycles_total"] + data.cycles > MAX_METER_CYCLES:
        raise invalid("cycles", f"the cycles meter would pass {MAX_METER_CYCLES}")
    entry, created = await _add_utilization(
        uow,
        caller,
        craft,
        flight_date=data.flight_date,
        hours=data.flight_hours,
        cycles=data.cycles,
        source=data.source,
        external_id=data.external_id,
        corrects_id=data.corrects_id,
    )
    if created:
        await engine.after_change(
            uow,
            caller,
            reason=f"utilization of {craft['tail_number']}",
            aircraft_ids=[aircraft_id],
            utilization=True,
        )
    await uow.commit()
    return UtilizationEntry.model_validate(dict(entry)), created


async def list_utilization(
    uow: UnitOfWork,
    caller: Caller,
    aircraft_id: UUID,
    page: Page,
    date_from: date | None,
    date_to: date | None,
) -> tuple[list[UtilizationEntry], int]:
    authorize(caller, "aircraft.read")
    await AircraftRepository(uow.session, caller.org_id).get_or_404(aircraft_id)
    rows, total = await UtilizationRepository(uow.session, caller.org_id).list_for(
        aircraft_id, page, date_from, date_to
    )
    return [UtilizationEntry.model_validate(dict(row)) for row in rows], total
