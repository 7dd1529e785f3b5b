"""``/api/v1/maintenance-programs``: repeating requirements and task generation."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from amss.auth.deps import ActingCallerDep, CallerDep, UowDep
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS, WRITE_ERRORS
from amss.kit.pagination import PageDep, set_total
from amss.programs import service
from amss.programs.schemas import (
    GenerationResult,
    Program,
    ProgramCreate,
    ProgramUpdate,
    TaskType,
)

router = APIRouter(
    prefix="/maintenance-programs", tags=["maintenance programs"], route_class=JSONRoute
)


@router.post(
    "", status_code=201, response_model=Program, summary="Create a program", responses=WRITE_ERRORS
)
async def create_program(body: ProgramCreate, caller: CallerDep, uow: UowDep) -> Program:
    return await service.create_program(uow, caller, body)


@router.get(
    "", response_model=list[Program], summary="List programs, by name", responses=READ_ERRORS
)
async def list_programs(
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    aircraft_id: Annotated[UUID | None, Query()] = None,
    aircraft_model: Annotated[str | None, Query(max_length=200)] = None,
    task_type: Annotated[TaskType | None, Query()] = None,
) -> list[Program]:
    filters = {"aircraft_id": aircraft_id, "aircraft_model": aircraft_model, "task_type": task_type}
    items, total = await service.list_programs(uow, caller, page, filters)
    set_total(response, total)
    return items


@router.get(
    "/{program_id}", response_model=Program, summary="Read a program", responses=READ_ERRORS
)
async def get_program(program_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Program:
    return await service.get_program(uow, caller, program_id)


@router.patch(
    "/{program_id}",
    response_model=Program,
    summary="Change a program (open tasks follow new intervals and applicability)",
    responses=WRITE_ERRORS,
)
async def update_program(
    program_id: UUID, body: ProgramUpdate, caller: CallerDep, uow: UowDep
) -> Program:
    return await service.update_program(uow, caller, program_id, body)


@router.delete(
    "/{program_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a program (its open scheduled tasks are cancelled)",
    responses=WRITE_ERRORS,
)
async def delete_program(program_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Response:
    await service.delete_program(uow, caller, program_id)
    return Response(status_code=204)


@router.post(
    "/{program_id}/generate",
    response_model=GenerationResult,
    summary="Generate the missing open tasks of this program now",
    responses=WRITE_ERRORS,
)
async def generate_tasks(
    program_id: UUID, caller: ActingCallerDep, uow: UowDep
) -> GenerationResult:
    return await service.generate_tasks(uow, caller, program_id)
