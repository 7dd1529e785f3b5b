"""Response bodies of the due engine: a task's due answer and the due list."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy.engine import RowMapping

from amss.due import rules
from amss.due.rules import DueStatus, Governing, TaskState
from amss.kit.types import Hours


class DueAnswer(BaseModel):
    """Why a task is due when it is: limits, what remains, the rates, what governs."""

    due_at: datetime | None
    due_hours: Hours | None
    due_cycles: int | None
    tolerance_hours: Hours | None
    tolerance_cycles: int | None
    tolerance_days: int | None
    projected_due_at: datetime | None
    due_status: DueStatus | None = Field(description="live for open tasks; null once closed")
    remaining_hours: float | None
    remaining_cycles: int | None
    remaining_days: float | None
    daily_hours_rate: float | None
    daily_cycles_rate: float | None
    governing_limit: Governing | None


class DueListItem(DueAnswer):
    task_id: UUID
    aircraft_id: UUID
    tail_number: str
    program_id: UUID | None
    title: str
    state: TaskState


def _rate(value: Any) -> float | None:
    return float(value) if value is not None else None


def due_answer(row: RowMapping, now: datetime) -> dict[str, Any]:
    """The computed half of a task's due answer (the rest are its columns)."""
    is_open = row["state"] in rules.OPEN_STATES
    left = rules.remaining(
        rules.Limits(row["due_at"], row["due_hours"], row["due_cycles"]),
        rules.Meters(row["flight_hours_total"], row["cycles_total"]),
        now,
    )
    return {
        "due_status": row["live_due_status"] if is_open else None,
        "remaining_hours": float(left.hours) if is_open and left.hours is not None else None,
        "remaining_cycles": left.cycles if is_open else None,
        "remaining_days": round(left.days, 3) if is_open and left.days is not None else None,
        "daily_hours_rate": _rate(row["daily_hours_rate"]),
        "daily_cycles_rate": _rate(row["daily_cycles_rate"]),
    }


def to_due_item(row: RowMapping, now: datetime) -> DueListItem:
    return DueListItem.model_validate({**dict(row), "task_id": row["id"], **due_answer(row, now)})
