"""Request and response bodies of aircraft and utilization."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from amss.kit.patching import PatchBody
from amss.kit.types import Hours, PlainDate, Rate, UtcDateTime, WholeNumber

AircraftStatus = Literal["operational", "maintenance", "grounded"]
TailNumber = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=20, pattern=r"^[A-Za-z0-9-]+$"
    ),
]
Model = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Serial = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# Far above any airframe's life, far below the columns' range (numeric(10,1), integer).
MAX_METER_HOURS = 1_000_000
MAX_METER_CYCLES = 10_000_000
MeterHours = Annotated[Hours, Field(ge=0, le=MAX_METER_HOURS)]
MeterCycles = Annotated[WholeNumber, Field(ge=0, le=MAX_METER_CYCLES)]
DailyHours = Annotated[Rate, Field(ge=0, le=24)]
DailyCycles = Annotated[Rate, Field(ge=0, le=1000)]


class AircraftCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tail_number: TailNumber
    model: Model
    serial_number: Serial | None = None
    status: AircraftStatus = "operational"
    capacity_slots: WholeNumber = Field(1, ge=1, le=100)
    flight_hours_total: MeterHours = Decimal(0)
    cycles_total: MeterCycles = 0
    avg_daily_hours: DailyHours | None = None
    avg_daily_cycles: DailyCycles | None = None
    last_maintenance: UtcDateTime | None = None
    org_id: UUID | None = Field(None, description="admin only: the organization")


class AircraftUpdate(PatchBody):
    NOT_NULL = (
        "tail_number",
        "model",
        "status",
        "capacity_slots",
        "flight_hours_total",
        "cycles_total",
    )
    tail_number: TailNumber | None = None
    model: Model | None = None
    serial_number: Serial | None = None
    status: AircraftStatus | None = None
    capacity_slots: WholeNumber | None = Field(None, ge=1, le=100)
    flight_hours_total: MeterHours | None = Field(
        None, description="may only go up (recorded as a manual utilization entry)"
    )
    cycles_total: MeterCycles | None = Field(
        None, description="may only go up (recorded as a manual utilization entry)"
    )
    avg_daily_hours: DailyHours | None = None
    avg_daily_cycles: DailyCycles | None = None
    last_maintenance: UtcDateTime | None = None
    org_id: UUID | None = Field(None, description="admin only: the organization")


class Aircraft(BaseModel):
    id: UUID
    org_id: UUID
    tail_number: str
    model: str
    serial_number: str | None
    status: AircraftStatus
    capacity_slots: int
    flight_hours_total: Hours
    cycles_total: int
    avg_daily_hours: Rate | None
    avg_daily_cycles: Rate | None
    daily_hours_rate: float | None = Field(
        description="rate used for forecasts (observed, else average, else policy)"
    )
    daily_cycles_rate: float | None
    last_maintenance: datetime | None
    next_due: datetime | None = Field(description="earliest projected due date of the open tasks")
    version: int
    created_at: datetime
    updated_at: datetime


class UtilizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flight_date: PlainDate
    flight_hours: Annotated[Hours, Field(ge=-MAX_METER_HOURS, le=MAX_METER_HOURS)] = Field(
        description="at most 24 a day for flying; negative only in a correction, which takes "
        "back at most what its entry still adds"
    )
    cycles: WholeNumber = Field(ge=-MAX_METER_CYCLES, le=MAX_METER_CYCLES)
    source: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)
    ] = "api"
    external_id: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    corrects_id: UUID | None = None
    org_id: UUID | None = Field(None, description="admin only: the organization")


class UtilizationEntry(BaseModel):
    id: UUID
    org_id: UUID
    aircraft_id: UUID
    flight_date: date
    flight_hours: Hours
    cycles: int
    source: str
    external_id: str | None
    corrects_id: UUID | None
    created_by: UUID | None
    created_at: datetime
