"""Request and response bodies of part definitions, items and reservations."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from amss.kit.patching import PatchBody
from amss.kit.types import PlainDate, WholeNumber

ItemStatus = Literal["in_stock", "used", "disposed"]
ReservationState = Literal["reserved", "used", "released"]
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class DefinitionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text200
    part_number: Text100 | None = None
    category: Text100 | None = None
    min_stock: WholeNumber = Field(0, ge=0, le=1_000_000)
    org_id: UUID | None = Field(None, description="admin only: the organization")


class DefinitionUpdate(PatchBody):
    NOT_NULL = ("name", "min_stock")
    name: Text200 | None = None
    part_number: Text100 | None = None
    category: Text100 | None = None
    min_stock: WholeNumber | None = Field(None, ge=0, le=1_000_000)
    org_id: UUID | None = Field(None, description="admin only: the organization")


class Definition(BaseModel):
    id: UUID
    org_id: UUID
    name: str
    part_number: str | None
    category: str | None
    min_stock: int
    available: int = Field(description="in stock, unreserved and unexpired items")
    low_stock: bool
    version: int
    created_at: datetime
    updated_at: datetime


def to_definition(row: Mapping[Any, Any]) -> Definition:
    values = dict(row)
    return Definition.model_validate(
        {**values, "low_stock": values["available"] < values["min_stock"]}
    )


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    part_definition_id: UUID
    serial_number: Text100
    status: Literal["in_stock", "disposed"] = "in_stock"
    expiry_date: PlainDate | None = None
    location: Text200 | None = None
    org_id: UUID | None = Field(None, description="admin only: the organization")


class ItemUpdate(PatchBody):
    NOT_NULL = ("serial_number", "status")
    serial_number: Text100 | None = None
    status: Literal["in_stock", "disposed"] | None = Field(
        None, description="'used' is reached through a reservation only"
    )
    expiry_date: PlainDate | None = None
    location: Text200 | None = None
    org_id: UUID | None = Field(None, description="admin only: the organization")


class Item(BaseModel):
    id: UUID
    org_id: UUID
    part_definition_id: UUID
    serial_number: str
    status: ItemStatus
    expiry_date: date | None
    location: str | None
    reserved: bool
    version: int
    created_at: datetime
    updated_at: datetime


class ReservationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_id: UUID
    part_item_id: UUID
    quantity: WholeNumber = Field(1, ge=1, le=1, description="serialized items: always 1")
    org_id: UUID | None = Field(None, description="admin only: the organization")


class ReservationTransition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new_state: Literal["used", "released"]
    org_id: UUID | None = Field(None, description="admin only: the organization")


class Reservation(BaseModel):
    id: UUID
    org_id: UUID
    task_id: UUID
    part_item_id: UUID
    part_definition_id: UUID
    serial_number: str
    state: ReservationState
    quantity: int
    created_by: UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
