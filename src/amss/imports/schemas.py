"""Bodies of imports and their rows, and the per-row models the API's own rules come from."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from amss.fleet.schemas import AircraftCreate, TailNumber, UtilizationCreate
from amss.imports.rules import ImportType
from amss.kit.types import (
    CertificateNumber,
    Hours,
    LocalMoment,
    PersonName,
    PlainDate,
    RecordReference,
)
from amss.parts.schemas import Text100, Text200
from amss.programs.schemas import ProgramCreate

ImportStatus = Literal["pending", "validating", "applying", "completed", "failed"]
RowStatus = Literal["valid", "invalid", "applied"]
Outcome = Literal["created", "updated", "unchanged"]


class ImportSummary(BaseModel):
    total: int = Field(description="data rows in the file")
    valid: int = Field(description="rows that passed validation (applied or to be applied)")
    invalid: int
    applied: int = Field(description="rows applied (created, updated or already as the file says)")
    unchanged: int = Field(description="applied rows that changed nothing (already imported)")


class Import(BaseModel):
    id: UUID
    org_id: UUID
    type: ImportType
    status: ImportStatus
    dry_run: bool
    format: Literal["csv", "xlsx"]
    filename: str | None
    size_bytes: int
    ignored_columns: list[str] = Field(description="columns of the header AMSS does not know")
    failure: str | None = Field(description="why the import failed, when it did")
    summary: ImportSummary
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Import:
        values = dict(row)
        values["summary"] = ImportSummary(
            total=row["total"],
            valid=row["valid"],
            invalid=row["invalid"],
            applied=row["applied"],
            unchanged=row["unchanged"],
        )
        return cls.model_validate(values)


class ImportRow(BaseModel):
    row_number: int = Field(description="1 is the first row under the header")
    status: RowStatus
    errors: list[str] = Field(description="what is wrong, each message naming its column")
    raw: dict[str, str] = Field(description="the row as the file has it")
    entity_id: UUID | None = Field(description="the aircraft, entry or record it became")
    outcome: Outcome | None


# Per-row models. Aircraft and flight-log rows are the API's own bodies; a last-done record
# names its aircraft and program by tail number and name instead of ids.
AircraftRow = AircraftCreate
UtilizationRow = UtilizationCreate
ProgramRow = ProgramCreate


class ComplianceRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tail_number: TailNumber
    program: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    performed_at: LocalMoment
    performed_hours: Annotated[Hours, Field(ge=0, le=1_000_000)] | None = None
    performed_cycles: int | None = Field(None, ge=0, le=10_000_000)
    reference: RecordReference
    certified_by_name: PersonName | None = None
    certificate_number: CertificateNumber | None = None


class PartRow(BaseModel):
    """A stock line: the part (its definition, created on first use) and one item of it."""

    model_config = ConfigDict(extra="forbid")
    part_name: Text200
    part_number: Text100 | None = None
    category: Text100 | None = None
    min_stock: int | None = Field(None, ge=0, le=1_000_000)
    serial_number: Text100
    status: Literal["in_stock", "disposed"] | None = None
    expiry_date: PlainDate | None = None
    location: Text200 | None = None


def _message(error: Any) -> str:
    column = ".".join(str(part) for part in error["loc"]) or "row"
    text = "required" if error["type"] == "missing" else error["msg"]
    if error["type"] == "value_error":
        text = text.removeprefix("Value error, ")
    return f"{column}: {text}"


# How pydantic reads a word as a boolean; a spreadsheet says TRUE, yes or 1.
_BOOLEANS = {
    **dict.fromkeys(("true", "t", "yes", "y", "on", "1"), True),
    **dict.fromkeys(("false", "f", "no", "n", "off", "0"), False),
}


@cache
def _cell_kinds(model: type[BaseModel]) -> dict[str, str]:
    """The columns a request body takes as JSON integers or booleans (kit/types' strict
    WholeNumber and Flag), by the body's own JSON schema."""
    kinds = {}
    for name, prop in model.model_json_schema().get("properties", {}).items():
        types = {prop.get("type"), *(branch.get("type") for branch in prop.get("anyOf", ()))}
        for kind in ("integer", "boolean"):
            if kind in types:
                kinds[name] = kind
    return kinds


def _typed(value: Any, kind: str | None) -> Any:
    # A cell is text (CSV) or a spreadsheet's number: read it as the API's JSON would be.
    if kind == "integer" and isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "boolean" and isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    return value


def check_row(model: type[BaseModel], values: dict[str, Any]) -> tuple[Any, list[str]]:
    """The row as ``model`` reads it, or the errors, each naming its column."""
    kinds = _cell_kinds(model)
    typed = {name: _typed(value, kinds.get(name)) for name, value in values.items()}
    try:
        return model.model_validate(typed), []
    except ValidationError as error:
        return None, [_message(item) for item in error.errors()]
