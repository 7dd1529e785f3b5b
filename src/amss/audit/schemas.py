"""Response bodies and filters of the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

AuditAction = Literal["create", "update", "delete", "state_change", "login", "export"]


class AuditLog(BaseModel):
    id: UUID
    org_id: UUID
    seq: int
    entity_type: str
    entity_id: UUID | None
    action: AuditAction
    user_id: UUID | None
    actor: str
    request_id: str | None
    ip_address: str | None
    user_agent: str | None
    entity_version: int | None
    timestamp: datetime
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @field_validator("ip_address", mode="before")
    @classmethod
    def _address_text(cls, value: object) -> object:
        # Stored as inet; the driver hands back an ipaddress object.
        return None if value is None else str(value)


class AuditFilters(BaseModel):
    entity_type: str | None = None
    entity_id: UUID | None = None
    user_id: UUID | None = None
    action: AuditAction | None = None
    from_: datetime | None = None
    to: datetime | None = None


class ChainVerification(BaseModel):
    ok: bool
    checked: int
    first_broken_seq: int | None
    first_broken_id: UUID | None


EntityType = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_]{0,99}$")
]


class ActionLogCreate(BaseModel):
    """An action done outside AMSS, written into the organization's audit trail
    (gRPC ``AuditService.LogAction``)."""

    model_config = ConfigDict(extra="forbid")
    entity_type: EntityType = Field(description="lower-case name, e.g. work_order")
    entity_id: UUID | None = Field(None, description="the entity's id (a UUID), if it has one")
    action: AuditAction
    details: dict[str, Any] = Field(default_factory=dict)
    org_id: UUID | None = Field(None, description="admin only: the organization")
