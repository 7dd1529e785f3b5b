"""Request and response bodies of webhooks and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from amss.events.catalogue import CATALOGUE

# The catalogue, documented as an enum; the validator below gives the readable message.
EventTypeName = Annotated[
    str, WithJsonSchema({"type": "string", "enum": [*sorted(CATALOGUE), "*"]})
]
DeliveryStatus = Literal["pending", "delivered", "failed", "dead", "cancelled"]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(
        min_length=8,
        max_length=2000,
        # webhooks/rules.py's shape check, for the OpenAPI document (the address rules of
        # SPEC §7.2 are checked when the name is resolved).
        json_schema_extra={"pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s:][^/?#@\s]*([/?#]\S*)?$"},
    )
    events: list[EventTypeName] = Field(
        min_length=1, max_length=50, description="event types, or * for all"
    )
    org_id: UUID | None = Field(None, description="admin only: the organization")

    @field_validator("events")
    @classmethod
    def _known(cls, events: list[str]) -> list[str]:
        unknown = sorted(set(events) - CATALOGUE.keys() - {"*"})
        if unknown:
            raise ValueError(f"unknown event type(s): {', '.join(unknown)}")
        return sorted(set(events))


class Webhook(BaseModel):
    id: UUID
    org_id: UUID
    url: str
    events: list[str]
    active: bool = Field(description="false once deleted; its deliveries stay readable")
    created_at: datetime
    deleted_at: datetime | None = None


class WebhookCreated(Webhook):
    secret: str = Field(description="64 hex characters; shown only in this response")
    secret_standard: str = Field(
        description="whsec_ + base64 of the same 32 bytes (Standard Webhooks)"
    )


class Attempt(BaseModel):
    at: datetime
    response_code: int | None
    error: str | None
    duration_ms: int


class Delivery(BaseModel):
    id: UUID
    webhook_id: UUID
    event_id: UUID
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_response_code: int | None
    last_response_body: str | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    attempts: list[Attempt]


class Queued(BaseModel):
    delivery_id: UUID
    status: DeliveryStatus


def to_delivery(row: Any) -> Delivery:
    return Delivery.model_validate(dict(row))
