"""The four AMSS services of api/proto/amss.proto: each method translates a message to
the REST request body, calls the same service as the REST route, and translates back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from grpc.aio import ServicerContext
from pydantic import BaseModel, ConfigDict, Field

from amss.audit import service as audit
from amss.audit.schemas import ActionLogCreate
from amss.due import service as due
from amss.grpc.convert import fields_of, parse, parse_id, to_message
from amss.grpc.gen import amss_pb2 as pb
from amss.grpc.interceptors import current
from amss.kit.pagination import MAX_LIMIT, Page
from amss.kit.tenancy import act_in
from amss.parts import service as parts
from amss.parts.schemas import ReservationCreate
from amss.programs import service as programs
from amss.tasks import service as tasks
from amss.tasks.schemas import TaskCreate, TaskTransition

Context = ServicerContext[Any, Any]


class DueListQuery(BaseModel):
    """The query of ``ListDueTasks``: the REST due list's parameters."""

    model_config = ConfigDict(extra="forbid")
    aircraft_id: UUID | None = None
    days: int | None = Field(None, ge=0, le=36500, description="horizon in days")
    org_id: UUID | None = None


class OrgOnly(BaseModel):
    org_id: UUID | None = None


class TaskServicer:
    async def CreateTask(self, request: pb.CreateTaskRequest, context: Context) -> pb.Task:
        uow, caller = current()
        data = parse(TaskCreate, fields_of(request))
        return to_message((await tasks.create_task(uow, caller, data)).item, pb.Task)

    async def TransitionState(
        self, request: pb.TransitionStateRequest, context: Context
    ) -> pb.Task:
        uow, caller = current()
        task_id = parse_id(request, "task_id")
        data = parse(TaskTransition, fields_of(request, exclude=("task_id",)))
        return to_message((await tasks.transition(uow, caller, task_id, data)).item, pb.Task)

    async def ListDueTasks(
        self, request: pb.ListDueTasksRequest, context: Context
    ) -> AsyncIterator[pb.DueTask]:
        uow, caller = current()
        query = parse(DueListQuery, fields_of(request))
        caller = await act_in(uow, caller, query.org_id)
        offset = 0
        while True:
            # Page by page, in the REST due list's order, so a long list never sits in memory.
            page = Page(limit=MAX_LIMIT, offset=offset)
            if query.aircraft_id is not None:
                rendered = await due.aircraft_due_list(
                    uow, caller, query.aircraft_id, page, query.days
                )
            else:
                rendered = await due.fleet_due_list(
                    uow, caller, page, 30 if query.days is None else query.days
                )
            for item in rendered.items:
                yield to_message(item, pb.DueTask)
            offset += len(rendered.items)
            if not rendered.items or offset >= rendered.total:
                return


class InventoryServicer:
    async def ReserveParts(
        self, request: pb.ReservePartsRequest, context: Context
    ) -> pb.Reservation:
        uow, caller = current()
        data = parse(ReservationCreate, fields_of(request))
        reservation = await parts.create_reservation(
            uow, caller, data.task_id, data.part_item_id, data.org_id
        )
        return to_message(reservation, pb.Reservation)

    async def ReleaseParts(
        self, request: pb.ReleasePartsRequest, context: Context
    ) -> pb.Reservation:
        uow, caller = current()
        reservation_id = parse_id(request, "reservation_id")
        data = parse(OrgOnly, fields_of(request, exclude=("reservation_id",)))
        reservation = await parts.transition_reservation(
            uow, caller, reservation_id, "released", data.org_id
        )
        return to_message(reservation, pb.Reservation)


class AuditServicer:
    async def LogAction(self, request: pb.LogActionRequest, context: Context) -> pb.AuditEntry:
        uow, caller = current()
        data = parse(ActionLogCreate, fields_of(request))
        return to_message(await audit.log_action(uow, caller, data), pb.AuditEntry)


class ProgramServicer:
    async def GenerateTasks(
        self, request: pb.GenerateTasksRequest, context: Context
    ) -> pb.GenerateTasksResponse:
        uow, caller = current()
        program_id = parse_id(request, "program_id")
        # The caller's own organization only (no org_id in the request).
        result = await programs.generate_tasks(uow, caller, program_id)
        return to_message(result, pb.GenerateTasksResponse)
