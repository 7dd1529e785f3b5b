"""OpenTelemetry tracing (SPEC §12): HTTP, gRPC, database, webhook deliveries and jobs.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set. Off means free: the SDK, the exporter
and the instrumentations are imported only by :func:`setup_tracing`, and every hook below
returns at its first line while nothing is set up.

Spans are exported over OTLP/HTTP (protobuf) to ``$OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces``;
the exporter's and the SDK's own variables (``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_TRACES_SAMPLER``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES`` …) apply.

A job carries the trace context of the code that deferred it: :func:`with_trace_context`
adds a W3C ``traceparent`` to the job's arguments (``amss.events.queue.defer``), and
:func:`job_span` takes it out again before the task function sees its arguments and runs
the job in a span whose parent is the deferring span. So a request that changes a task,
the dispatch job its event starts, the delivery job and the POST to the receiver are one
trace.

The provider is passed to each instrumentation instead of being installed as the global
one: FastAPI's own built-in telemetry switches itself on when it sees a global provider,
and would trace every request a second time.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amss import __version__
from amss.config import Settings
from amss.kit.logging import get_logger

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

    from amss.db.engine import Database

TRACEPARENT_ARG = "traceparent"
# Probes and scrapes arrive every few seconds from every replica: tracing them is noise.
EXCLUDED_URLS = "/health$,/ready$,/metrics$"

_log = get_logger(__name__)


@dataclass
class _Tracing:
    provider: TracerProvider
    tracer: Tracer
    engine_ids: set[int] = field(default_factory=set)
    listeners: list[tuple[Any, Any]] = field(default_factory=list)
    connections: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)


_active: _Tracing | None = None


def tracing_enabled() -> bool:
    return _active is not None


def setup_tracing(
    settings: Settings, *, service: str, exporter: SpanExporter | None = None
) -> bool:
    """Start the SDK when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (or an exporter is given).

    ``exporter`` replaces the OTLP exporter (tests pass an in-memory one; spans are then
    exported synchronously). Returns whether tracing is on. Calling it again is harmless.
    """
    global _active
    if _active is not None:
        return True
    endpoint = settings.otel_exporter_otlp_endpoint
    if exporter is None and not endpoint:
        return False

    from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    attributes: dict[str, str] = {
        "service.version": __version__,
        "deployment.environment.name": settings.app_env,
    }
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = service
    provider = TracerProvider(resource=Resource.create(attributes))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))
        )
    # Webhook deliveries: every httpx2 client, so the delivery job's shared client too.
    HTTPX2ClientInstrumentor().instrument(tracer_provider=provider)
    _active = _Tracing(provider=provider, tracer=provider.get_tracer("amss", __version__))
    _log.info("tracing on", service=attributes.get("service.name"), endpoint=endpoint)
    return True


def shutdown_tracing() -> None:
    """Flush and stop the SDK and undo the instrumentations (tests; the SDK also flushes
    on interpreter exit by itself)."""
    global _active
    if _active is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from sqlalchemy import event

    HTTPX2ClientInstrumentor().uninstrument()
    for engine, listener in _active.listeners:
        event.remove(engine, "checkout", listener)
    for connection in list(_active.connections):
        PsycopgInstrumentor.uninstrument_connection(connection)
    _active.provider.shutdown()
    _active = None


def instrument_app(app: FastAPI, database: Database) -> None:
    """Server spans for the app's routes (named by route template) and its database."""
    if _active is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_active.provider,
        excluded_urls=EXCLUDED_URLS,
        # One span per request, not one per ASGI message sent or received.
        exclude_spans=["receive", "send"],
    )
    instrument_database(database)


def instrument_database(database: Database) -> None:
    """A span per SQL statement run through this database's engine.

    Each connection the engine's pool hands out gets the psycopg instrumentation's traced
    cursors (once: the instrumentation marks the connection). procrastinate's own
    connections (job polling, every second) stay untraced.
    """
    if _active is None:
        return
    engine = database.engine.sync_engine
    if id(engine) in _active.engine_ids:
        return
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from sqlalchemy import event

    provider = _active.provider

    connections = _active.connections

    def traced_cursors(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        connection = dbapi_connection.driver_connection
        if not getattr(connection, "_is_instrumented_by_opentelemetry", False):
            PsycopgInstrumentor.instrument_connection(connection, tracer_provider=provider)
            connections.add(connection)

    event.listen(engine, "checkout", traced_cursors)
    _active.engine_ids.add(id(engine))
    _active.listeners.append((engine, traced_cursors))


def with_trace_context(args: Mapping[str, Any]) -> dict[str, Any]:
    """A job's arguments, plus the current span's ``traceparent`` when tracing is on."""
    if _active is None:
        return dict(args)
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    if TRACEPARENT_ARG not in carrier:
        return dict(args)
    return {**args, TRACEPARENT_ARG: carrier[TRACEPARENT_ARG]}


@contextmanager
def job_span(job: str, kwargs: dict[str, Any]) -> Iterator[None]:
    """Run a job inside a span continuing the trace that deferred it.

    ``traceparent`` is always removed from ``kwargs``, tracing on or off: a job deferred
    by a traced server may be run by an untraced worker, and the task takes no such
    argument.
    """
    traceparent = kwargs.pop(TRACEPARENT_ARG, None)
    if _active is None:
        yield
        return
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind

    parent = extract({TRACEPARENT_ARG: traceparent}) if isinstance(traceparent, str) else None
    with _active.tracer.start_as_current_span(
        f"job {job}", context=parent, kind=SpanKind.CONSUMER, attributes={"amss.job": job}
    ):
        yield


def grpc_server_interceptors() -> list[Any]:
    """The maintained gRPC instrumentation's server interceptor when tracing is on: a server
    span per call continuing the caller's trace (W3C ``traceparent`` metadata), with the
    call's status code. Outermost, so the access log of the call carries its trace id."""
    if _active is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor(tracer_provider=_active.provider)]  # type: ignore[no-untyped-call]
