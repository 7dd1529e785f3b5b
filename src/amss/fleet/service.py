"""Use cases of aircraft and their utilization (SPEC §6.1, §6.6)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller, authorize
from amss.db.uow import UnitOfWork
from amss.events.outbox import Event
from amss.fleet.repository import AircraftRepository, UtilizationRepository
from amss.fleet.schemas import (
    MAX_METER_CYCLES,
    MAX_METER_HOURS,
    NOT_NULL_AIRCRAFT_FIELDS,
    AircraftCreate,
    AircraftUpdate,
    UtilizationCreate,
)
from amss.kit.errors import Conflict, NotFound, invalid
from amss.kit.pagination import Page
from amss.kit.patching import patch_values
from amss.kit.timefmt import utcnow
from amss.orgs.service import act_in
from amss.programs.due_scan import scan_due_status
from amss.programs.forecast import reproject
from amss.programs.service import keep_tasks_in_step
from amss.tasks.repository import TaskReadRepository, TaskRepository

MAX_HOURS_PER_DAY = Decimal(24)
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


async def _after_meters_changed(uow: UnitOfWork, caller: Caller, aircraft_id: UUID) -> None:
    """Rates, forecasts and due status follow the meters in the same transaction."""
    now = utcnow()
    await AircraftRepository(uow.session, caller.org_id).refresh_observed_rates(
        [aircraft_id], now.date()
    )
    await reproject(uow.session, caller.org_id, [aircraft_id], now)
    await scan_due_status(
        uow, now=now, caller=caller, org_id=caller.org_id, aircraft_ids=[aircraft_id]
    )


async def _get(uow: UnitOfWork, caller: Caller, aircraft_id: UUID) -> RowMapping:
    row = await AircraftRepository(uow.session, caller.org_id).get(aircraft_id)
    if row is None:
        raise NotFound("aircraft not found")
    return row


async def create_aircraft(uow: UnitOfWork, caller: Caller, data: AircraftCreate) -> RowMapping:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "aircraft.write")
    repo = AircraftRepository(uow.session, caller.org_id)
    if await repo.tail_taken(data.tail_number):
        raise Conflict(f"an aircraft with tail number {data.tail_number} already exists")
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
    await keep_tasks_in_step(
        uow, caller, f"aircraft {row['tail_number']} added", aircraft_id=row["id"]
    )
    await uow.commit()
    return await _get(uow, caller, row["id"])


async def list_aircraft(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> tuple[list[RowMapping], int]:
    authorize(caller, "aircraft.read")
    return await AircraftRepository(uow.session, caller.org_id).list_page(page, filters)


async def get_aircraft(uow: UnitOfWork, caller: Caller, aircraft_id: UUID) -> RowMapping:
    authorize(caller, "aircraft.read")
    return await _get(uow, caller, aircraft_id)


async def _record_status_change(
    uow: UnitOfWork, caller: Caller, current: RowMapping, row: RowMapping, reason: str | None
) -> None:
    await journal.record(
        uow,
        caller,
        entity_type="aircraft",
        entity_id=row["id"],
        action="state_change",
        details={
            "changes": {"status": {"old": current["status"], "new": row["status"]}},
            "reason": reason,
        },
        entity_version=row["version"],
        events=[
            Event(
                type="aircraft_status_updated",
                aggregate_type="aircraft",
                aggregate_id=row["id"],
                data={
                    "aircraft_id": row["id"],
                    "tail_number": row["tail_number"],
                    "old_status": current["status"],
                    "status": row["status"],
                    "reason": reason,
                },
                dedupe_key=f"aircraft_status_updated:{row['id']}:{row['version']}",
            )
        ],
    )


async def update_aircraft(
    uow: UnitOfWork, caller: Caller, aircraft_id: UUID, data: AircraftUpdate
) -> RowMapping:
    caller = await act_in(uow, caller, data.org_id)
    repo = AircraftRepository(uow.session, caller.org_id)
    current = await repo.lock(aircraft_id)
    if current is None:
        raise NotFound("aircraft not found")
    authorize(caller, "aircraft.write")
    sent = patch_values(data, required=NOT_NULL_AIRCRAFT_FIELDS)
    if "tail_number" in sent and await repo.tail_taken(sent["tail_number"], except_id=aircraft_id):
        raise Conflict(f"an aircraft with tail number {sent['tail_number']} already exists")
    raise_hours = (
        sent.pop("flight_hours_total", current["flight_hours_total"])
        - current["flight_hours_total"]
    )
    raise_cycles = sent.pop("cycles_total", current["cycles_total"]) - current["cycles_total"]
    for name, delta in (("flight_hours_total", raise_hours), ("cycles_total", raise_cycles)):
        if delta < 0:
            raise invalid(
                name,
                f"a meter only goes up ({current[name]} now); post a correcting utilization entry "
                "to lower it",
            )
    if sent.get("status") == "operational" and current["status"] != "operational":
        overdue = await TaskRepository(uow.session, caller.org_id).first_overdue(
            aircraft_id, utcnow()
        )
        if overdue is not None:
            raise Conflict(
                f"aircraft {current['tail_number']} cannot be operational: task {overdue.title!r} "
                f"({overdue.id}) is overdue"
            )
    changes = journal.changes(current, {**dict(current), **sent}, sent.keys())
    row = current
    if changes:
        updated = await repo.update(aircraft_id, **{name: sent[name] for name in changes})
        assert updated is not None
        row = updated
        status_change = changes.pop("status", None)
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
        if status_change is not None:
            await _record_status_change(uow, caller, current, row, "set by user")
    if raise_hours > 0 or raise_cycles > 0:
        await _add_utilization(
            uow,
            caller,
            row,
            flight_date=utcnow().date(),
            hours=raise_hours,
            cycles=raise_cycles,
            source="manual",
            external_id=None,
            corrects_id=None,
        )
    if "model" in changes:
        await keep_tasks_in_step(
            uow, caller, f"aircraft {row['tail_number']} model changed", aircraft_id=aircraft_id
        )
    if {"avg_daily_hours", "avg_daily_cycles"} & changes.keys() and not (
        raise_hours or raise_cycles
    ):
        await _after_meters_changed(uow, caller, aircraft_id)
    await uow.commit()
    return await _get(uow, caller, aircraft_id)


async def delete_aircraft(uow: UnitOfWork, caller: Caller, aircraft_id: UUID) -> None:
    repo = AircraftRepository(uow.session, caller.org_id)
    current = await repo.lock(aircraft_id)
    if current is None:
        raise NotFound("aircraft not found")
    authorize(caller, "aircraft.write")
    in_progress = await TaskReadRepository(uow.session, caller.org_id).list_page(
        Page(limit=1, offset=0), {"aircraft_id": aircraft_id, "state": "in_progress"}, utcnow()
    )
    if in_progress[1]:
        raise Conflict(
            f"aircraft {current['tail_number']} has {in_progress[1]} task(s) in progress; "
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
    await keep_tasks_in_step(
        uow, caller, f"aircraft {current['tail_number']} deleted", aircraft_id=aircraft_id
    )
    await uow.commit()


async def _add_utilization(
    uow: UnitOfWork,
    caller: Caller,
    craft: RowMapping,
    *,
    flight_date: date,
    hours: Decimal,
    cycles: int,
    source: str,
    external_id: str | None,
    corrects_id: UUID | None,
) -> tuple[RowMapping, bool]:
    """Append an entry and add it to the meters; ``(entry, created)``."""
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
            "meters": journal.changes(craft, updated, ["flight_hours_total", "cycles_total"]),
        },
    )
    await _after_meters_changed(uow, caller, craft["id"])
    return entry, True


async def record_utilization(
    uow: UnitOfWork, caller: Caller, aircraft_id: UUID, data: UtilizationCreate
) -> tuple[RowMapping, bool]:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "utilization.record")
    craft = await AircraftRepository(uow.session, caller.org_id).lock(aircraft_id)
    if craft is None:
        raise NotFound("aircraft not found")
    entries = UtilizationRepository(uow.session, caller.org_id)
    if data.external_id is not None:
        existing = await entries.by_external_id(aircraft_id, data.external_id)
        if existing is not None:
            return existing, False
    if data.flight_date > utcnow().date():
        raise invalid("flight_date", f"{data.flight_date} is in the future")
    if data.corrects_id is None:
        if data.flight_hours < 0:
            raise invalid("flight_hours", "negative only in a correcting entry (with corrects_id)")
        if data.cycles < 0:
            raise invalid("cycles", "negative only in a correcting entry (with corrects_id)")
        if data.cycles > 0 and data.flight_hours == 0:
            raise invalid("cycles", f"{data.cycles} cycles without flight hours")
        if data.source != "manual":
            flown = await entries.flown_on(aircraft_id, data.flight_date)
            if flown + data.flight_hours > MAX_HOURS_PER_DAY:
                raise invalid(
                    "flight_hours",
                    f"{craft['tail_number']} would have {flown + data.flight_hours} flight "
                    f"hours on {data.flight_date} (at most {MAX_HOURS_PER_DAY})",
                )
    else:
        if await entries.get_entry(aircraft_id, data.corrects_id) is None:
            raise NotFound("utilization entry to correct not found")
        if craft["flight_hours_total"] + data.flight_hours < 0:
            raise invalid("flight_hours", "the correction would take the hours meter below zero")
        if craft["cycles_total"] + data.cycles < 0:
            raise invalid("cycles", "the correction would take the cycles meter below zero")
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
    await uow.commit()
    return entry, created


async def list_utilization(
    uow: UnitOfWork,
    caller: Caller,
    aircraft_id: UUID,
    page: Page,
    date_from: date | None,
    date_to: date | None,
) -> tuple[list[RowMapping], int]:
    authorize(caller, "aircraft.read")
    await _get(uow, caller, aircraft_id)
    return await UtilizationRepository(uow.session, caller.org_id).list_for(
        aircraft_id, page, date_from, date_to
    )


async def due_list(
    uow: UnitOfWork, caller: Caller, aircraft_id: UUID, page: Page, days: int | None
) -> tuple[list[RowMapping], int]:
    """Open tasks of one aircraft by projected due date; a horizon only when ``days`` is given."""
    authorize(caller, "tasks.read")
    await _get(uow, caller, aircraft_id)
    now = utcnow()
    filters: dict[str, Any] = {"aircraft_id": aircraft_id, "open": True}
    if days is not None:
        from datetime import timedelta

        filters["due_before"] = now + timedelta(days=days)
    return await TaskReadRepository(uow.session, caller.org_id).list_page(page, filters, now)
