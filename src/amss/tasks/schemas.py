"""Request and response bodies of maintenance tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from amss.compliance.schemas import ComplianceItem
from amss.due.rules import TaskState
from amss.due.schemas import BasisSource, DueAnswer
from amss.kit.patching import PatchBody
from amss.kit.types import (
    CertificateNumber,
    Flag,
    Hours,
    LocalMoment,
    PersonName,
    RecordReference,
    UtcDateTime,
    WholeNumber,
)
from amss.parts.schemas import Reservation

TaskType = Literal["inspection", "repair", "overhaul"]


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
    basis_source: BasisSource | None = Field(
        description="what the limits rest on (record, completion, assumed); null for manual tasks"
    )
    assigned_mechanic_id: UUID | None
    notes: str | None
    cancel_reason: str | None
    started_at: datetime | None
    completed_at: datetime | None
    completed_by: UUID | None
    completed_hours: Hours | None
    completed_cycles: int | None
    mandatory: bool
    early: bool | None = Field(
        description="completed before any limit reached its due-soon window (no credit given)"
    )
    record_entry: bool = Field(
        description="completed by transcribing a signed paper record, not signed in AMSS"
    )
    certified_by_user_id: UUID | None
    certified_by_name: str | None
    certificate_number: str | None
    record_reference: str | None
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
    due_cycles: WholeNumber | None = Field(None, ge=0, le=10_000_000)
    assigned_mechanic_id: UUID | None = None
    notes: Notes | None = None
    mandatory: Flag = Field(
        False, description="overdue, it grounds the aircraft (an AD, a defect that must be fixed)"
    )
    org_id: UUID | None = Field(None, description="admin only: the organization")

    @model_validator(mode="after")
    def _window(self) -> TaskCreate:
        if self.start_time and self.end_time and self.end_time < self.start_time:
            raise ValueError("end_time is before start_time")
        return self


class TaskUpdate(PatchBody):
    NOT_NULL = ("title", "type", "mandatory")
    title: Title | None = None
    type: TaskType | None = None
    start_time: UtcDateTime | None = None
    end_time: UtcDateTime | None = None
    due_at: UtcDateTime | None = None
    due_hours: Annotated[Hours, Field(ge=0, le=1_000_000)] | None = None
    due_cycles: WholeNumber | None = Field(None, ge=0, le=10_000_000)
    assigned_mechanic_id: UUID | None = None
    notes: Notes | None = None
    mandatory: Flag | None = None
    version: WholeNumber | None = Field(
        None, ge=1, description="optimistic concurrency: the version you read"
    )
    org_id: UUID | None = Field(None, description="admin only: the organization")


# tasks/rules.py, stated for the OpenAPI document: completing and cancelling need notes.
_NOTES_WHEN_CLOSING: JsonDict = {
    "if": {
        "required": ["new_state"],
        "properties": {"new_state": {"enum": ["completed", "cancelled"]}},
    },
    "then": {"required": ["notes"], "properties": {"notes": {"type": "string", "pattern": "\\S"}}},
}


class TaskTransition(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_NOTES_WHEN_CLOSING)
    new_state: TaskState
    version: WholeNumber | None = Field(
        None, ge=1, description="optimistic concurrency: the version you read"
    )
    notes: Notes | None = Field(
        None, description="required to complete (work done) and to cancel (reason)"
    )
    parts_used: list[UUID] | None = Field(
        None, max_length=1000, description="reserved items used by the work"
    )
    completed_at: LocalMoment | None = Field(
        None,
        description="when the work was finished, if not now (a date is read on the "
        "organization's calendar): not in the future, not before the task's basis",
    )
    completed_hours: Annotated[Hours, Field(ge=0, le=1_000_000)] | None = Field(
        None, description="default: the meters at completed_at"
    )
    completed_cycles: WholeNumber | None = Field(None, ge=0, le=10_000_000)
    allow_early_completion: Flag = Field(
        False,
        description="accepted for the original system's clients and ignored: early work "
        "is always allowed and never earns credit",
    )
    certified_by_name: PersonName | None = Field(
        None, description="record entry: who signed the paper record"
    )
    certificate_number: CertificateNumber | None = Field(
        None, description="record entry: the signer's certificate number"
    )
    record_reference: RecordReference | None = Field(
        None, description="record entry: the work order or logbook entry transcribed"
    )
    org_id: UUID | None = Field(None, description="admin only: the organization")

    def record_entry_fields(self) -> dict[str, str | None]:
        return {
            "certified_by_name": self.certified_by_name,
            "certificate_number": self.certificate_number,
            "record_reference": self.record_reference,
        }
