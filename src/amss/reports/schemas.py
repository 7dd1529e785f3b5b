"""Report bodies (SPEC §9): the fleet summary, the compliance report, the due-list filters and
the aircraft's current-status record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from amss.due.rules import DueStatus, Governing
from amss.kit.types import Hours
from amss.reports import rules

ComplianceResult = Literal["pass", "fail", "pending"]
RestsOn = Literal["task", "record_entry", "import"]


class TaskCounts(BaseModel):
    scheduled: int
    in_progress: int
    completed: int
    cancelled: int
    overdue: int = Field(description="open tasks overdue now")
    due_soon: int = Field(description="open tasks due soon now")


class AircraftCounts(BaseModel):
    total: int
    operational: int
    maintenance: int
    grounded: int


class PartCounts(BaseModel):
    in_stock: int
    used: int
    disposed: int
    low_stock_definitions: int = Field(
        description="definitions whose available items (in stock, unreserved, unexpired) are "
        "below min_stock"
    )


class ComplianceCounts(BaseModel):
    pending: int = Field(description="compliance items not signed off yet")
    signed: int


class Summary(BaseModel):
    """The fleet at a glance: what operations comes for."""

    tasks: TaskCounts
    aircraft: AircraftCounts
    parts: PartCounts
    compliance: ComplianceCounts


@dataclass(frozen=True)
class ComplianceFilters:
    aircraft_id: UUID | None = None
    task_id: UUID | None = None
    result: ComplianceResult | None = None
    signed: bool | None = None
    from_: datetime | None = None
    to: datetime | None = None

    def described(self) -> dict[str, object]:
        """The filters given, for the export's audit row."""
        named = {
            "aircraft_id": self.aircraft_id,
            "task_id": self.task_id,
            "result": self.result,
            "signed": self.signed,
            "from": self.from_,
            "to": self.to,
        }
        return {key: value for key, value in named.items() if value is not None}


class ComplianceReportItem(BaseModel):
    id: UUID
    task_id: UUID
    task_title: str
    aircraft_id: UUID
    tail_number: str
    description: str
    result: ComplianceResult
    signed_off: bool
    signer_id: UUID | None = Field(description="who signed it off")
    signer_name: str | None
    certificate_number: str | None
    sign_off_time: datetime | None
    supersedes_id: UUID | None = Field(description="the finding this item rectifies")
    created_at: datetime
    time: datetime = Field(description="when it was signed off, or created while unsigned")


class ComplianceReport(BaseModel):
    """Counts over every matching item at the top level; ``items`` is one page of them."""

    model_config = ConfigDict(populate_by_name=True)
    total: int
    pass_: int = Field(alias="pass")
    fail: int
    pending: int
    signed: int
    unsigned: int
    items: list[ComplianceReportItem]


@dataclass(frozen=True)
class DueFilters:
    aircraft_id: UUID | None = None
    days: int | None = None
    due_status: DueStatus | None = None

    def described(self) -> dict[str, object]:
        named = {"aircraft_id": self.aircraft_id, "days": self.days, "due_status": self.due_status}
        return {key: value for key, value in named.items() if value is not None}


class StatusAircraft(BaseModel):
    id: UUID
    tail_number: str
    model: str
    serial_number: str | None
    status: str
    flight_hours_total: Hours
    cycles_total: int
    daily_hours_rate: float | None
    daily_cycles_rate: float | None


class LastDone(BaseModel):
    """The last-done record a requirement's next due rests on."""

    performed_at: datetime
    performed_hours: Hours | None
    performed_cycles: int | None
    certified_by_name: str | None = Field(description="who certified the work")
    certificate_number: str | None
    rests_on: RestsOn = Field(
        description="task: signed off electronically on an AMSS task; record_entry: "
        "transcribed from a signed paper record; import: an imported record"
    )
    reference: str = Field(description="the logbook entry, work order or task it rests on")
    task_id: UUID | None


class NextDue(BaseModel):
    task_id: UUID
    state: str
    due_at: datetime | None
    due_hours: Hours | None
    due_cycles: int | None
    projected_due_at: datetime | None
    remaining_hours: float | None
    remaining_cycles: int | None
    remaining_days: float | None
    governing_limit: Governing | None
    due_status: DueStatus | None
    basis_source: str | None


class StatusRequirement(BaseModel):
    program_id: UUID
    name: str
    ata_chapter: str | None
    interval: str = Field(description="the interval in words: '100 h / 12 months'")
    mandatory: bool
    last_done: LastDone | None
    next_due: NextDue | None


class OpenFinding(BaseModel):
    """A signed ``fail`` not yet cleared by a signed ``pass`` that supersedes it."""

    id: UUID
    task_id: UUID
    task_title: str
    description: str
    signer_name: str | None
    certificate_number: str | None
    sign_off_time: datetime


class StatusReport(BaseModel):
    """The aircraft's current-status record (14 CFR 91.417(a)(2))."""

    generated_at: datetime
    aircraft: StatusAircraft
    requirements: list[StatusRequirement]
    open_findings: list[OpenFinding]

    def table(self) -> list[list[str]]:
        """The record's one table, a row per requirement, as it reads on paper (``rules.
        STATUS_COLUMNS``): the CSV and the PDF print the same cells."""
        rows = []
        for item in self.requirements:
            done, due = item.last_done, item.next_due
            limits = []
            if due is not None:
                if due.due_at is not None:
                    limits.append(rules.day_of(due.due_at))
                if due.due_hours is not None:
                    limits.append(f"{rules.number(due.due_hours)} h")
                if due.due_cycles is not None:
                    limits.append(f"{due.due_cycles:,} cyc")
            rows.append(
                [
                    item.ata_chapter or "",
                    item.name + ("" if item.mandatory else " (not mandatory)"),
                    item.interval,
                    rules.day_of(done.performed_at) if done else "none on record",
                    rules.number(done.performed_hours) if done else "",
                    f"{done.performed_cycles:,}"
                    if done and done.performed_cycles is not None
                    else "",
                    (done.certified_by_name or "") if done else "",
                    (done.certificate_number or "") if done else "",
                    f"{rules.RESTS_ON_WORDS[done.rests_on]}: {done.reference}" if done else "",
                    " / ".join(limits) if due else "no open task",
                    rules.remaining_words(
                        due.remaining_hours, due.remaining_cycles, due.remaining_days
                    )
                    if due
                    else "",
                    rules.STATUS_WORDS.get(due.due_status or "", "") if due else "",
                ]
            )
        return rows


def _cycles(value: int | None) -> str:
    return f"{value:,}" if value is not None else ""


def _remaining(due: NextDue | None) -> str:
    if due is None:
        return ""
    return rules.remaining_words(due.remaining_hours, due.remaining_cycles, due.remaining_days)
