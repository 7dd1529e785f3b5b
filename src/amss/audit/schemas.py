"""Response bodies and filters of the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, field_validator

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
