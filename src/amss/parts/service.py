"""Use cases of parts: definitions, items, reservations, and the stock rules (SPEC §6.7)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, Literal
from uuid import UUID

from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller, authorize, may_work_on
from amss.db.uow import UnitOfWork
from amss.due.repository import TaskRepository
from amss.due.rules import OPEN_STATES
from amss.events import catalogue
from amss.kit.errors import Conflict, Forbidden, invalid
from amss.kit.pagination import Page
from amss.kit.patching import patch_values
from amss.kit.tenancy import act_in, time_zone_of
from amss.kit.timefmt import local_today, utcnow
from amss.parts.repository import DefinitionRepository, ItemRepository, ReservationRepository
from amss.parts.schemas import (
    Definition,
    DefinitionCreate,
    DefinitionUpdate,
    Item,
    ItemCreate,
    ItemUpdate,
    Reservation,
    to_definition,
)

DEFINITION_FIELDS = ("name", "part_number", "category", "min_stock")
ITEM_FIELDS = ("part_definition_id", "serial_number", "status", "expiry_date", "location")
Settlement = Literal["used", "released"]

# --- stock --------------------------------------------------------------------------------


async def _today(uow: UnitOfWork, caller: Caller) -> date:
    """Expiry dates are read on the organization's calendar (SPEC §6.1)."""
    return local_today(await time_zone_of(uow.session, caller.org_id))


async def check_low_stock(uow: UnitOfWork, caller: Caller, definition_ids: Iterable[UUID]) -> None:
    """One ``part_low_stock`` per crossing below ``min_stock`` (again only after recovery)."""
    now = utcnow()
    crossings = await DefinitionRepository(uow.session, caller.org_id).low_stock_crossings(
        sorted(set(definition_ids)), await _today(uow, caller)
    )
    await journal.announce(
        uow, caller, [catalogue.part_low_stock(row._mapping, now) for row in crossings]
    )


# --- definitions ----------------------------------------------------------------------------


async def _definition(uow: UnitOfWork, caller: Caller, definition_id: UUID) -> Definition:
    row = await DefinitionRepository(uow.session, caller.org_id).get_or_404(definition_id)
    return to_definition(row)


async def create_definition(uow: UnitOfWork, caller: Caller, data: DefinitionCreate) -> Definition:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "parts.write")
    repo = DefinitionRepository(uow.session, caller.org_id)
    await repo.ensure_unique("name", data.name)
    row = await repo.insert(**data.model_dump(include=set(DEFINITION_FIELDS)))
    await journal.record(
        uow,
        caller,
        entity_type="part_definition",
        entity_id=row["id"],
        action="create",
        details={"new": {name: row[name] for name in DEFINITION_FIELDS}},
        entity_version=row["version"],
    )
    await check_low_stock(uow, caller, [row["id"]])
    await uow.commit()
    return await _definition(uow, caller, row["id"])


async def list_definitions(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> tuple[list[Definition], int]:
    authorize(caller, "parts.read")
    rows, total = await DefinitionRepository(uow.session, caller.org_id).list_page(page, filters)
    return [to_definition(row) for row in rows], total


async def get_definition(uow: UnitOfWork, caller: Caller, definition_id: UUID) -> Definition:
    authorize(caller, "parts.read")
    return await _definition(uow, caller, definition_id)


async def update_definition(
    uow: UnitOfWork, caller: Caller, definition_id: UUID, data: DefinitionUpdate
) -> Definition:
    caller = await act_in(uow, caller, data.org_id)
    repo = DefinitionRepository(uow.session, caller.org_id)
    current = await repo.get_or_404(definition_id, for_update=True)
    authorize(caller, "parts.write")
    sent = patch_values(data, include=DEFINITION_FIELDS)
    if "name" in sent:
        await repo.ensure_unique("name", sent["name"], except_id=definition_id)
    row, changes = await repo.patch(current, sent)
    if changes:
        await journal.record(
            uow,
            caller,
            entity_type="part_definition",
            entity_id=definition_id,
            action="update",
            details={"changes": changes},
            entity_version=row["version"],
        )
        if "min_stock" in changes:
            await check_low_stock(uow, caller, [definition_id])
        await uow.commit()
    return await _definition(uow, caller, definition_id)


async def delete_definition(uow: UnitOfWork, caller: Caller, definition_id: UUID) -> None:
    repo = DefinitionRepository(uow.session, caller.org_id)
    current = await repo.get_or_404(definition_id, for_update=True)
    authorize(caller, "parts.write")
    if await repo.has_live_items(definition_id):
        raise Conflict(f"part definition {current['name']!r} still has items in stock")
    required_by = await repo.required_by_programs(definition_id)
    if required_by:
        raise Conflict(
            f"part definition {current['name']!r} is required by maintenance program(s) "
            f"{', '.join(repr(name) for name in required_by)}; remove it from them first"
        )
    row = await repo.soft_delete(definition_id)
    assert row is not None
    await journal.record(
        uow,
        caller,
        entity_type="part_definition",
        entity_id=definition_id,
        action="delete",
        details={"old": {"name": current["name"]}},
        entity_version=row["version"],
    )
    await uow.commit()


# --- items --------------------------------------------------------------------------------


async def _item(uow: UnitOfWork, caller: Caller, item_id: UUID) -> Item:
    row = await ItemRepository(uow.session, caller.org_id).get_or_404(item_id)
    return Item.model_validate(dict(row))


async def create_item(uow: UnitOfWork, caller: Caller, data: ItemCreate) -> Item:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "parts.write")
    await DefinitionRepository(uow.session, caller.org_id).get_or_404(data.part_definition_id)
    if data.expiry_date is not None and data.expiry_date < await _today(uow, caller):
        raise invalid("expiry_date", f"{data.expiry_date} is in the past")
    repo = ItemRepository(uow.session, caller.org_id)
    await repo.ensure_unique("serial_number", data.serial_number)
    row = await repo.insert(**data.model_dump(include=set(ITEM_FIELDS)))
    await journal.record(
        uow,
        caller,
        entity_type="part_item",
        entity_id=row["id"],
        action="create",
        details={"new": {name: row[name] for name in ITEM_FIELDS}},
        entity_version=row["version"],
    )
    await check_low_stock(uow, caller, [data.part_definition_id])
    await uow.commit()
    return await _item(uow, caller, row["id"])


async def list_items(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> tuple[list[Item], int]:
    authorize(caller, "parts.read")
    rows, total = await ItemRepository(uow.session, caller.org_id).list_page(page, filters)
    return [Item.model_validate(dict(row)) for row in rows], total


async def get_item(uow: UnitOfWork, caller: Caller, item_id: UUID) -> Item:
    authorize(caller, "parts.read")
    return await _item(uow, caller, item_id)


async def update_item(uow: UnitOfWork, caller: Caller, item_id: UUID, data: ItemUpdate) -> Item:
    caller = await act_in(uow, caller, data.org_id)
    repo = ItemRepository(uow.session, caller.org_id)
    current = await repo.get_or_404(item_id, for_update=True)
    authorize(caller, "parts.write")
    sent = patch_values(data, include=ITEM_FIELDS)
    if current["status"] == "used" and sent:
        raise Conflict(f"part item {current['serial_number']} is used; its record is final")
    if sent.get("status") == "disposed" and current["reserved"]:
        raise Conflict(
            f"part item {current['serial_number']} is reserved for a task; release it first"
        )
    if (
        sent.get("expiry_date") is not None
        and sent["expiry_date"] < await _today(uow, caller)
        and current["status"] == "in_stock"
    ):
        raise invalid("expiry_date", f"{sent['expiry_date']} is in the past")
    if "serial_number" in sent:
        await repo.ensure_unique("serial_number", sent["serial_number"], except_id=item_id)
    row, changes = await repo.patch(current, sent)
    if changes:
        await journal.record(
            uow,
            caller,
            entity_type="part_item",
            entity_id=item_id,
            action="update",
            details={"changes": changes},
            entity_version=row["version"],
        )
        await check_low_stock(uow, caller, [current["part_definition_id"]])
        await uow.commit()
    return await _item(uow, caller, item_id)


async def delete_item(uow: UnitOfWork, caller: Caller, item_id: UUID) -> None:
    repo = ItemRepository(uow.session, caller.org_id)
    current = await repo.get_or_404(item_id, for_update=True)
    authorize(caller, "parts.write")
    if current["reserved"]:
        raise Conflict(
            f"part item {current['serial_number']} is reserved for a task; release it first"
        )
    row = await repo.soft_delete(item_id)
    assert row is not None
    await journal.record(
        uow,
        caller,
        entity_type="part_item",
        entity_id=item_id,
        action="delete",
        details={"old": {"serial_number": current["serial_number"], "status": current["status"]}},
        entity_version=row["version"],
    )
    await check_low_stock(uow, caller, [current["part_definition_id"]])
    await uow.commit()


# --- reservations -------------------------------------------------------------------------


async def reserve(uow: UnitOfWork, caller: Caller, task: RowMapping, item_id: UUID) -> RowMapping:
    """Reserve one item for a (locked) task: in stock, unexpired, not reserved (the unique
    index decides races)."""
    if task["state"] not in OPEN_STATES:
        raise Conflict(
            f"task {task['title']!r} is {task['state']}; parts are reserved for open tasks only"
        )
    item = await ItemRepository(uow.session, caller.org_id).get_or_404(item_id, for_update=True)
    if item["status"] != "in_stock":
        raise Conflict(f"part item {item['serial_number']} is {item['status']}, not in stock")
    if item["expiry_date"] is not None and item["expiry_date"] < await _today(uow, caller):
        raise Conflict(f"part item {item['serial_number']} expired on {item['expiry_date']}")
    if item["reserved"]:
        raise Conflict(f"part item {item['serial_number']} is already reserved")
    reservation = await ReservationRepository(uow.session, caller.org_id).create(
        task["id"], item_id, caller.user_id
    )
    await journal.record(
        uow,
        caller,
        entity_type="part_reservation",
        entity_id=reservation["id"],
        action="create",
        details={
            "new": {
                "task_id": task["id"],
                "part_item_id": item_id,
                "serial_number": item["serial_number"],
            }
        },
        entity_version=reservation["version"],
        events=[catalogue.part_reservation("part_reserved", reservation, task)],
    )
    return reservation


async def reserve_required_parts(
    uow: UnitOfWork, caller: Caller, task: RowMapping
) -> list[RowMapping]:
    """All of the program's required parts, earliest expiry first, or nothing (409 naming
    every shortage)."""
    if task["program_id"] is None:
        return []
    definitions = DefinitionRepository(uow.session, caller.org_id)
    items = ItemRepository(uow.session, caller.org_id)
    today = await _today(uow, caller)
    picked: list[UUID] = []
    shortages: list[str] = []
    for need in await definitions.required_for_program(task["program_id"]):
        found = await items.pick_available(need["part_definition_id"], need["quantity"], today)
        if len(found) < need["quantity"]:
            shortages.append(f"{need['name']}: need {need['quantity']}, {len(found)} available")
        picked.extend(found)
    if shortages:
        raise Conflict("required parts are short: " + "; ".join(shortages))
    reservations = [await reserve(uow, caller, task, item_id) for item_id in picked]
    await check_low_stock(uow, caller, {r["part_definition_id"] for r in reservations})
    return reservations


async def settle(
    uow: UnitOfWork,
    caller: Caller,
    task: RowMapping,
    reservation: RowMapping,
    new_state: Settlement,
) -> RowMapping:
    """``reserved → used`` (the item becomes used) or ``reserved → released``."""
    if reservation["state"] != "reserved":
        raise Conflict(
            f"reservation of part item {reservation['serial_number']} is already "
            f"{reservation['state']}"
        )
    row = await ReservationRepository(uow.session, caller.org_id).update(
        reservation["id"], state=new_state
    )
    assert row is not None
    settled = {**dict(reservation), **dict(row)}
    details: dict[str, Any] = {
        "changes": {"state": {"old": "reserved", "new": new_state}},
        "task_id": task["id"],
    }
    if new_state == "used":
        item = await ItemRepository(uow.session, caller.org_id).update(
            reservation["part_item_id"], status="used"
        )
        assert item is not None
        details["part_item"] = {
            "id": item["id"],
            "serial_number": item["serial_number"],
            "status": "used",
        }
    kind: Literal["part_used", "part_released"] = (
        "part_used" if new_state == "used" else "part_released"
    )
    await journal.record(
        uow,
        caller,
        entity_type="part_reservation",
        entity_id=reservation["id"],
        action="state_change",
        details=details,
        entity_version=row["version"],
        events=[catalogue.part_reservation(kind, settled, task)],
    )
    return row


async def settle_all(
    uow: UnitOfWork, caller: Caller, task: RowMapping, used: Iterable[UUID] = ()
) -> None:
    """Close every active reservation of a (locked) task: the items in ``used`` are used,
    the others released."""
    used_items = set(used)
    reservations = await ReservationRepository(uow.session, caller.org_id).of_task(
        task["id"], active_only=True, for_update=True
    )
    for reservation in reservations:
        state: Settlement = "used" if reservation["part_item_id"] in used_items else "released"
        await settle(uow, caller, task, reservation, state)
    await check_low_stock(uow, caller, {r["part_definition_id"] for r in reservations})


async def active_reservations(uow: UnitOfWork, caller: Caller, task_id: UUID) -> set[UUID]:
    """The part items reserved (and not yet settled) for a task."""
    rows = await ReservationRepository(uow.session, caller.org_id).of_task(
        task_id, active_only=True
    )
    return {row["part_item_id"] for row in rows}


async def _task_for_parts(uow: UnitOfWork, caller: Caller, task_id: UUID) -> RowMapping:
    row = await TaskRepository(uow.session, caller.org_id).get_or_404(task_id, for_update=True)
    if not may_work_on(caller, row["assigned_mechanic_id"]):
        raise Forbidden("mechanics reserve parts for their own or unassigned tasks only")
    return row


async def _reservation(uow: UnitOfWork, caller: Caller, reservation_id: UUID) -> Reservation:
    row = await ReservationRepository(uow.session, caller.org_id).get_or_404(reservation_id)
    return Reservation.model_validate(dict(row))


async def create_reservation(
    uow: UnitOfWork, caller: Caller, task_id: UUID, item_id: UUID, org_id: UUID | None
) -> Reservation:
    caller = await act_in(uow, caller, org_id)
    authorize(caller, "reservations.write")
    task = await _task_for_parts(uow, caller, task_id)
    reservation = await reserve(uow, caller, task, item_id)
    await check_low_stock(uow, caller, [reservation["part_definition_id"]])
    await uow.commit()
    return await _reservation(uow, caller, reservation["id"])


async def transition_reservation(
    uow: UnitOfWork,
    caller: Caller,
    reservation_id: UUID,
    new_state: Settlement,
    org_id: UUID | None,
) -> Reservation:
    caller = await act_in(uow, caller, org_id)
    repo = ReservationRepository(uow.session, caller.org_id)
    found = await repo.get_or_404(reservation_id)
    authorize(caller, "reservations.write")
    # The lock order: the task before its reservations (docs/decisions.md).
    task = await _task_for_parts(uow, caller, found["task_id"])
    reservation = await repo.get_or_404(reservation_id, for_update=True)
    await settle(uow, caller, task, reservation, new_state)
    await check_low_stock(uow, caller, [reservation["part_definition_id"]])
    await uow.commit()
    return await _reservation(uow, caller, reservation_id)


async def list_reservations(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> tuple[list[Reservation], int]:
    authorize(caller, "parts.read")
    rows, total = await ReservationRepository(uow.session, caller.org_id).list_page(page, filters)
    return [Reservation.model_validate(dict(row)) for row in rows], total


async def reservations_of(uow: UnitOfWork, caller: Caller, task_id: UUID) -> list[Reservation]:
    rows = await ReservationRepository(uow.session, caller.org_id).of_task(task_id)
    return [Reservation.model_validate(dict(row)) for row in rows]
