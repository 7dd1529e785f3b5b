"""The event catalogue (SPEC §7.1): every event type once, with the shape of its ``data``.

Each type has one ``TypedDict`` (what a receiver gets) and one builder; services never
assemble event payloads by hand. ``docs/webhooks.md`` lists the same types and fields, and
a test holds the two together. The generator writes ``program_task_generated`` rows in SQL
(100,000 at a time); a test holds its keys to :class:`ProgramTaskGenerated` too.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypedDict
from uuid import UUID

from amss.kit.patching import Changes


@dataclass(frozen=True)
class Event:
    """A business event; ``dedupe_key`` is unique per organization (e.g. ``type:id:version``).

    Built only by the builders below, so each type has one shape.
    """

    type: str
    aggregate_type: str
    aggregate_id: UUID | None
    data: dict[str, Any]
    dedupe_key: str
    id: UUID = field(default_factory=uuid.uuid4)


class TaskCreated(TypedDict):
    task_id: UUID
    aircraft_id: UUID
    tail_number: str
    program_id: UUID | None
    title: str
    type: str
    state: str
    version: int


class TaskUpdated(TypedDict):
    task_id: UUID
    aircraft_id: UUID
    program_id: UUID | None
    title: str
    state: str
    version: int
    changes: Changes
    reason: str | None


class TaskStateChanged(TypedDict):
    task_id: UUID
    aircraft_id: UUID
    program_id: UUID | None
    title: str
    old_state: str
    new_state: str
    version: int
    reason: str | None
    # Completion only: who certified the return to service, and how (SPEC §6.5).
    record_entry: bool
    certified_by_name: str | None
    certificate_number: str | None


class TaskDueStatus(TypedDict):
    """``task_due_soon`` and ``task_overdue``: everything a planner needs without calling back."""

    task_id: UUID
    title: str
    aircraft_id: UUID
    tail_number: str
    due_status: str
    due_at: datetime | None
    due_hours: Decimal | None
    due_cycles: int | None
    remaining_hours: Decimal | None
    remaining_cycles: int | None
    remaining_days: float | None
    projected_due_at: datetime | None


class ProgramTaskGenerated(TypedDict):
    task_id: UUID
    program_id: UUID
    aircraft_id: UUID
    tail_number: str
    title: str
    due_at: datetime | None
    due_hours: Decimal | None
    due_cycles: int | None
    projected_due_at: datetime | None
    governing_limit: str | None


class PartReservation(TypedDict):
    """``part_reserved``, ``part_used`` and ``part_released``."""

    reservation_id: UUID
    task_id: UUID
    aircraft_id: UUID
    part_item_id: UUID
    serial_number: str
    part_definition_id: UUID
    state: str


class PartLowStock(TypedDict):
    part_definition_id: UUID
    name: str
    part_number: str | None
    min_stock: int
    available: int


class AircraftStatusUpdated(TypedDict):
    aircraft_id: UUID
    tail_number: str
    old_status: str
    status: str
    reason: str
    task_id: UUID | None


class ComplianceSigned(TypedDict):
    compliance_item_id: UUID
    task_id: UUID
    aircraft_id: UUID
    description: str
    result: str
    sign_off_user_id: UUID | None
    sign_off_time: datetime
    certificate_number: str
    supersedes_id: UUID | None


class ImportCompleted(TypedDict):
    import_id: UUID
    type: str
    status: str
    total: int
    valid: int
    invalid: int
    applied: int


class WebhookTest(TypedDict):
    webhook_id: UUID
    url: str
    message: str


# Every event type AMSS emits, and the shape of its data.
CATALOGUE: dict[str, type[Any]] = {
    "task_created": TaskCreated,
    "task_updated": TaskUpdated,
    "task_state_changed": TaskStateChanged,
    "task_due_soon": TaskDueStatus,
    "task_overdue": TaskDueStatus,
    "program_task_generated": ProgramTaskGenerated,
    "part_reserved": PartReservation,
    "part_used": PartReservation,
    "part_released": PartReservation,
    "part_low_stock": PartLowStock,
    "aircraft_status_updated": AircraftStatusUpdated,
    "compliance_signed": ComplianceSigned,
    "import_completed": ImportCompleted,
    "webhook.test": WebhookTest,
}

TASK = "maintenance_task"


def task_created(task: Mapping[Any, Any], tail_number: str) -> Event:
    data = TaskCreated(
        task_id=task["id"],
        aircraft_id=task["aircraft_id"],
        program_id=task["program_id"],
        title=task["title"],
        tail_number=tail_number,
        type=task["type"],
        state=task["state"],
        version=task["version"],
    )
    return Event("task_created", TASK, task["id"], dict(data), f"task_created:{task['id']}")


def task_updated(task: Mapping[Any, Any], changes: Changes, reason: str | None = None) -> Event:
    """Planning fields or limits changed; ``task`` is the row after the change."""
    data = TaskUpdated(
        task_id=task["id"],
        aircraft_id=task["aircraft_id"],
        program_id=task["program_id"],
        title=task["title"],
        state=task["state"],
        version=task["version"],
        changes=changes,
        reason=reason,
    )
    key = f"task_updated:{task['id']}:{task['version']}"
    return Event("task_updated", TASK, task["id"], dict(data), key)


def task_state_changed(
    task: Mapping[Any, Any], *, old_state: str, reason: str | None = None
) -> Event:
    """``task`` is the row after the transition (its ``state`` is the new state)."""
    data = TaskStateChanged(
        task_id=task["id"],
        aircraft_id=task["aircraft_id"],
        program_id=task["program_id"],
        title=task["title"],
        old_state=old_state,
        new_state=task["state"],
        version=task["version"],
        reason=reason,
        record_entry=bool(task.get("record_entry")),
        certified_by_name=task.get("certified_by_name"),
        certificate_number=task.get("certificate_number"),
    )
    key = f"task_state_changed:{task['id']}:{task['version']}"
    return Event("task_state_changed", TASK, task["id"], dict(data), key)


def task_due_status(data: TaskDueStatus) -> Event:
    """Once per task per status change: the limits are part of the key, so a task whose
    limits were re-based may be announced again."""
    kind = f"task_{data['due_status']}"
    limits = f"{data['due_at']}|{data['due_hours']}|{data['due_cycles']}"
    key = f"{kind}:{data['task_id']}:{limits}"
    return Event(kind, TASK, data["task_id"], dict(data), key)


def part_reservation(
    kind: Literal["part_reserved", "part_used", "part_released"],
    reservation: Mapping[Any, Any],
    task: Mapping[Any, Any],
) -> Event:
    """``reservation`` carries the item's ``serial_number`` and ``part_definition_id``."""
    data = PartReservation(
        reservation_id=reservation["id"],
        task_id=task["id"],
        aircraft_id=task["aircraft_id"],
        part_item_id=reservation["part_item_id"],
        serial_number=reservation["serial_number"],
        part_definition_id=reservation["part_definition_id"],
        state=reservation["state"],
    )
    key = f"{kind}:{reservation['id']}"
    return Event(kind, "part_reservation", reservation["id"], dict(data), key)


def part_low_stock(definition: Mapping[Any, Any], crossed_at: datetime) -> Event:
    data = PartLowStock(
        part_definition_id=definition["id"],
        name=definition["name"],
        part_number=definition["part_number"],
        min_stock=definition["min_stock"],
        available=definition["available"],
    )
    key = f"part_low_stock:{definition['id']}:{crossed_at.isoformat()}"
    return Event("part_low_stock", "part_definition", definition["id"], dict(data), key)


def aircraft_status_updated(data: AircraftStatusUpdated, version: int) -> Event:
    key = f"aircraft_status_updated:{data['aircraft_id']}:{version}"
    return Event("aircraft_status_updated", "aircraft", data["aircraft_id"], dict(data), key)


def compliance_signed(data: ComplianceSigned) -> Event:
    item_id = data["compliance_item_id"]
    key = f"compliance_signed:{item_id}"
    return Event("compliance_signed", "compliance_item", item_id, dict(data), key)


def import_completed(data: ImportCompleted) -> Event:
    key = f"import_completed:{data['import_id']}"
    return Event("import_completed", "import", data["import_id"], dict(data), key)


def webhook_test(data: WebhookTest, test_id: UUID) -> Event:
    key = f"webhook.test:{test_id}"
    return Event("webhook.test", "webhook", data["webhook_id"], dict(data), key)
