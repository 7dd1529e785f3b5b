"""Deferring jobs inside the business transaction (procrastinate's own table and columns).

Rows go into ``procrastinate_jobs`` on the unit of work's connection, so a job exists if
and only if the change that asked for it committed. Its insert trigger NOTIFYs the workers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from amss.kit.tracing import with_trace_context

DISPATCH_QUEUE = "events"
DELIVERY_QUEUE = "webhooks"
DISPATCH_TASK = "amss.dispatch_events"
DELIVER_TASK = "amss.deliver_webhook"

_DEFER = text(
    """
    INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args, scheduled_at)
    SELECT j.queue_name, j.task_name, j.lock, j.queueing_lock, j.args, j.scheduled_at
    FROM jsonb_to_recordset(CAST(:jobs AS jsonb))
         AS j(queue_name text, task_name text, lock text, queueing_lock text, args jsonb,
              scheduled_at timestamptz)
    ON CONFLICT (queueing_lock) WHERE status = 'todo' DO NOTHING
    """
)


@dataclass(frozen=True)
class Job:
    queue: str
    task: str
    args: dict[str, Any]
    queueing_lock: str | None = None
    scheduled_at: datetime | None = None
    lock: str | None = None


async def defer(session: AsyncSession, jobs: Sequence[Job]) -> None:
    if not jobs:
        return
    rows = [
        {
            "queue_name": job.queue,
            "task_name": job.task,
            "lock": job.lock,
            "queueing_lock": job.queueing_lock,
            "args": with_trace_context(job.args),
            "scheduled_at": job.scheduled_at.isoformat() if job.scheduled_at else None,
        }
        for job in jobs
    ]
    await session.execute(_DEFER, {"jobs": json.dumps(rows)})


# Deliveries to one webhook run in at most LANES jobs at a time (procrastinate runs jobs of
# one lock one after another): a receiver that hangs holds LANES worker slots, not all.
LANES = 4
DELIVERY_BATCH = 50


def delivery_jobs(
    webhook_id: UUID | str,
    delivery_ids: Sequence[UUID | str],
    *,
    scheduled_at: datetime | None = None,
) -> list[Job]:
    """Jobs delivering these deliveries of one webhook: batches spread over its lanes."""
    ids = [str(delivery_id) for delivery_id in delivery_ids]
    batches = [ids[start : start + DELIVERY_BATCH] for start in range(0, len(ids), DELIVERY_BATCH)]
    first_lane = int(ids[0][:8], 16) if ids else 0
    return [
        Job(
            DELIVERY_QUEUE,
            DELIVER_TASK,
            {"delivery_ids": batch},
            lock=f"webhook:{webhook_id}:{(first_lane + number) % LANES}",
            scheduled_at=scheduled_at,
        )
        for number, batch in enumerate(batches)
    ]


def jobs_for_deliveries(
    deliveries: Iterable[tuple[UUID | str, UUID | str]], *, scheduled_at: datetime | None = None
) -> list[Job]:
    """Delivery jobs for (webhook id, delivery id) pairs of any webhooks: each webhook's
    deliveries batched over its lanes (``delivery_jobs``)."""
    by_webhook: dict[str, list[UUID | str]] = {}
    for webhook_id, delivery_id in deliveries:
        by_webhook.setdefault(str(webhook_id), []).append(delivery_id)
    return [
        job
        for webhook_id, ids in by_webhook.items()
        for job in delivery_jobs(webhook_id, ids, scheduled_at=scheduled_at)
    ]


def note_events(session: AsyncSession, org_id: UUID) -> None:
    """Remember that this transaction wrote events of ``org_id`` (dispatched after commit)."""
    session.info.setdefault("amss_event_orgs", set()).add(org_id)


async def defer_dispatch(session: AsyncSession) -> None:
    """Called by the unit of work just before COMMIT: one dispatch job per organization.

    The queueing lock keeps one waiting dispatch job per organization; a job already
    running picks up what it finds, and the waiting one the rest.
    """
    orgs = session.info.pop("amss_event_orgs", set())
    await defer(session, [dispatch_job(org) for org in sorted(orgs, key=str)])


def dispatch_job(org_id: UUID) -> Job:
    return Job(
        DISPATCH_QUEUE, DISPATCH_TASK, {"org_id": str(org_id)}, queueing_lock=f"dispatch:{org_id}"
    )
