"""Periodic duties of the due engine, one organization per transaction: the generation
sweep with the due-status scan, and the daily refresh of rates and forecasts.

One organization's bad data never stops the others: its failure is logged and counted
(``amss_job_failures_total``) and the job goes on with the next organization.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import select

from amss.auth.rules import Caller
from amss.db.engine import Database
from amss.db.tables import organizations
from amss.db.uow import UnitOfWork
from amss.due import engine
from amss.kit.logging import get_logger
from amss.kit.metrics import job_failures_total

_log = get_logger(__name__)


@dataclass
class SweepResult:
    organizations: int = 0
    generated: int = 0
    status_changes: int = 0
    grounded: int = 0
    failed: list[UUID] = field(default_factory=list)


async def _organizations(database: Database) -> list[UUID]:
    async with UnitOfWork(database.session_factory) as uow:
        rows = await uow.session.execute(
            select(organizations.c.id)
            .where(organizations.c.deleted_at.is_(None))
            .order_by(organizations.c.id)
        )
        return list(rows.scalars())


async def _each_organization(
    database: Database,
    job: str,
    work: Callable[[UnitOfWork, Caller], Awaitable[engine.Followed | int]],
) -> tuple[list[engine.Followed | int], list[UUID]]:
    """Run ``work`` for every organization in its own transaction; failures are isolated."""
    done: list[engine.Followed | int] = []
    failed: list[UUID] = []
    for org_id in await _organizations(database):
        try:
            async with UnitOfWork(database.session_factory) as uow:
                outcome = await work(uow, Caller.system(org_id))
                await uow.commit()
        except Exception:
            job_failures_total.labels(job=job).inc()
            _log.exception("periodic job failed for one organization", job=job, org_id=str(org_id))
            failed.append(org_id)
            continue
        done.append(outcome)
    return done, failed


async def sweep(database: Database) -> SweepResult:
    """Every organization: missing tasks generated, due status recorded (events, grounding)."""

    async def one(uow: UnitOfWork, caller: Caller) -> engine.Followed:
        return await engine.sweep(uow, caller)

    done, failed = await _each_organization(database, "due_sweep", one)
    result = SweepResult(organizations=len(done), failed=failed)
    for followed in done:
        assert isinstance(followed, engine.Followed)
        result.generated += len(followed.generated)
        result.status_changes += followed.status_changes
        result.grounded += len(followed.grounded)
    return result


async def refresh_forecasts(database: Database) -> int:
    """Observed rates slide with the 90-day window: refresh them and re-project, per org."""

    async def one(uow: UnitOfWork, caller: Caller) -> int:
        return await engine.refresh_forecasts(uow, caller)

    done, _ = await _each_organization(database, "refresh_forecasts", one)
    return sum(count for count in done if isinstance(count, int))
