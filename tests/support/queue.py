"""The job queue and the outbox as the workers see them: cleaned between worker tests, and
read by the tests that make claims about jobs.

Worker tests commit. Without cleaning, a job, a pending delivery to a receiver long gone,
or a worker row left by an earlier test would be picked up by the next test's workers and
change its outcome with the order the tests ran in.
"""

from __future__ import annotations

from sqlalchemy import text

from amss.db.engine import Database
from amss.events.queue import DELIVER_TASK, DELIVERY_QUEUE, DISPATCH_QUEUE

_CLEAN = (
    "DELETE FROM procrastinate_periodic_defers",
    "DELETE FROM procrastinate_jobs",  # its events go with it (ON DELETE CASCADE)
    "DELETE FROM procrastinate_workers",
    "DELETE FROM webhook_deliveries",
    "DELETE FROM webhooks",
    "DELETE FROM outbox_events",
)


async def clean_queue(database: Database) -> None:
    """Empty procrastinate's tables, the outbox and every subscription with its deliveries."""
    async with database.engine.begin() as conn:
        for statement in _CLEAN:
            await conn.execute(text(statement))


async def open_event_jobs(database: Database) -> int:
    """Dispatch and delivery jobs still to run (waiting, scheduled later, or running)."""
    async with database.engine.connect() as conn:
        count = await conn.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs"
                " WHERE queue_name IN (:dispatch, :deliver) AND status IN ('todo', 'doing')"
            ),
            {"dispatch": DISPATCH_QUEUE, "deliver": DELIVERY_QUEUE},
        )
    return int(count or 0)


async def worker_ids(database: Database) -> set[int]:
    """The procrastinate workers registered now (a worker registers when it starts)."""
    async with database.engine.connect() as conn:
        rows = await conn.execute(text("SELECT id FROM procrastinate_workers"))
        return {int(row.id) for row in rows}


async def delivery_jobs(
    database: Database, *, status: str | None = None
) -> list[dict[str, object]]:
    """Delivery jobs: id, status, worker, attempts and the delivery ids they carry."""
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, status::text AS status, worker_id, attempts,"
                " args->'delivery_ids' AS delivery_ids FROM procrastinate_jobs"
                " WHERE task_name = :task AND (CAST(:status AS text) IS NULL"
                " OR status::text = :status) ORDER BY id"
            ),
            {"task": DELIVER_TASK, "status": status},
        )
        return [dict(row._mapping) for row in rows]
