"""Use cases of the due engine's own views: an aircraft's due list."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from amss.auth.rules import Caller, authorize
from amss.db.uow import UnitOfWork
from amss.due.repository import TaskRepository
from amss.due.schemas import DueListItem, to_due_item
from amss.fleet.repository import AircraftRepository
from amss.kit.pagination import Page
from amss.kit.timefmt import utcnow


async def aircraft_due_list(
    uow: UnitOfWork, caller: Caller, aircraft_id: UUID, page: Page, days: int | None
) -> tuple[list[DueListItem], int]:
    """Open tasks of one aircraft, most urgent first; a horizon only when ``days`` is given."""
    authorize(caller, "tasks.read")
    await AircraftRepository(uow.session, caller.org_id).get_or_404(aircraft_id)
    now = utcnow()
    filters = {
        "aircraft_id": aircraft_id,
        "open": True,
        "due_before": now + timedelta(days=days) if days is not None else None,
    }
    rows, total = await TaskRepository(uow.session, caller.org_id).page_with_due_answer(
        page, filters, now
    )
    return [to_due_item(row, now) for row in rows], total
