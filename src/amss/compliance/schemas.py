"""Request and response bodies of compliance items."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from amss.kit.patching import PatchBody

Result = Literal["pass", "fail", "pending"]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)
]


class ComplianceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_id: UUID
    description: Description
    result: Result = "pending"
    supersedes_id: UUID | None = Field(
        None,
        description="the signed failed item (a finding) of the same task this one rectifies or "
        "re-inspects",
    )
    org_id: UUID | None = Field(None, description="admin only: the organization")


class ComplianceUpdate(PatchBody):
    NOT_NULL = ("description", "result")
    description: Description | None = None
    result: Result | None = None
    org_id: UUID | None = Field(None, description="admin only: the organization")


class SignOff(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result: Literal["pass", "fail"] | None = Field(None, description="set the result while signing")
    org_id: UUID | None = Field(None, description="admin only: the organization")


class ComplianceItem(BaseModel):
    id: UUID
    org_id: UUID
    task_id: UUID
    description: str
    result: Result
    signed_off: bool
    sign_off_user_id: UUID | None
    sign_off_time: datetime | None
    certificate_number: str | None = Field(description="the signer's, copied when signed")
    supersedes_id: UUID | None
    created_by: UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
