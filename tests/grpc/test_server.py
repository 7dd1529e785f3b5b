"""The server around the services: health, reflection, the generated code and the proto's
fields against the REST views."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from pydantic import BaseModel

from amss.audit.schemas import ActionLogCreate, AuditLog
from amss.compliance.schemas import ComplianceItem
from amss.due.schemas import DueListItem
from amss.grpc.gen import amss_pb2 as pb
from amss.parts.schemas import Reservation, ReservationCreate
from amss.programs.schemas import GenerationResult
from amss.tasks.schemas import TaskCreate, TaskDetail, TaskTransition

ROOT = Path(__file__).resolve().parents[2]
FOUR_SERVICES = {
    "amss.v1.TaskService",
    "amss.v1.InventoryService",
    "amss.v1.AuditService",
    "amss.v1.ProgramService",
}


async def test_health_reports_serving(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", *sorted(FOUR_SERVICES)):
        answer = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.Check(health_pb2.HealthCheckRequest(service="amss.v1.Nope"))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_the_four_services_and_describes_them(
    channel: grpc.aio.Channel,
) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask(**request: str) -> reflection_pb2.ServerReflectionResponse:
        async for answer in stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(**request)])
        ):
            return answer
        raise AssertionError("no answer")

    listed = await ask(list_services="")
    names = {service.name for service in listed.list_services_response.service}
    assert names >= FOUR_SERVICES
    assert {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names
    described = await ask(file_containing_symbol="amss.v1.TaskService")
    assert described.file_descriptor_response.file_descriptor_proto


def test_the_generated_code_is_what_the_proto_generates() -> None:
    checked = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("message", "view", "extra"),
    [
        (pb.Task, TaskDetail, set()),
        (pb.DueTask, DueListItem, set()),
        (pb.Reservation, Reservation, set()),
        (pb.ComplianceItem, ComplianceItem, set()),
        (pb.AuditEntry, AuditLog, set()),
        (pb.GenerateTasksResponse, GenerationResult, set()),
        (pb.CreateTaskRequest, TaskCreate, set()),
        (pb.TransitionStateRequest, TaskTransition, {"task_id"}),
        (pb.LogActionRequest, ActionLogCreate, set()),
    ],
)
def test_messages_carry_the_fields_of_the_rest_resources(
    message: type, view: type[BaseModel], extra: set[str]
) -> None:
    fields = {field.name for field in message.DESCRIPTOR.fields}  # type: ignore[attr-defined]
    assert fields == set(view.model_fields) | extra


def test_a_reservation_request_is_the_rest_body_without_the_fixed_quantity() -> None:
    fields = {field.name for field in pb.ReservePartsRequest.DESCRIPTOR.fields}
    # Items are serialized: REST accepts quantity 1 only, so gRPC does not ask for it.
    assert fields == set(ReservationCreate.model_fields) - {"quantity"}
