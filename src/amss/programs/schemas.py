"""Request and response bodies of maintenance programs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict, JsonValue

from amss.kit.patching import PatchBody, document_not_nullable
from amss.kit.types import AuthorizationTag, Flag, Hours, LocalMoment, WholeNumber

TaskType = Literal["inspection", "repair", "overhaul"]
IntervalType = Literal["flight_hours", "cycles", "calendar"]
Basis = Literal["actual", "scheduled"]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PositiveHours = Annotated[Hours, Field(gt=0, le=1_000_000)]
ToleranceHours = Annotated[Hours, Field(ge=0, le=1_000_000)]


class RequiredPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    part_definition_id: UUID
    quantity: WholeNumber = Field(ge=1, le=1000)


# The original system's single interval maps onto one of ours.
INTERVAL_FIELD: dict[str, str] = {
    "flight_hours": "interval_hours",
    "cycles": "interval_cycles",
    "calendar": "interval_days",
}
INTERVAL_FIELDS = ("interval_hours", "interval_cycles", "interval_days", "interval_months")


def _apply_interval_type(values: dict[str, Any]) -> dict[str, Any]:
    kind, amount = values.get("interval_type"), values.get("interval_value")
    if kind is None and amount is None:
        return values
    if kind is None or amount is None:
        raise ValueError("interval_type and interval_value go together")
    target = INTERVAL_FIELD.get(kind) if isinstance(kind, str) else None
    if target is None:
        return values  # the Literal check reports the bad value
    try:
        contradicts = values.get(target) is not None and Decimal(str(values[target])) != Decimal(
            str(amount)
        )
    except ArithmeticError:  # not numbers: the field checks report them
        return values
    if contradicts:
        raise ValueError(f"interval_value {amount} contradicts {target} {values[target]}")
    values[target] = amount
    return values


def _present(name: str, kind: str) -> JsonDict:
    return {"required": [name], "properties": {name: {"type": kind}}}


def _one_interval(kind: str, field: str) -> JsonDict:
    # interval_type names the field interval_value fills: that field is not sent too.
    return {
        "if": {"required": ["interval_type"], "properties": {"interval_type": {"const": kind}}},
        "then": {"not": _present(field, "number")},
    }


# The rules of the validators below that JSON Schema can state, for the OpenAPI document.
_PROGRAM_RULES: list[JsonValue] = [
    {"if": _present("interval_value", "number"), "then": _present("interval_type", "string")},
    {"if": _present("interval_type", "string"), "then": _present("interval_value", "number")},
    {"not": {"allOf": [_present("aircraft_id", "string"), _present("aircraft_model", "string")]}},
    *[_one_interval(kind, field) for kind, field in INTERVAL_FIELD.items()],
    {
        "if": {
            "required": ["interval_type"],
            "properties": {"interval_type": {"enum": ["cycles", "calendar"]}},
        },
        "then": {
            "properties": {"interval_value": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}
        },
    },
]


class ProgramFields(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"allOf": _PROGRAM_RULES})
    description: Annotated[str, StringConstraints(max_length=4000)] | None = None
    ata_chapter: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = (
        None
    )
    aircraft_id: UUID | None = Field(None, description="applies to this aircraft only")
    aircraft_model: Text200 | None = Field(
        None, description="applies to every aircraft of this model"
    )
    interval_type: IntervalType | None = Field(
        None, description="original single interval (with interval_value)"
    )
    interval_value: Decimal | None = Field(None, gt=0, le=1_000_000)
    interval_hours: PositiveHours | None = None
    interval_cycles: WholeNumber | None = Field(None, gt=0, le=1_000_000)
    interval_days: WholeNumber | None = Field(None, gt=0, le=36500)
    interval_months: WholeNumber | None = Field(None, gt=0, le=1200)
    tolerance_hours: ToleranceHours | None = None
    tolerance_cycles: WholeNumber | None = Field(None, ge=0, le=1_000_000)
    tolerance_days: WholeNumber | None = Field(None, ge=0, le=3650)
    estimated_duration_hours: (
        Annotated[Decimal, Field(gt=0, le=10_000, decimal_places=2)] | None
    ) = None
    last_performed: LocalMoment | None = Field(
        None,
        description="programs for one aircraft only: date (on the organization's calendar) "
        "or date-time of the last accomplishment, stored as that aircraft's last-done record",
    )
    last_performed_hours: Annotated[Hours, Field(ge=0, le=1_000_000)] | None = None
    last_performed_cycles: WholeNumber | None = Field(None, ge=0, le=10_000_000)
    required_parts: list[RequiredPart] | None = Field(
        None, max_length=100, description="parts that starting a task of this program reserves"
    )
    mandatory: Flag | None = Field(
        None,
        description="an overdue mandatory requirement grounds the aircraft (default true); "
        "a non-mandatory one (a wash) only reports overdue",
    )
    required_authorization: AuthorizationTag | None = Field(
        None, description="completing its task needs a certifying user holding this (e.g. IA)"
    )
    satisfies: list[UUID] | None = Field(
        None,
        max_length=50,
        description="programs this one also does (the annual satisfies the 100-hour): its "
        "completion is their last-done record too",
    )
    org_id: UUID | None = Field(None, description="admin only: the organization")

    @model_validator(mode="before")
    @classmethod
    def _legacy_interval(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return _apply_interval_type(dict(data))
        return data

    @model_validator(mode="after")
    def _applicability(self) -> ProgramFields:
        if self.aircraft_id is not None and self.aircraft_model is not None:
            raise ValueError("give aircraft_id or aircraft_model, not both")
        if self.required_parts is not None:
            seen = [part.part_definition_id for part in self.required_parts]
            if len(seen) != len(set(seen)):
                raise ValueError("required_parts lists a part definition twice")
        if self.satisfies is not None and len(self.satisfies) != len(set(self.satisfies)):
            raise ValueError("satisfies lists a program twice")
        if (
            self.interval_value is not None
            and self.interval_type == "cycles"
            and self.interval_value % 1
        ):
            raise ValueError("interval_value must be a whole number of cycles")
        if (
            self.interval_value is not None
            and self.interval_type == "calendar"
            and self.interval_value % 1
        ):
            raise ValueError("interval_value must be a whole number of days")
        return self


class ProgramCreate(ProgramFields):
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                *_PROGRAM_RULES,
                {
                    "anyOf": [
                        *(_present(name, "number") for name in INTERVAL_FIELDS),
                        _present("interval_value", "number"),
                    ]
                },
            ]
        }
    )

    name: Text200
    task_type: TaskType = "inspection"
    next_due_basis: Basis = "actual"
    mandatory: Flag = True

    @model_validator(mode="after")
    def _needs_an_interval(self) -> ProgramCreate:
        if all(getattr(self, name) is None for name in INTERVAL_FIELDS):
            raise ValueError(
                "a program needs at least one of interval_hours, interval_cycles, interval_days, "
                "interval_months (or interval_type with interval_value)"
            )
        return self


def _program_update_schema(schema: dict[str, Any], model: type[Any]) -> None:
    document_not_nullable(schema, model)
    schema["allOf"] = _PROGRAM_RULES


class ProgramUpdate(ProgramFields, PatchBody):
    model_config = ConfigDict(json_schema_extra=_program_update_schema)
    NOT_NULL = ("name", "task_type", "next_due_basis", "estimated_duration_hours", "mandatory")

    name: Text200 | None = None
    task_type: TaskType | None = None
    next_due_basis: Basis | None = None


class Program(BaseModel):
    id: UUID
    org_id: UUID
    name: str
    description: str | None
    ata_chapter: str | None
    task_type: TaskType
    aircraft_id: UUID | None
    aircraft_model: str | None
    interval_type: IntervalType
    interval_value: float
    interval_hours: Hours | None
    interval_cycles: int | None
    interval_days: int | None
    interval_months: int | None
    tolerance_hours: Hours | None
    tolerance_cycles: int | None
    tolerance_days: int | None
    next_due_basis: Basis
    estimated_duration_hours: float
    last_performed: datetime | None = Field(
        description="one-aircraft programs: the newest last-done record; null otherwise"
    )
    last_performed_hours: Hours | None
    last_performed_cycles: int | None
    required_parts: list[RequiredPart]
    mandatory: bool
    required_authorization: str | None
    satisfies: list[UUID]
    version: int
    created_at: datetime
    updated_at: datetime


class GenerationResult(BaseModel):
    program_id: UUID
    generated: int
    task_ids: list[UUID]


def legacy_interval(row: Any) -> tuple[IntervalType, float]:
    """The first set interval as the original ``interval_type``/``interval_value``.

    Calendar months have no original spelling: they read as ``calendar`` with 30 days a month.
    """
    if row["interval_hours"] is not None:
        return "flight_hours", float(row["interval_hours"])
    if row["interval_cycles"] is not None:
        return "cycles", float(row["interval_cycles"])
    if row["interval_days"] is not None:
        return "calendar", float(row["interval_days"])
    return "calendar", float(row["interval_months"] * 30)


def to_program(values: dict[str, Any]) -> Program:
    """A program as the API shows it, with the original single-interval fields."""
    kind, value = legacy_interval(values)
    return Program.model_validate({**values, "interval_type": kind, "interval_value": value})
