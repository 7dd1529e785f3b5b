"""Demo data for ``amss seed`` and ``amss serve --demo``: idempotent, safe to run again."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select

from amss.audit import journal
from amss.auth.passwords import hash_password
from amss.auth.rules import Caller, Role
from amss.db.engine import Database
from amss.db.tables import organizations, users
from amss.db.uow import UnitOfWork
from amss.orgs.repository import OrganizationRepository
from amss.users.repository import UserRepository

DEMO_ORGANIZATION = "Demo Airline"
DEMO_PASSWORD = "ChangeMe123!"  # noqa: S105 (published demo credential)
DEMO_USERS: tuple[tuple[str, Role, str], ...] = (
    ("admin@demo.local", "admin", "Demo Administrator"),
    ("tenant-admin@demo.local", "tenant_admin", "Demo Tenant Admin"),
    ("scheduler@demo.local", "scheduler", "Demo Scheduler"),
    ("mechanic@demo.local", "mechanic", "Demo Mechanic"),
    ("auditor@demo.local", "auditor", "Demo Auditor"),
    ("viewer@demo.local", "viewer", "Demo Viewer"),
)


@dataclass(frozen=True)
class SeedResult:
    org_id: UUID
    created_organization: bool
    created_users: int


async def seed_demo(database: Database) -> SeedResult:
    async with UnitOfWork(database.session_factory) as uow:
        session = uow.session
        org_row = (
            await session.execute(
                select(organizations.c.id)
                .where(
                    organizations.c.name == DEMO_ORGANIZATION, organizations.c.deleted_at.is_(None)
                )
                .with_for_update()
            )
        ).first()
        created_org = org_row is None
        if org_row is None:
            org_id = (await OrganizationRepository(session).create(DEMO_ORGANIZATION))["id"]
        else:
            org_id = org_row[0]
        system = Caller.system(org_id)
        if created_org:
            await journal.record(
                uow,
                system,
                entity_type="organization",
                entity_id=org_id,
                action="create",
                details={"new": {"name": DEMO_ORGANIZATION}, "source": "seed"},
            )
        existing = set(
            (
                await session.execute(
                    select(users.c.email).where(
                        users.c.org_id == org_id, users.c.deleted_at.is_(None)
                    )
                )
            ).scalars()
        )
        repo = UserRepository(session, org_id)
        password_hash = None
        created = 0
        for email, role, name in DEMO_USERS:
            if email in existing:
                continue
            password_hash = password_hash or await hash_password(DEMO_PASSWORD)
            row = await repo.insert(email=email, role=role, name=name, password_hash=password_hash)
            await journal.record(
                uow,
                system,
                entity_type="user",
                entity_id=row["id"],
                action="create",
                details={"new": {"email": email, "role": role, "name": name}, "source": "seed"},
                entity_version=row["version"],
            )
            created += 1
        await uow.commit()
    return SeedResult(org_id=org_id, created_organization=created_org, created_users=created)
