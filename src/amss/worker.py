"""The procrastinate app: registers every area's jobs and periodic tasks.

Periodic tasks are deduplicated across workers by procrastinate (one job per tick, whatever
the number of workers); each job is safe to run on any worker, or twice.
"""

from __future__ import annotations

import asyncio
import functools
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import httpx2
import procrastinate

from amss.config import Settings
from amss.db.engine import WORKER_STATEMENT_TIMEOUT_MS, Database, connection_options, libpq_url
from amss.due import jobs as due_jobs
from amss.events.jobs import dispatch_events, requeue_stuck_events
from amss.events.queue import DELIVER_TASK, DELIVERY_QUEUE, DISPATCH_QUEUE, DISPATCH_TASK
from amss.events.stream import StreamPublisher
from amss.imports import jobs as import_jobs
from amss.imports.service import IMPORT_QUEUE, RUN_IMPORT_TASK
from amss.kit import retention
from amss.kit.logging import get_logger
from amss.kit.metrics import job_failures_total, job_runs_total
from amss.kit.schedule import cron_for
from amss.kit.secretbox import secret_box
from amss.kit.tracing import instrument_database, job_span
from amss.webhooks.jobs import (
    ATTEMPT_DEADLINE_SECONDS,
    BUSY,
    DeliveriesBusy,
    deliver_batch,
    requeue_stuck_deliveries,
    shared_client,
)

_log = get_logger(__name__)

PERIODIC_QUEUE = "periodic"
# procrastinate workers send a heartbeat every 10 s: 30 s of silence means the worker died.
STALLED_AFTER_SECONDS = 30
FINISHED_JOBS_KEPT_HOURS = 24 * 7

# Two job loops per worker process, each with its own slots: deliveries wait on receivers
# (up to 10 s an attempt), so they never hold the slots the due sweep and dispatch need.
DELIVERY_CONCURRENCY = 16
GENERAL_CONCURRENCY = 4
# How long a stopping worker waits for running jobs before aborting them (aborted jobs are
# retried by the next worker): a delivery attempt is bounded by its deadline.
DELIVERY_SHUTDOWN_SECONDS = ATTEMPT_DEADLINE_SECONDS + 5
GENERAL_SHUTDOWN_SECONDS = 20.0

# A job that raised (database gone, deadlock) runs again: 2, 4, 8 … seconds later.
DISPATCH_RETRY = procrastinate.RetryStrategy(max_attempts=10, exponential_wait=2)
DELIVERY_RETRY = procrastinate.RetryStrategy(max_attempts=8, exponential_wait=2)

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
        conninfo=libpq_url(database_url),
        kwargs={"options": connection_options(statement_timeout_ms=WORKER_STATEMENT_TIMEOUT_MS)},
        # Both job loops (and their listeners) share the pool.
        min_size=2,
        max_size=8,
    )
    app = procrastinate.App(connector=connector)
    instrument_database(database)

    # A periodic job never overlaps its previous run: ``lock`` keeps a second run from
    # starting while one is going, ``queueing_lock`` keeps more than one from waiting, so a
    # slow sweep at fleet scale never piles up runs that share the cores.
    @app.periodic(cron=cron_for(settings.generator_interval), periodic_id="due-sweep")
    @app.task(
        name="amss.due_sweep",
        queue=PERIODIC_QUEUE,
        pass_context=False,
        lock="due-sweep",
        queueing_lock="due-sweep",
    )
    @counted("due_sweep")
    async def due_sweep(timestamp: int) -> due_jobs.SweepResult:
        return await due_jobs.sweep(database)

    @app.periodic(cron="30 2 * * *", periodic_id="forecast-refresh")
    @app.task(
        name="amss.refresh_forecasts",
        queue=PERIODIC_QUEUE,
        lock="forecast-refresh",
        queueing_lock="forecast-refresh",
    )
    @counted("refresh_forecasts")
    async def refresh_forecasts(timestamp: int) -> int:
        return await due_jobs.refresh_forecasts(database)

    @app.periodic(cron=cron_for(settings.retention_cleanup_interval), periodic_id="retention")
    @app.task(
        name="amss.retention", queue=PERIODIC_QUEUE, lock="retention", queueing_lock="retention"
    )
    @counted("retention")
    async def purge(timestamp: int) -> retention.RetentionResult:
        await app.job_manager.delete_old_jobs(nb_hours=FINISHED_JOBS_KEPT_HOURS)
        return await retention.purge(database)

    stream = StreamPublisher(settings.redis_url)
    box = secret_box(settings)
    client_holder: dict[str, httpx2.AsyncClient] = {}

    def client() -> httpx2.AsyncClient:
        if "client" not in client_holder:
            client_holder["client"] = shared_client(allow_private=settings.webhook_allow_private)
        return client_holder["client"]

    @app.task(name=DISPATCH_TASK, queue=DISPATCH_QUEUE, retry=DISPATCH_RETRY)
    @counted("dispatch_events")
    async def dispatch(org_id: str) -> int:
        return await dispatch_events(database, stream, UUID(org_id))

    @app.task(name=DELIVER_TASK, queue=DELIVERY_QUEUE, retry=DELIVERY_RETRY)
    @counted("deliver_webhook")
    async def deliver_webhook(delivery_ids: list[str]) -> dict[str, str]:
        statuses = await deliver_batch(
            database, settings, client(), stream, [UUID(item) for item in delivery_ids], box=box
        )
        busy = [str(key) for key, value in statuses.items() if value == BUSY]
        if busy:
            # Another job holds them (a killed worker's claims not expired yet, or a live
            # job): procrastinate runs this job again later, when the claims are gone.
            raise DeliveriesBusy(f"{len(busy)} deliveries are being sent by another job")
        return {str(key): value for key, value in statuses.items()}

    @app.task(name=RUN_IMPORT_TASK, queue=IMPORT_QUEUE, retry=DISPATCH_RETRY)
    @counted("run_import")
    async def run_import(import_id: str, org_id: str) -> str:
        return await import_jobs.run_import(database, UUID(import_id), UUID(org_id))

    @app.periodic(cron="* * * * *", periodic_id="requeue-stuck")
    @app.task(
        name="amss.requeue_stuck",
        queue=PERIODIC_QUEUE,
        lock="requeue-stuck",
        queueing_lock="requeue-stuck",
    )
    @counted("requeue_stuck")
    async def requeue_stuck(timestamp: int) -> dict[str, int]:
        """Events and deliveries left pending with no job to move them get one again."""
        return {
            "organizations": await requeue_stuck_events(database),
            "deliveries": await requeue_stuck_deliveries(database),
        }

    @app.periodic(cron="* * * * * */15", periodic_id="stalled-jobs")
    @app.task(
        name="amss.recover_stalled_jobs",
        queue=PERIODIC_QUEUE,
        lock="stalled-jobs",
        queueing_lock="stalled-jobs",
    )
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
    """Two job loops on one app until cancelled: deliveries, and everything else.

    Cancelling stops both gracefully: each waits for its running jobs up to its shutdown
    timeout, then aborts them (procrastinate retries aborted jobs).
    """
    general_queues = sorted({task.queue for task in app.tasks.values()} - {DELIVERY_QUEUE})
    async with app.open_async():
        loops = [
            asyncio.create_task(
                app.run_worker_async(
                    name=f"{name}/jobs",
                    queues=general_queues,
                    concurrency=GENERAL_CONCURRENCY,
                    install_signal_handlers=False,
                    fetch_job_polling_interval=1.0,
                    shutdown_graceful_timeout=GENERAL_SHUTDOWN_SECONDS,
                ),
                name="worker-jobs",
            ),
            asyncio.create_task(
                app.run_worker_async(
                    name=f"{name}/webhooks",
                    queues=[DELIVERY_QUEUE],
                    concurrency=DELIVERY_CONCURRENCY,
                    install_signal_handlers=False,
                    fetch_job_polling_interval=1.0,
                    shutdown_graceful_timeout=DELIVERY_SHUTDOWN_SECONDS,
                ),
                name="worker-webhooks",
            ),
        ]
        if install_signal_handlers:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, lambda: [task.cancel() for task in loops])
        try:
            # One loop ending (it failed) ends the other too.
            await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in loops:
                task.cancel()
            results = await asyncio.gather(*loops, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                raise result
