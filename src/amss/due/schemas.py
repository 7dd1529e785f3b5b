"""Response bodies of the due engine: a task's due answer and the due list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from amss.due.rules import DueStatus, Governing, TaskState
from amss.kit.types import (
    CertificateNumber,
    Hours,
    LocalMoment,
    PersonName,
    RecordReference,
    WholeNumber,
)


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


BasisSource = Literal["record", "completion", "assumed"]


class DueListItem(DueAnswer):
    task_id: UUID
    aircraft_id: UUID
    tail_number: str
    program_id: UUID | None
    title: str
    state: TaskState
    basis_source: BasisSource | None = Field(
        description="what the limits rest on: a last-done record, the previous completion, "
        "or the assumption that the requirement was met when it started applying; null for "
        "manual tasks"
    )


RecordSource = Literal["record", "task", "import"]


class RecordCreate(BaseModel):
    """A last-done record entered from the aircraft's records (SPEC §6.2)."""

    model_config = ConfigDict(extra="forbid")
    program_id: UUID
    performed_at: LocalMoment = Field(
        description="when it was done: a date-time, or a date on the organization's calendar"
    )
    performed_hours: Annotated[Hours, Field(ge=0, le=1_000_000)] | None = None
    performed_cycles: WholeNumber | None = Field(None, ge=0, le=10_000_000)
    reference: RecordReference = Field(description="the logbook entry or work order it rests on")
    certified_by_name: PersonName | None = None
    certificate_number: CertificateNumber | None = None
    org_id: UUID | None = Field(None, description="admin only: the organization")


class ComplianceRecord(BaseModel):
    id: UUID
    org_id: UUID
    program_id: UUID
    aircraft_id: UUID
    performed_at: datetime
    performed_hours: Hours | None
    performed_cycles: int | None
    basis_at: datetime = Field(description="the point the next interval counts from")
    basis_hours: Hours | None
    basis_cycles: int | None
    source: RecordSource
    task_id: UUID | None
    reference: str
    certified_by_user_id: UUID | None
    certified_by_name: str | None
    certificate_number: str | None
    created_by: UUID | None
    created_at: datetime


class Requirement(BaseModel):
    """One applicable program on one aircraft: its last done, its open task, its due answer."""

    program_id: UUID
    name: str
    ata_chapter: str | None
    task_type: str
    interval_hours: Hours | None
    interval_cycles: int | None
    interval_days: int | None
    interval_months: int | None
    tolerance_hours: Hours | None
    tolerance_cycles: int | None
    tolerance_days: int | None
    next_due_basis: str
    mandatory: bool = Field(description="overdue, it grounds the aircraft")
    required_authorization: str | None = Field(
        description="the authorization a certifying user needs to sign its completion"
    )
    last_done: ComplianceRecord | None
    open_task: DueListItem | None
