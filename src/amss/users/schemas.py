"""Request and response bodies of users."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from amss.auth.passwords import MIN_PASSWORD_LENGTH
from amss.auth.rules import Role
from amss.kit.patching import PatchBody
from amss.kit.types import AuthorizationTag, CertificateNumber


def _email(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        raise ValueError("not an email address")
    return value


Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=3,
        max_length=254,
        # Printable ASCII, one @, a dot inside the domain: _email's rule, stated so that
        # every regex dialect (the OpenAPI document's ECMA, pydantic's Rust) reads it alike.
        pattern=r"^[!-?A-~]+@[!-\-/-?A-~][!-?A-~]*\.[!-?A-~]*[!-\-/-?A-~]$",
    ),
    AfterValidator(_email),
]
Password = Annotated[
    str,
    Field(
        min_length=MIN_PASSWORD_LENGTH,
        max_length=256,
        description=f"at least {MIN_PASSWORD_LENGTH} characters",
    ),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Authorizations = Annotated[list[AuthorizationTag], Field(max_length=20)]
CERTIFYING_FIELDS = ("certificate_number", "authorizations")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: Password
    role: Role
    name: Name | None = None
    certificate_number: CertificateNumber | None = Field(
        None, description="makes the user a certifying user (completes tasks, signs items)"
    )
    authorizations: Authorizations = Field(
        default_factory=list, description="upper-case tags the certificate carries (A&P, IA)"
    )
    org_id: UUID | None = Field(
        None, description="admin only: create the user in this organization"
    )


class UserUpdate(PatchBody):
    NOT_NULL = ("email", "password", "role", "authorizations")
    email: Email | None = None
    password: Password | None = None
    role: Role | None = None
    name: Name | None = None
    certificate_number: CertificateNumber | None = Field(
        None, description="null clears it: the user no longer certifies"
    )
    authorizations: Authorizations | None = None
    org_id: UUID | None = Field(None, description="admin only: the user's organization")


class User(BaseModel):
    id: UUID
    org_id: UUID
    email: str
    name: str | None
    role: Role
    certificate_number: str | None
    authorizations: list[str]
    last_login: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
