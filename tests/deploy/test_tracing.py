"""Tracing (SPEC §12): one trace from the request through its jobs to the receiver, trace
ids in the logs, OTLP export to a real endpoint, and nothing at all while it is off."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from amss.app import create_app
from amss.auth.tokens import TokenSigner, signing_keys
from amss.config import Settings
from amss.db.engine import Database
from amss.kit import tracing
from tests.conftest import serve_app
from tests.support.factories import bearer, make_aircraft, make_org, make_user, make_webhook
from tests.support.live import free_port
from tests.webhooks.conftest import Receiver


@pytest.fixture
def spans(settings: Settings) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.setup_tracing(settings, service="amss-test", exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown_tracing()


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _one(found: list[ReadableSpan], what: str) -> ReadableSpan:
    assert len(found) == 1, f"expected one {what}, got {[s.name for s in found]}"
    return found[0]


async def _wait_for_span(exporter: InMemorySpanExporter, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(span.name == name for span in exporter.get_finished_spans()):
            return
        await asyncio.sleep(0.05)


@pytest.fixture
async def fresh_database(database_url: str) -> AsyncIterator[Database]:
    """A database whose pool opens its connections after tracing started (as a process
    does): the instrumentation applies to new connections."""
    db = Database.connect(database_url, pool_size=2)
    yield db
    await db.dispose()


async def test_a_request_its_jobs_and_the_delivery_are_one_trace(
    spans: InMemorySpanExporter,
    settings: Settings,
    fresh_database: Database,
    database_url: str,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = fresh_database
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Traced {uuid.uuid4().hex[:8]}")
        scheduler = await make_user(conn, org_id, "scheduler")
        aircraft_id = await make_aircraft(conn, org_id, tail_number="N1OT", model="PA28")
        await make_webhook(conn, org_id, url=receiver.url, events=["task_created"])
    headers = bearer(TokenSigner(signing_keys(settings), settings.access_token_ttl), scheduler)
    app = create_app(settings, database)
    with caplog.at_level(logging.INFO, logger="amss.access"):
        async with serve_app(app) as client:
            created = await client.post(
                "/api/v1/maintenance-tasks",
                json={"aircraft_id": str(aircraft_id), "type": "inspection", "title": "Traced"},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            # Probes are not traced: they come every few seconds from every replica.
            assert (await client.get("/health")).status_code == 200

    request = _one(
        [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER],
        "server span",
    )
    assert request.name == "POST /api/v1/maintenance-tasks"
    trace_id = request.context.trace_id
    statements = [
        s
        for s in spans.get_finished_spans()
        if s.context.trace_id == trace_id and s.kind is SpanKind.CLIENT
    ]
    assert statements, "no database spans in the request's trace"
    assert {
        s.attributes.get("db.system") or s.attributes.get("db.system.name") for s in statements
    } == {"postgresql"}

    # The dispatch job carries the request's trace context in its arguments.
    async with database.engine.connect() as conn:
        args = await conn.scalar(
            text(
                "SELECT args FROM procrastinate_jobs WHERE task_name = 'amss.dispatch_events'"
                " AND args->>'org_id' = :o"
            ),
            {"o": str(org_id)},
        )
    version, job_trace, job_parent, _flags = args["traceparent"].split("-")
    assert (version, job_trace, job_parent) == (
        "00",
        _hex(trace_id, 32),
        _hex(request.context.span_id, 16),
    )

    # The access log line of the request names the trace.
    access = [r.msg for r in caplog.records if r.name == "amss.access" and isinstance(r.msg, dict)]
    traced = [line for line in access if line.get("path") == "/api/v1/maintenance-tasks"]
    assert traced and traced[0]["trace_id"] == _hex(trace_id, 32)

    # A worker runs the dispatch job, which defers the delivery job, which posts.
    from amss.worker import create_worker_app, run_worker

    worker_app = create_worker_app(settings, database, database_url)
    task = asyncio.create_task(
        run_worker(worker_app, name="trace-worker", install_signal_handlers=False)
    )
    try:
        delivered = await receiver.wait_for(1, timeout=30)
        await _wait_for_span(spans, "job deliver_webhook", timeout=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert delivered, "the receiver got nothing"

    in_trace = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    dispatch = _one([s for s in in_trace if s.name == "job dispatch_events"], "dispatch job span")
    assert dispatch.kind is SpanKind.CONSUMER
    assert dispatch.parent is not None and dispatch.parent.span_id == request.context.span_id
    deliver = _one([s for s in in_trace if s.name == "job deliver_webhook"], "delivery job span")
    assert deliver.parent is not None and deliver.parent.span_id == dispatch.context.span_id
    post = _one(
        [s for s in in_trace if s.name == "POST" and s.kind is SpanKind.CLIENT],
        "webhook POST span",
    )
    assert post.parent is not None and post.parent.span_id == deliver.context.span_id
    # The receiver can continue the trace too.
    assert delivered[0].headers["traceparent"].split("-")[1:3] == [
        _hex(trace_id, 32),
        _hex(post.context.span_id, 16),
    ]
    # Each job's database work is inside its job's span.
    assert any(
        s.parent is not None
        and s.parent.span_id == dispatch.context.span_id
        and s.kind is SpanKind.CLIENT
        for s in in_trace
    )


async def test_jobs_deferred_by_a_traced_server_run_on_an_untraced_worker() -> None:
    assert not tracing.tracing_enabled()
    kwargs: dict[str, Any] = {
        "org_id": "x",
        "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
    }
    with tracing.job_span("dispatch_events", kwargs):
        pass
    assert kwargs == {"org_id": "x"}
    assert tracing.with_trace_context({"org_id": "x"}) == {"org_id": "x"}


def test_off_and_free_when_the_endpoint_is_unset() -> None:
    """A process without OTEL_EXPORTER_OTLP_ENDPOINT starts no SDK: no tracer provider, and
    the trace SDK, the exporter and the instrumentations are not even imported.

    (redis-py imports parts of the *metrics* SDK by itself when it is installed, to see
    whether it could record metrics; it starts nothing.)
    """
    script = textwrap.dedent(
        """
        import sys
        from opentelemetry import trace
        from amss.config import Settings
        from amss.kit import tracing
        from amss.kit.keys import generate_key_pair
        import amss.cli, amss.worker
        from amss.app import create_app
        from amss.db.engine import Database

        keys = generate_key_pair()
        settings = Settings(APP_ENV="test", JWT_PRIVATE_KEY_PEM=keys.private_pem,
                            JWT_PUBLIC_KEY_PEM=keys.public_pem)
        assert settings.otel_exporter_otlp_endpoint is None
        assert tracing.setup_tracing(settings, service="amss-server") is False
        create_app(settings, Database.connect("postgresql://nobody@127.0.0.1:1/none"))
        loaded = sorted(
            m for m in sys.modules
            if m.startswith(("opentelemetry.sdk.trace", "opentelemetry.exporter",
                             "opentelemetry.instrumentation"))
        )
        assert not loaded, loaded
        assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
        """
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


class _Collector:
    """An OTLP/HTTP endpoint on localhost that keeps what it is sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []

    async def traces(self, request: Request) -> Response:
        self.requests.append(
            (request.url.path, request.headers.get("content-type", ""), await request.body())
        )
        return Response(status_code=200, media_type="application/x-protobuf")


@pytest.fixture
async def collector() -> AsyncIterator[tuple[str, _Collector]]:
    import uvicorn

    state = _Collector()
    port = free_port()
    app = Starlette(routes=[Route("/v1/traces", state.traces, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        server.should_exit = True
        await task


async def test_spans_are_exported_over_otlp_to_the_configured_endpoint(
    settings: Settings, collector: tuple[str, _Collector]
) -> None:
    endpoint, state = collector
    configured = settings.model_copy(update={"otel_exporter_otlp_endpoint": endpoint})
    assert tracing.setup_tracing(configured, service="amss-worker")
    try:
        kwargs: dict[str, Any] = {}
        with tracing.job_span("due_sweep", kwargs):
            pass
    finally:
        # Shutting down flushes the batch: the export happens in the SDK's own thread.
        await asyncio.to_thread(tracing.shutdown_tracing)
    assert state.requests, "nothing reached the OTLP endpoint"
    path, content_type, body = state.requests[0]
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    exported = ExportTraceServiceRequest.FromString(body)
    resource = exported.resource_spans[0].resource
    attributes = {a.key: a.value.string_value for a in resource.attributes}
    assert attributes["service.name"] == "amss-worker"
    assert attributes["deployment.environment.name"] == "test"
    names = [s.name for rs in exported.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert names == ["job due_sweep"]
