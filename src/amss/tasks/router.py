"""``/api/v1/maintenance-tasks``: tasks with their due answer, and the state machine."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from amss.auth.deps import ActingCallerDep, CallerDep, UowDep
from amss.due.rules import DueStatus, TaskState
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS, WRITE_ERRORS
from amss.kit.pagination import PageDep, json_body, json_page
from amss.tasks import service
from amss.tasks.schemas import (
    Task,
    TaskCreate,
    TaskDetail,
    TaskTransition,
    TaskType,
    TaskUpdate,
)

router = APIRouter(prefix="/maintenance-tasks", tags=["maintenance tasks"], route_class=JSONRoute)


@router.post(
    "",
    status_code=201,
    response_model=TaskDetail,
    summary="Create a manual task (repair, overhaul, inspection)",
    responses=WRITE_ERRORS,
)
async def create_task(body: TaskCreate, caller: CallerDep, uow: UowDep) -> Response:
    return json_body(await service.create_task(uow, caller, body), status_code=201)


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
    aircraft_id: Annotated[UUID | None, Query()] = None,
    program_id: Annotated[UUID | None, Query()] = None,
    state: Annotated[TaskState | None, Query()] = None,
    type: Annotated[TaskType | None, Query()] = None,
    due_status: Annotated[DueStatus | None, Query(description="live status of open tasks")] = None,
    assigned_mechanic_id: Annotated[UUID | None, Query()] = None,
) -> Response:
    filters = {
        "aircraft_id": aircraft_id,
        "program_id": program_id,
        "state": state,
        "type": type,
        "due_status": due_status,
        "assigned_mechanic_id": assigned_mechanic_id,
    }
    return json_page(await service.list_tasks(uow, caller, page, filters))


@router.get(
    "/{task_id}",
    response_model=TaskDetail,
    summary="Read a task with its reservations and compliance items",
    responses=READ_ERRORS,
)
async def get_task(task_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Response:
    return json_body(await service.detail(uow, caller, task_id))


@router.patch(
    "/{task_id}",
    response_model=TaskDetail,
    summary="Change a task's planning fields",
    responses=WRITE_ERRORS,
)
async def update_task(task_id: UUID, body: TaskUpdate, caller: CallerDep, uow: UowDep) -> Response:
    return json_body(await service.update_task(uow, caller, task_id, body))


@router.delete(
    "/{task_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a scheduled manual task (releases its reservations)",
    responses=WRITE_ERRORS,
)
async def delete_task(task_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Response:
    await service.delete_task(uow, caller, task_id)
    return Response(status_code=204)


@router.patch(
    "/{task_id}/state",
    response_model=TaskDetail,
    summary="Start, complete or cancel a task (SPEC §6.5)",
    responses=WRITE_ERRORS,
)
async def transition(
    task_id: UUID, body: TaskTransition, caller: CallerDep, uow: UowDep
) -> Response:
    return json_body(await service.transition(uow, caller, task_id, body))
