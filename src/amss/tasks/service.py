"""Use cases of maintenance tasks."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.engine import RowMapping

from amss.auth.rules import Caller, authorize
from amss.db.uow import UnitOfWork
from amss.kit.errors import NotFound
from amss.kit.pagination import Page
from amss.kit.timefmt import utcnow
from amss.tasks.repository import TaskReadRepository


async def list_tasks(
    uow: UnitOfWork, caller: Caller, page: Page, filters: dict[str, Any]
) -> tuple[list[RowMapping], int]:
    authorize(caller, "tasks.read")
    return await TaskReadRepository(uow.session, caller.org_id).list_page(page, filters, utcnow())


async def get_task(uow: UnitOfWork, caller: Caller, task_id: UUID) -> RowMapping:
    authorize(caller, "tasks.read")
    row = await TaskReadRepository(uow.session, caller.org_id).get(task_id, utcnow())
    if row is None:
        raise NotFound("maintenance task not found")
    return row
