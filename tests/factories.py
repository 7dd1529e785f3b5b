"""Test data written straight to the database (fast), and tokens for it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from uuid import UUID

from argon2 import PasswordHasher
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import Role
from amss.auth.tokens import TokenSigner
from amss.db.tables import org_policies, organizations, users

PASSWORD = "CorrectHorse42!"


@lru_cache(maxsize=1)
def password_hash() -> str:
    return PasswordHasher().hash(PASSWORD)


@dataclass(frozen=True)
class TestUser:
    __test__ = False  # a data class, not a test case

    id: UUID
    org_id: UUID
    email: str
    role: Role


async def make_org(conn: AsyncConnection, name: str | None = None, **policy: object) -> UUID:
    org_id = uuid.uuid4()
    await conn.execute(
        insert(organizations).values(id=org_id, name=name or f"Org {org_id.hex[:8]}")
    )
    await conn.execute(insert(org_policies).values(org_id=org_id, **policy))
    return org_id


async def make_user(
    conn: AsyncConnection, org_id: UUID, role: Role, email: str | None = None
) -> TestUser:
    user_id = uuid.uuid4()
    address = email or f"{role.replace('_', '-')}-{user_id.hex[:8]}@example.com"
    await conn.execute(
        insert(users).values(
            id=user_id, org_id=org_id, email=address, role=role, password_hash=password_hash()
        )
    )
    return TestUser(id=user_id, org_id=org_id, email=address, role=role)


def bearer(signer: TokenSigner, user: TestUser) -> dict[str, str]:
    token, _ = signer.issue_access(user_id=user.id, org_id=user.org_id, role=user.role)
    return {"Authorization": f"Bearer {token}"}


async def make_record(
    conn: AsyncConnection,
    org_id: UUID,
    program_id: UUID,
    aircraft_id: UUID,
    *,
    days_ago: int,
    hours: float | None = None,
    cycles: int | None = None,
) -> UUID:
    """A last-done record entered from paper, its basis the point itself."""
    record_id: UUID = await conn.scalar(
        text(
            "INSERT INTO compliance_records (org_id, program_id, aircraft_id, performed_at,"
            " performed_hours, performed_cycles, basis_at, basis_hours, basis_cycles, source,"
            " reference) VALUES (:o, :p, :a, now() - make_interval(days => :d), :h, :c,"
            " now() - make_interval(days => :d), :h, :c, 'record', 'logbook') RETURNING id"
        ),
        {"o": org_id, "p": program_id, "a": aircraft_id, "d": days_ago, "h": hours, "c": cycles},
    )
    return record_id
