"""The dispatch job: outbox events become one webhook delivery per matching subscription."""

from __future__ import annotations

from uuid import UUID

from prometheus_client import Counter, Gauge
from sqlalchemy import text

from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.events.queue import defer, dispatch_job, jobs_for_deliveries
from amss.events.stream import EVENTS_STREAM, StreamPublisher

BATCH = 500

outbox_events_processed_total = Counter(
    "amss_outbox_events_processed_total", "Outbox events dispatched to subscriptions."
)
outbox_lag_seconds = Gauge(
    "amss_outbox_lag_seconds", "Age of the oldest event in the last dispatched batch."
)

# One batch, in one transaction: events claimed (skipping those another worker holds),
# deliveries created (idempotent: unique per webhook and event), events marked dispatched.
_DISPATCH = text(
    """
    WITH batch AS (
        SELECT id, org_id, event_type, payload, created_at FROM outbox_events
        WHERE org_id = :org_id AND dispatched_at IS NULL
        ORDER BY created_at
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    ),
    deliveries AS (
        INSERT INTO webhook_deliveries (org_id, webhook_id, event_id, event_type, status, next_attempt_at)
        SELECT b.org_id, w.id, b.id, b.event_type, 'pending', now()
        FROM batch b
        JOIN webhooks w ON w.org_id = b.org_id AND w.active AND w.deleted_at IS NULL
             AND (b.event_type = ANY(w.events) OR '*' = ANY(w.events))
        WHERE b.event_type <> 'webhook.test'
        ON CONFLICT (webhook_id, event_id) DO NOTHING
        RETURNING id, webhook_id
    ),
    marked AS (
        UPDATE outbox_events e SET dispatched_at = now() FROM batch b WHERE e.id = b.id
    )
    SELECT (SELECT coalesce(jsonb_agg(jsonb_build_array(webhook_id, id)), '[]'::jsonb) FROM deliveries)
               AS deliveries,
           (SELECT coalesce(jsonb_agg(payload ORDER BY created_at), '[]'::jsonb) FROM batch) AS payloads,
           (SELECT extract(epoch FROM now() - min(created_at)) FROM batch) AS lag
    """
)


async def dispatch_events(database: Database, stream: StreamPublisher, org_id: UUID) -> int:
    """Dispatch every pending event of the organization; returns how many."""
    dispatched = 0
    while True:
        async with UnitOfWork(database.session_factory) as uow:
            row = (await uow.session.execute(_DISPATCH, {"org_id": org_id, "batch": BATCH})).one()
            payloads = list(row.payloads)
            if not payloads:
                return dispatched
            await defer(uow.session, jobs_for_deliveries(row.deliveries))
            await uow.commit()
        dispatched += len(payloads)
        outbox_events_processed_total.inc(len(payloads))
        outbox_lag_seconds.set(float(row.lag or 0))
        await stream.publish(EVENTS_STREAM, payloads)


# Events not dispatched this long after their commit lost their dispatch job (a crashed
# worker's queue, a job that used up its retries): they get one again.
STUCK_AFTER_SECONDS = 180

_STUCK_ORGS = text(
    """
    SELECT DISTINCT org_id FROM outbox_events
    WHERE dispatched_at IS NULL AND created_at < now() - make_interval(secs => :age)
    """
)


async def requeue_stuck_events(
    database: Database, *, older_than_seconds: int = STUCK_AFTER_SECONDS
) -> int:
    """A dispatch job for every organization with events left behind; how many organizations.

    The dispatch job's queueing lock keeps this from piling up jobs behind a waiting one.
    """
    async with UnitOfWork(database.session_factory) as uow:
        orgs = list((await uow.session.execute(_STUCK_ORGS, {"age": older_than_seconds})).scalars())
        await defer(uow.session, [dispatch_job(org) for org in orgs])
        await uow.commit()
    return len(orgs)
