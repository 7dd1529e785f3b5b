"""The task state machine and the rules of starting and completing work (SPEC §6.5).

Pure: no I/O. The service reads what these rules need (locked rows, counts, meters) and
asks them; each rule raises the error a client sees, with a message that says why.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from amss.due.rules import FINAL_STATES, OPEN_STATES, Meters, TaskState
from amss.kit.errors import Conflict, FieldProblem, Forbidden, ValidationFailed, invalid

__all__ = ["FINAL_STATES", "OPEN_STATES", "TaskState"]

ALLOWED: dict[TaskState, frozenset[TaskState]] = {
    "scheduled": frozenset({"in_progress", "cancelled"}),
    "in_progress": frozenset({"completed", "cancelled"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}


def check_transition(title: str, current: TaskState, new: TaskState) -> None:
    """Refuse (409) a transition the state machine does not have, saying why."""
    if current == new:
        raise Conflict(f"task {title!r} is already {current}")
    if current in FINAL_STATES:
        raise Conflict(f"task {title!r} is {current}; completed and cancelled tasks are final")
    if new not in ALLOWED[current]:
        if current == "scheduled" and new == "completed":
            raise Conflict(
                f"task {title!r} is scheduled; start it (in_progress) before completing it"
            )
        raise Conflict(f"task {title!r} cannot go from {current} to {new}")


def check_capacity(tail_number: str, in_progress: int, capacity_slots: int) -> None:
    """At most ``capacity_slots`` tasks of one aircraft in progress at once."""
    if in_progress >= capacity_slots:
        raise Conflict(
            f"aircraft {tail_number} has {in_progress} tasks in progress and capacity_slots is "
            f"{capacity_slots}"
        )


def work_done(notes: str | None) -> str:
    """Completing needs the request itself to say what was done: planning notes or the
    generator's note are not a record of the work."""
    text = (notes or "").strip()
    if not text:
        raise invalid("notes", "describe the work done to complete the task")
    return text


def cancel_reason(notes: str | None) -> str:
    text = (notes or "").strip()
    if not text:
        raise invalid("notes", "give the reason for cancelling")
    return text


@dataclass(frozen=True)
class ItemState:
    """What completion needs to know of a compliance item."""

    id: UUID
    description: str
    result: str
    signed_off: bool
    supersedes_id: UUID | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> ItemState:
        return cls(
            row["id"],
            row["description"],
            row["result"],
            bool(row["signed_off"]),
            row.get("supersedes_id"),
        )


def check_compliance_items(items: Sequence[ItemState]) -> None:
    """Every item has a result and is signed off, and every finding is cleared.

    A finding — a signed ``fail`` — stays in the record for good (SPEC §6.8). It stops
    blocking completion once an item that supersedes it is signed ``pass``, or is itself a
    finding cleared the same way (a failed re-inspection, then a passing one).
    """
    successors: dict[UUID, list[ItemState]] = {}
    for item in items:
        if item.supersedes_id is not None:
            successors.setdefault(item.supersedes_id, []).append(item)

    def cleared(item: ItemState) -> bool:
        if item.result == "pass":
            return item.signed_off
        return any(nxt.signed_off and cleared(nxt) for nxt in successors.get(item.id, []))

    for item in items:
        name = f"compliance item {item.description!r} ({item.id})"
        if item.result == "pending":
            raise Conflict(
                f"{name} is pending; record its result and sign it off before completing"
            )
        if not item.signed_off:
            raise Conflict(f"{name} is not signed off")
        if item.result == "fail" and not cleared(item):
            raise Conflict(
                f"{name} is a finding; record its rectification — an item that supersedes it "
                "(supersedes_id), signed pass — before completing"
            )


RECORD_ENTRY_FIELDS = ("certified_by_name", "certificate_number", "record_reference")


@dataclass(frozen=True)
class Certification:
    """Who certified a completion (14 CFR 43.9, EASA 145.A.50), in one of two forms."""

    record_entry: bool
    certified_by_user_id: UUID | None
    certified_by_name: str | None
    certificate_number: str
    record_reference: str | None


def record_entry(entered: Mapping[str, str | None]) -> Certification:
    """A completion transcribed from a signed paper record: the signer's name, certificate
    and the record are all required (400 naming each one missing)."""
    missing = [name for name in RECORD_ENTRY_FIELDS if not entered.get(name)]
    if missing:
        raise ValidationFailed(
            f"a record entry needs {', '.join(RECORD_ENTRY_FIELDS)}: missing {', '.join(missing)}",
            details=[FieldProblem(name, "required for a record entry") for name in missing],
        )
    return Certification(
        record_entry=True,
        certified_by_user_id=None,
        certified_by_name=entered["certified_by_name"],
        certificate_number=str(entered["certificate_number"]),
        record_reference=entered["record_reference"],
    )


def completion_form(role: str, entered: Mapping[str, str | None]) -> str:
    """``record_entry`` or ``sign_off`` (SPEC §6.5). Planners who are not certifying users
    complete by record entry; a mechanic signs, never transcribes."""
    sent = any(entered.get(name) for name in RECORD_ENTRY_FIELDS)
    if sent and role not in ("scheduler", "tenant_admin", "admin"):
        raise Forbidden(
            f"role {role} may not enter a completion from a paper record; sign it electronically"
        )
    if sent or role in ("scheduler", "tenant_admin"):
        return "record_entry"
    return "sign_off"


def is_early(status: str) -> bool:
    """Early: no limit had reached its due-soon window. Allowed, and never credited."""
    return status == "ok"


def check_completed_at(
    done_at: datetime, now: datetime, *, basis_at: datetime | None, previous: datetime | None
) -> None:
    """Back-dated completion (work finished on Friday, entered on Monday): never in the
    future, never before the task's basis or the previous completion of the requirement."""
    if done_at > now:
        raise invalid("completed_at", f"{done_at.isoformat()} is in the future")
    if basis_at is not None and done_at < basis_at:
        raise invalid("completed_at", f"is before the task's basis ({basis_at.isoformat()})")
    if previous is not None and done_at < previous:
        raise invalid(
            "completed_at",
            f"is before the previous completion of this requirement ({previous.isoformat()})",
        )


def completion_meters(
    hours: Decimal | None, cycles: int | None, *, at_completion: Meters, now: Meters
) -> tuple[Decimal, int]:
    """The meters the completion records: those at the moment of completion, or those
    supplied — never above today's meters."""
    done_hours = Decimal(hours) if hours is not None else at_completion.hours
    done_cycles = cycles if cycles is not None else at_completion.cycles
    if done_hours > now.hours:
        raise invalid("completed_hours", f"is above the aircraft's meter ({now.hours})")
    if done_cycles > now.cycles:
        raise invalid("completed_cycles", f"is above the aircraft's meter ({now.cycles})")
    return done_hours, done_cycles


def check_parts_used(used: Sequence[UUID], reserved: Collection[UUID]) -> list[UUID]:
    """The reserved items the work used, each once; 409 naming any not reserved for it."""
    wanted = list(dict.fromkeys(used))
    missing = [str(item_id) for item_id in wanted if item_id not in reserved]
    if missing:
        raise Conflict(f"part item(s) {', '.join(missing)} are not reserved for this task")
    return wanted
