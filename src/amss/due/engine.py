"""The one entry point of the due engine: what follows a change, in the change's transaction.

Every service that changes meters, rates, aircraft, programs, tasks, last-done records or
the organization's policy calls :func:`after_change` once, naming what it touched. The
engine then brings every derived fact up to date, always the same steps in the same order:

1. lock the aircraft concerned, in id order (the lock order of ``docs/decisions.md``);
2. refresh their observed utilization rates (when utilization changed);
3. re-limit their open scheduled tasks from each requirement's baseline and interval;
4. cancel the tasks whose requirement no longer applies;
5. generate the missing open task of every (requirement, aircraft) pair;
6. re-project their open tasks and ``next_due``;
7. re-scan their due status (events once per change, grounding).

Every step is one set-based statement over the scope, and a no-op where nothing changed.
The periodic sweep (:func:`sweep`) is steps 1, 5 and 7 for a whole organization: time
alone moves calendar due status, not limits.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import Row

from amss.auth.rules import Caller
from amss.db.uow import UnitOfWork
from amss.due.forecast import reproject
from amss.due.generator import generate
from amss.due.limits import cancel_inapplicable, relimit_tasks
from amss.due.repository import TaskRepository
from amss.due.scan import scan_due_status
from amss.due.sql import APPLIES, OPEN_STATES
from amss.fleet.repository import AircraftRepository
from amss.kit.timefmt import utcnow

# The aircraft a change concerns, locked in id order before any of their tasks: the given
# aircraft (programs given with them only narrow generation, as when a task completes), or
# for programs alone every aircraft they apply to or have open tasks on.
_LOCK_SCOPE = text(
    f"""
    SELECT a.id FROM aircraft a
    WHERE a.org_id = :org_id
      AND (
        (CAST(:aircraft_ids AS uuid[]) IS NULL AND CAST(:program_ids AS uuid[]) IS NULL)
        OR a.id = ANY(:aircraft_ids)
        OR (CAST(:aircraft_ids AS uuid[]) IS NULL AND (
            EXISTS (SELECT 1 FROM maintenance_programs p
                    WHERE p.org_id = a.org_id AND p.id = ANY(:program_ids) AND {APPLIES})
            OR EXISTS (SELECT 1 FROM maintenance_tasks t
                       WHERE t.org_id = a.org_id AND t.aircraft_id = a.id
                         AND t.program_id = ANY(:program_ids)
                         AND t.state IN {OPEN_STATES} AND t.deleted_at IS NULL)))
      )
    ORDER BY a.id
    FOR UPDATE
    """
)


@dataclass(frozen=True)
class Followed:
    """What the engine did after a change."""

    generated: list[UUID] = field(default_factory=list)
    cancelled: int = 0
    status_changes: int = 0
    grounded: list[UUID] = field(default_factory=list)


async def _lock_scope(
    uow: UnitOfWork,
    caller: Caller,
    aircraft_ids: Collection[UUID] | None,
    program_ids: Collection[UUID] | None,
) -> list[UUID]:
    rows = await uow.session.execute(
        _LOCK_SCOPE,
        {
            "org_id": caller.org_id,
            "aircraft_ids": list(aircraft_ids) if aircraft_ids is not None else None,
            "program_ids": list(program_ids) if program_ids is not None else None,
        },
    )
    return [row.id for row in rows]


async def after_change(
    uow: UnitOfWork,
    caller: Caller,
    *,
    reason: str,
    aircraft_ids: Collection[UUID] | None = None,
    program_ids: Collection[UUID] | None = None,
    utilization: bool = False,
    now: datetime | None = None,
) -> Followed:
    """Bring the due state of the caller's organization up to date after a change.

    ``aircraft_ids`` and ``program_ids`` name what the change touched (both None: the
    whole organization, e.g. a policy change); ``utilization`` says the meters' history
    changed, so observed rates are recomputed first. ``reason`` goes into the audit rows
    of the tasks the engine creates, cancels or re-limits.
    """
    now = now or utcnow()
    whole = aircraft_ids is None and program_ids is None
    scope = await _lock_scope(uow, caller, aircraft_ids, program_ids)
    if not scope:
        return Followed()
    touched: list[UUID] | None = None if whole else scope
    if utilization:
        await AircraftRepository(uow.session, caller.org_id).refresh_observed_rates(scope, now)
    await relimit_tasks(uow, caller, reason, program_ids=program_ids, aircraft_ids=touched)
    cancelled = await cancel_inapplicable(
        uow, caller, reason, program_ids=program_ids, aircraft_ids=touched
    )
    generated = await generate(
        uow.session,
        caller,
        now=now,
        reason=reason,
        program_ids=program_ids,
        aircraft_ids=aircraft_ids,
    )
    await reproject(uow.session, caller.org_id, touched, now)
    scanned = await scan_due_status(uow, caller, now=now, aircraft_ids=touched)
    return Followed(
        generated=[task.id for task in generated],
        cancelled=len(cancelled),
        status_changes=scanned.changed,
        grounded=scanned.grounded,
    )


async def sweep(uow: UnitOfWork, caller: Caller, *, now: datetime | None = None) -> Followed:
    """The periodic sweep of one organization: missing tasks generated, due status scanned."""
    now = now or utcnow()
    await _lock_scope(uow, caller, None, None)
    generated = await generate(uow.session, caller, now=now, reason="periodic sweep")
    scanned = await scan_due_status(uow, caller, now=now, aircraft_ids=None)
    return Followed(
        generated=[task.id for task in generated],
        status_changes=scanned.changed,
        grounded=scanned.grounded,
    )


async def refresh_forecasts(uow: UnitOfWork, caller: Caller, *, now: datetime | None = None) -> int:
    """The daily refresh of one organization: observed rates slide with the 90-day window,
    so rates and projections are recomputed. Returns how many aircraft."""
    now = now or utcnow()
    scope = await _lock_scope(uow, caller, None, None)
    if scope:
        await AircraftRepository(uow.session, caller.org_id).refresh_observed_rates(scope, now)
        await reproject(uow.session, caller.org_id, None, now)
    return len(scope)


async def first_overdue(
    uow: UnitOfWork, caller: Caller, aircraft_id: UUID, *, task_id: UUID | None = None
) -> Row[Any] | None:
    """The most urgent overdue mandatory open task of an aircraft (``id``, ``title``), or
    whether ``task_id`` is one: what keeps a grounded aircraft grounded."""
    return await TaskRepository(uow.session, caller.org_id).first_overdue(
        aircraft_id, utcnow(), task_id=task_id
    )
