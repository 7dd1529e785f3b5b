"""Tenancy: the organization a caller acts in (SPEC §3), and its calendar."""

from __future__ import annotations

from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from amss.auth.rules import Caller
from amss.db.tables import org_policies, organizations
from amss.db.uow import UnitOfWork
from amss.kit.errors import NotFound
from amss.kit.timefmt import zone


async def act_in(uow: UnitOfWork, caller: Caller, org_id: UUID | None) -> Caller:
    """The caller acting in ``org_id``: honoured for admins (404 if it does not exist);
    everyone else stays pinned to their own organization, whatever they send."""
    if org_id is None or caller.role != "admin" or org_id == caller.org_id:
        return caller
    found = await uow.session.scalar(
        select(organizations.c.id).where(
            organizations.c.id == org_id, organizations.c.deleted_at.is_(None)
        )
    )
    if found is None:
        raise NotFound("organization not found")
    return caller.acting_in(org_id)


async def time_zone_of(session: AsyncSession, org_id: UUID) -> ZoneInfo:
    """The organization's time zone: the calendar its people read dates on (SPEC §6.1)."""
    name = await session.scalar(
        select(org_policies.c.time_zone).where(org_policies.c.org_id == org_id)
    )
    return zone(name or "UTC")
