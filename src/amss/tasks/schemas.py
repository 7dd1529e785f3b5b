"""Response bodies of maintenance tasks and due lists."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy.engine import RowMapping

from amss.compliance.schemas import ComplianceItem
from amss.kit.types import Hours, UtcDateTime
from amss.parts.schemas import Reservation
from amss.programs import rules

TaskState = Literal["scheduled", "in_progress", "completed", "cancelled"]
TaskType = Literal["inspection", "repair", "overhaul"]
DueStatus = Literal["ok", "due_soon", "due", "overdue"]
Governing = Literal["hours", "cycles", "calendar"]


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


class Task(DueAnswer):
    id: UUID
    org_id: UUID
    aircraft_id: UUID
    tail_number: str
    program_id: UUID | None
    type: TaskType
    state: TaskState
    title: str
    start_time: datetime | None
    end_time: datetime | None
    basis_at: datetime | None
    basis_hours: Hours | None
    basis_cycles: int | None
    assigned_mechanic_id: UUID | None
    notes: str | None
    cancel_reason: str | None
    started_at: datetime | None
    completed_at: datetime | None
    completed_by: UUID | None
    completed_hours: Hours | None
    completed_cycles: int | None
    version: int
    created_at: datetime
    updated_at: datetime


class TaskDetail(Task):
    reservations: list[Reservation]
    compliance_items: list[ComplianceItem]


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]


class TaskCreate(BaseModel):
    """A manual task: a repair, an overhaul, an inspection outside any program."""

    model_config = ConfigDict(extra="forbid")
    aircraft_id: UUID
    type: TaskType = "repair"
    title: Title
    start_time: UtcDateTime | None = None
    end_time: UtcDateTime | None = None
    due_at: UtcDateTime | None = None
    due_hours: Annotated[Hours, Field(ge=0, le=1_000_000)] | None = None
    due_cycles: int | None = Field(None, ge=0, le=10_000_000)
    assigned_mechanic_id: UUID | None = None
    notes: Notes | None = None
    org_id: UUID | None = Field(None, description="admin only: the organization")

    @model_validator(mode="after")
    def _window(self) -> TaskCreate:
        if self.start_time and self.end_time and self.end_time < self.start_time:
            raise ValueError("end_time is before start_time")
        return self


class TaskUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title | None = None
    type: TaskType | None = None
    start_time: UtcDateTime | None = None
    end_time: UtcDateTime | None = None
    due_at: UtcDateTime | None = None
    due_hours: Annotated[Hours, Field(ge=0, le=1_000_000)] | None = None
    due_cycles: int | None = Field(None, ge=0, le=10_000_000)
    assigned_mechanic_id: UUID | None = None
    notes: Notes | None = None
    version: int | None = Field(
        None, ge=1, description="optimistic concurrency: the version you read"
    )
    org_id: UUID | None = Field(None, description="admin only: the organization")


class TaskTransition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new_state: TaskState
    version: int | None = Field(
        None, ge=1, description="optimistic concurrency: the version you read"
    )
    notes: Notes | None = Field(
        None, description="required to complete (work done) and to cancel (reason)"
    )
    parts_used: list[UUID] | None = Field(
        None, max_length=1000, description="reserved items used by the work"
    )
    completed_hours: Annotated[Hours, Field(ge=0, le=1_000_000)] | None = None
    completed_cycles: int | None = Field(None, ge=0, le=10_000_000)
    allow_early_completion: bool = False
    org_id: UUID | None = Field(None, description="admin only: the organization")


class DueListItem(DueAnswer):
    task_id: UUID
    aircraft_id: UUID
    tail_number: str
    program_id: UUID | None
    title: str
    state: TaskState


def due_answer(row: RowMapping, now: datetime) -> dict[str, Any]:
    """The computed half of a task's due answer (the rest are its columns)."""
    is_open = row["state"] in ("scheduled", "in_progress")
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
        "daily_hours_rate": float(row["daily_hours_rate"])
        if row["daily_hours_rate"] is not None
        else None,
        "daily_cycles_rate": float(row["daily_cycles_rate"])
        if row["daily_cycles_rate"] is not None
        else None,
    }


def to_task(row: RowMapping, now: datetime) -> Task:
    return Task.model_validate({**dict(row), **due_answer(row, now)})


def to_due_item(row: RowMapping, now: datetime) -> DueListItem:
    return DueListItem.model_validate({**dict(row), "task_id": row["id"], **due_answer(row, now)})
