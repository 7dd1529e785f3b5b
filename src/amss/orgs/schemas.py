"""Request and response bodies of organizations and their policies."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from amss.kit.patching import PatchBody
from amss.kit.timefmt import zone
from amss.kit.types import WholeNumber

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


class OrganizationUpdate(PatchBody):
    NOT_NULL = ("name",)
    name: Name | None = None


class Organization(BaseModel):
    id: UUID
    name: str
    version: int
    created_at: datetime
    updated_at: datetime


def _time_zone(value: str) -> str:
    zone(value)  # ValueError names the unknown zone
    return value


TimeZoneName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_time_zone),
    WithJsonSchema(
        {"type": "string", "enum": sorted(available_timezones()), "description": "IANA name"}
    ),
]


class PolicyUpdate(PatchBody):
    # Fields that may not be cleared with null (they have no "unset" meaning).
    NOT_NULL = (
        "retention_days",
        "max_webhook_attempts",
        "webhook_replay_window_seconds",
        "api_rate_limit_per_min",
        "due_soon_days",
        "due_soon_hours",
        "due_soon_cycles",
        "time_zone",
        "max_webhooks",
    )
    retention_days: WholeNumber | None = Field(None, ge=1, le=36500)
    max_webhook_attempts: WholeNumber | None = Field(None, ge=1, le=50)
    webhook_replay_window_seconds: WholeNumber | None = Field(None, ge=1, le=86400)
    api_rate_limit_per_min: WholeNumber | None = Field(None, ge=1, le=1_000_000)
    due_soon_days: WholeNumber | None = Field(None, ge=0, le=3650)
    due_soon_hours: Decimal | None = Field(None, ge=0, le=100_000, decimal_places=1)
    due_soon_cycles: WholeNumber | None = Field(None, ge=0, le=100_000)
    default_daily_hours: Decimal | None = Field(None, ge=0, le=24, decimal_places=2)
    default_daily_cycles: Decimal | None = Field(None, ge=0, le=1000, decimal_places=2)
    time_zone: TimeZoneName | None = Field(
        None,
        description="IANA time zone of the organization's calendar: calendar limits end at "
        "23:59:59 local, flight dates and expiry are local dates",
    )
    max_webhooks: WholeNumber | None = Field(None, ge=0, le=1000, description="quota: admin only")


class Policy(BaseModel):
    org_id: UUID
    retention_days: int
    max_webhook_attempts: int
    webhook_replay_window_seconds: int
    api_rate_limit_per_min: int
    due_soon_days: int
    due_soon_hours: float
    due_soon_cycles: int
    default_daily_hours: float | None
    default_daily_cycles: float | None
    time_zone: str
    max_webhooks: int
    updated_at: datetime


# Policy fields that every forecast and due status depends on (SPEC §6.3).
DUE_POLICY_FIELDS = frozenset(
    {
        "due_soon_days",
        "due_soon_hours",
        "due_soon_cycles",
        "default_daily_hours",
        "default_daily_cycles",
        "time_zone",
    }
)

# Quotas protect the installation, not just the tenant: only an admin sets them (SPEC §10);
# a tenant_admin reads them with the rest of the policy.
QUOTA_FIELDS = frozenset({"api_rate_limit_per_min", "max_webhooks", "retention_days"})
