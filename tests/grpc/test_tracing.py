"""gRPC calls are traced (SPEC §12) by the maintained instrumentation: a server span per
call, continuing the caller's trace."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from amss.config import Settings
from amss.db.engine import Database
from amss.grpc.gen import amss_pb2 as pb
from amss.kit import tracing
from tests.grpc.conftest import grpc_channel
from tests.grpc.support import Stubs, auth, refused
from tests.support.steps import add_aircraft
from tests.support.tenant import Tenant

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def spans(settings: Settings) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.setup_tracing(settings, service="amss-test", exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown_tracing()


async def test_a_call_is_a_server_span_in_the_callers_trace(
    spans: InMemorySpanExporter, settings: Settings, db: Database, app: FastAPI, tenant: Tenant
) -> None:
    craft = await add_aircraft(tenant.as_("scheduler"))
    metadata = (*auth(tenant, "scheduler"), ("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01"))
    async with grpc_channel(settings, db, app) as channel:
        stubs = Stubs.on(channel)
        await stubs.tasks.CreateTask(
            pb.CreateTaskRequest(aircraft_id=craft["id"], title="Traced"), metadata=metadata
        )
        await refused(
            stubs.tasks.CreateTask(
                pb.CreateTaskRequest(aircraft_id=craft["id"]), metadata=metadata
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
    served = [s for s in spans.get_finished_spans() if s.name == "/amss.v1.TaskService/CreateTask"]
    assert len(served) == 2
    for span in served:
        assert span.kind == SpanKind.SERVER
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT_ID
        assert span.attributes is not None
        assert (span.attributes["rpc.system"], span.attributes["rpc.method"]) == (
            "grpc",
            "CreateTask",
        )
    codes = [s.attributes["rpc.grpc.status_code"] for s in served]
    assert codes == [grpc.StatusCode.OK.value[0], grpc.StatusCode.INVALID_ARGUMENT.value[0]]
    # A caller's mistake is not the server's error.
    assert all(s.status.status_code != StatusCode.ERROR for s in served)
