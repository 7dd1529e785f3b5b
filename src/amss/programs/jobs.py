"""Periodic duties of the due forecast: the generation sweep with the due-status scan, and
the daily refresh of observed rates and forecasts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from amss.db.engine import Database
from amss.db.tables import aircraft, organizations
from amss.db.uow import UnitOfWork
from amss.fleet.repository import AircraftRepository
from amss.kit.timefmt import utcnow
from amss.programs.due_scan import scan_due_status
from amss.programs.forecast import reproject
from amss.programs.generator import generate


@dataclass(frozen=True)
class SweepResult:
    generated: int
    status_changes: int
    grounded: int


async def sweep(database: Database) -> SweepResult:
    """Every organization: missing tasks generated, due status recorded (events, grounding)."""
    now = utcnow()
    async with UnitOfWork(database.session_factory) as uow:
        generated = await generate(uow.session, None, now=now, reason="periodic sweep")
        scanned = await scan_due_status(uow, now=now)
        await uow.commit()
    return SweepResult(len(generated), scanned.changed, len(scanned.grounded))


async def refresh_forecasts(database: Database) -> int:
    """Observed rates slide with the 90-day window: refresh them and re-project, per org."""
    now = utcnow()
    async with UnitOfWork(database.session_factory) as uow:
        org_ids = (
            (
                await uow.session.execute(
                    select(organizations.c.id).where(organizations.c.deleted_at.is_(None))
                )
            )
            .scalars()
            .all()
        )
    refreshed = 0
    for org_id in org_ids:
        async with UnitOfWork(database.session_factory) as uow:
            ids = list(
                (
                    await uow.session.execute(
                        select(aircraft.c.id).where(
                            aircraft.c.org_id == org_id, aircraft.c.deleted_at.is_(None)
                        )
                    )
                ).scalars()
            )
            if ids:
                await AircraftRepository(uow.session, org_id).refresh_observed_rates(
                    ids, now.date()
                )
                await reproject(uow.session, org_id, ids, now)
                await uow.commit()
                refreshed += len(ids)
    return refreshed
