"""The procrastinate app: registers every area's jobs and periodic tasks.

Periodic tasks are deduplicated across workers by procrastinate (one job per tick, whatever
the number of workers); each job is safe to run on any worker, or twice.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import httpx2
import procrastinate
from prometheus_client import Counter

from amss.config import Settings
from amss.db.engine import Database, libpq_url
from amss.events.jobs import dispatch_events
from amss.events.queue import DELIVER_TASK, DELIVERY_QUEUE, DISPATCH_QUEUE, DISPATCH_TASK
from amss.events.stream import StreamPublisher
from amss.kit import retention
from amss.kit.logging import get_logger
from amss.kit.schedule import cron_for
from amss.kit.tracing import instrument_database, job_span
from amss.programs import jobs as program_jobs
from amss.webhooks.jobs import deliver_batch, shared_client

_log = get_logger(__name__)

job_runs_total = Counter("amss_job_runs_total", "Jobs run, by job.", ["job"])
job_failures_total = Counter("amss_job_failures_total", "Jobs that raised, by job.", ["job"])

PERIODIC_QUEUE = "periodic"
# procrastinate workers send a heartbeat every 10 s: 30 s of silence means the worker died.
STALLED_AFTER_SECONDS = 30
FINISHED_JOBS_KEPT_HOURS = 24 * 7

T = TypeVar("T")


def counted(name: str) -> Callable[[Callable[..., Awaitable[T]]], Callable[..., Awaitable[T]]]:
    """Count runs and failures of a job in the metrics, and log its outcome."""

    def wrap(function: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        @functools.wraps(function)
        async def run(*args: Any, **kwargs: Any) -> T:
            job_runs_total.labels(job=name).inc()
            try:
                result = await function(*args, **kwargs)
            except Exception:
                job_failures_total.labels(job=name).inc()
                _log.exception("job failed", job=name)
                raise
            _log.info("job done", job=name, result=repr(result))
            return result

        @functools.wraps(function)
        async def traced(*args: Any, **kwargs: Any) -> T:
            with job_span(name, kwargs):  # removes the deferring request's traceparent
                return await run(*args, **kwargs)

        return traced

    return wrap


def create_worker_app(
    settings: Settings, database: Database, database_url: str
) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(database_url), kwargs={"options": "-c jit=off"}, min_size=1, max_size=4
    )
    app = procrastinate.App(connector=connector)
    instrument_database(database)

    @app.periodic(cron=cron_for(settings.generator_interval), periodic_id="due-sweep")
    @app.task(name="amss.due_sweep", queue=PERIODIC_QUEUE, pass_context=False)
    @counted("due_sweep")
    async def due_sweep(timestamp: int) -> program_jobs.SweepResult:
        return await program_jobs.sweep(database)

    @app.periodic(cron="30 2 * * *", periodic_id="forecast-refresh")
    @app.task(name="amss.refresh_forecasts", queue=PERIODIC_QUEUE)
    @counted("refresh_forecasts")
    async def refresh_forecasts(timestamp: int) -> int:
        return await program_jobs.refresh_forecasts(database)

    @app.periodic(cron=cron_for(settings.retention_cleanup_interval), periodic_id="retention")
    @app.task(name="amss.retention", queue=PERIODIC_QUEUE)
    @counted("retention")
    async def purge(timestamp: int) -> retention.RetentionResult:
        await app.job_manager.delete_old_jobs(nb_hours=FINISHED_JOBS_KEPT_HOURS)
        return await retention.purge(database)

    stream = StreamPublisher(settings.redis_url)
    client_holder: dict[str, httpx2.AsyncClient] = {}

    def client() -> httpx2.AsyncClient:
        if "client" not in client_holder:
            client_holder["client"] = shared_client()
        return client_holder["client"]

    @app.task(name=DISPATCH_TASK, queue=DISPATCH_QUEUE)
    @counted("dispatch_events")
    async def dispatch(org_id: str) -> int:
        return await dispatch_events(database, stream, UUID(org_id))

    @app.task(name=DELIVER_TASK, queue=DELIVERY_QUEUE)
    @counted("deliver_webhook")
    async def deliver_webhook(delivery_ids: list[str]) -> dict[str, str]:
        statuses = await deliver_batch(
            database, settings, client(), stream, [UUID(item) for item in delivery_ids]
        )
        return {str(key): value for key, value in statuses.items()}

    @app.periodic(cron="* * * * * */15", periodic_id="stalled-jobs")
    @app.task(name="amss.recover_stalled_jobs", queue=PERIODIC_QUEUE)
    @counted("recover_stalled_jobs")
    async def recover_stalled_jobs(timestamp: int) -> int:
        """Jobs of a worker that stopped sending heartbeats (killed) go back to the queue."""
        stalled = list(
            await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS)
        )
        for job in stalled:
            await app.job_manager.retry_job(job)
        return len(stalled)

    return app


async def run_worker(app: procrastinate.App, *, name: str, install_signal_handlers: bool) -> None:
    async with app.open_async():
        await app.run_worker_async(
            name=name,
            # Deliveries wait on receivers: enough slots that one hanging receiver (10 s
            # timeout) does not hold up the others.
            concurrency=16,
            install_signal_handlers=install_signal_handlers,
            fetch_job_polling_interval=1.0,
        )
