"""``/api/v1/maintenance-tasks``: tasks with their due answer."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from amss.auth.deps import ActingCallerDep, UowDep
from amss.kit.http import JSONRoute
from amss.kit.openapi import error_responses
from amss.kit.pagination import PageDep, set_total
from amss.kit.timefmt import utcnow
from amss.tasks import service
from amss.tasks.schemas import DueStatus, Task, TaskState, TaskType, to_task

router = APIRouter(prefix="/maintenance-tasks", tags=["maintenance tasks"], route_class=JSONRoute)

READ_ERRORS = error_responses(401, 403, 404, 429)


@router.get(
    "",
    response_model=list[Task],
    summary="List tasks, most urgent (earliest projected due) first",
    responses=READ_ERRORS,
)
async def list_tasks(
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    aircraft_id: Annotated[UUID | None, Query()] = None,
    program_id: Annotated[UUID | None, Query()] = None,
    state: Annotated[TaskState | None, Query()] = None,
    type: Annotated[TaskType | None, Query()] = None,
    due_status: Annotated[DueStatus | None, Query(description="live status of open tasks")] = None,
    assigned_mechanic_id: Annotated[UUID | None, Query()] = None,
) -> list[Task]:
    filters = {
        "aircraft_id": aircraft_id,
        "program_id": program_id,
        "state": state,
        "type": type,
        "due_status": due_status,
        "assigned_mechanic_id": assigned_mechanic_id,
    }
    rows, total = await service.list_tasks(uow, caller, page, filters)
    set_total(response, total)
    now = utcnow()
    return [to_task(row, now) for row in rows]


@router.get("/{task_id}", response_model=Task, summary="Read a task", responses=READ_ERRORS)
async def get_task(task_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Task:
    return to_task(await service.get_task(uow, caller, task_id), utcnow())
