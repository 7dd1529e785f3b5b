"""The delivery job: one signed POST per attempt, every attempt recorded (SPEC §7.3)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx2
from prometheus_client import Counter
from sqlalchemy import text

from amss.config import Settings
from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.events.queue import defer, delivery_jobs
from amss.events.stream import DEAD_LETTER_STREAM, StreamPublisher
from amss.kit.timefmt import rfc3339, utcnow
from amss.webhooks.guard import UnsafeDestination, check_destination
from amss.webhooks.rules import Secret, backoff_seconds, retry_after_seconds, signature_headers

TIMEOUT_SECONDS = 10.0
BODY_KEPT = 1024

webhook_deliveries_total = Counter(
    "amss_webhook_deliveries_total", "Delivery attempts by resulting status.", ["status"]
)

_LOAD = text(
    """
    SELECT d.id, d.org_id, d.webhook_id, d.status, d.attempt_count, d.event_type,
           w.url, w.secret, w.active, w.deleted_at, e.payload, pol.max_webhook_attempts
    FROM webhook_deliveries d
    JOIN webhooks w ON w.id = d.webhook_id
    JOIN outbox_events e ON e.id = d.event_id
    JOIN org_policies pol ON pol.org_id = d.org_id
    WHERE d.id = ANY(CAST(:ids AS uuid[])) AND d.status IN ('pending', 'failed')
    ORDER BY d.created_at
    FOR UPDATE OF d SKIP LOCKED
    """
)

_CANCEL = text(
    "UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL"
    " WHERE id = ANY(CAST(:ids AS uuid[]))"
)

_RECORD = text(
    """
    UPDATE webhook_deliveries
    SET status = :status, attempt_count = attempt_count + 1, next_attempt_at = :next_attempt_at,
        last_response_code = :code, last_response_body = :body, last_error = :error,
        delivered_at = CASE WHEN :status = 'delivered' THEN now() ELSE delivered_at END,
        attempts = attempts || CAST(:attempt AS jsonb), updated_at = now()
    WHERE id = :id
    """
)

# Attempts of one job in flight at once (a job holds one worker slot).
PER_JOB_CONCURRENCY = 25


def shared_client() -> httpx2.AsyncClient:
    """One client per worker: pooled connections, a 10 s timeout, bounded concurrency."""
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(TIMEOUT_SECONDS),
        # A hanging receiver holds at most LANES x PER_JOB_CONCURRENCY connections.
        limits=httpx2.Limits(max_connections=256, max_keepalive_connections=64),
        follow_redirects=False,
    )


@dataclass(frozen=True)
class Outcome:
    code: int | None
    body: str | None
    error: str | None
    retry_after: float | None
    duration_ms: int


async def _post(
    client: httpx2.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> Outcome:
    started = time.perf_counter()
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx2.TimeoutException:
        return Outcome(None, None, f"timed out after {TIMEOUT_SECONDS:.0f} s", None, _ms(started))
    except httpx2.HTTPError as error:
        return Outcome(None, None, f"{type(error).__name__}: {error}"[:500], None, _ms(started))
    return Outcome(
        response.status_code,
        response.text[:BODY_KEPT],
        None if response.is_success else f"HTTP {response.status_code}",
        retry_after_seconds(response.headers.get("retry-after"))
        if response.status_code == 429
        else None,
        _ms(started),
    )


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


async def _attempt(client: httpx2.AsyncClient, settings: Settings, row: Any) -> Outcome:
    body = json.dumps(row.payload, separators=(",", ":")).encode()
    try:
        # DNS may change after the subscription was checked: check at every delivery.
        await check_destination(row.url, production=settings.is_production)
    except UnsafeDestination as refused:
        return Outcome(None, None, f"refused: {refused}", None, 0)
    headers = signature_headers(
        Secret.from_hex(row.secret),
        webhook_id=str(row.webhook_id),
        delivery_id=str(row.id),
        event_type=row.event_type,
        body=body,
        now=time.time(),
    )
    return await _post(client, row.url, body, headers)


def _result(row: Any, outcome: Outcome, now: datetime) -> dict[str, Any]:
    attempt = row.attempt_count + 1
    next_attempt = None
    if outcome.code is not None and 200 <= outcome.code < 300:
        status = "delivered"
    elif attempt >= row.max_webhook_attempts:
        status = "dead"
    else:
        status = "failed"
        wait = outcome.retry_after if outcome.retry_after is not None else backoff_seconds(attempt)
        next_attempt = now + timedelta(seconds=wait)
    record = {
        "at": rfc3339(now),
        "response_code": outcome.code,
        "error": outcome.error,
        "duration_ms": outcome.duration_ms,
    }
    return {
        "id": row.id,
        "status": status,
        "next_attempt_at": next_attempt,
        "code": outcome.code,
        "body": outcome.body,
        "error": outcome.error,
        "attempt": json.dumps([record]),
    }


async def deliver_batch(
    database: Database,
    settings: Settings,
    client: httpx2.AsyncClient,
    stream: StreamPublisher,
    delivery_ids: list[UUID],
) -> dict[UUID, str]:
    """One attempt for each still-open delivery of the batch; their statuses afterwards.

    The rows are claimed, then sent with no transaction open (a receiver may take 10 s),
    then every result is recorded in one transaction with the retries it schedules.
    """
    async with UnitOfWork(database.session_factory) as uow:
        rows = (await uow.session.execute(_LOAD, {"ids": delivery_ids})).all()
        gone = [row.id for row in rows if not row.active or row.deleted_at is not None]
        if gone:
            await uow.session.execute(_CANCEL, {"ids": gone})
            await uow.commit()
    statuses: dict[UUID, str] = dict.fromkeys(gone, "cancelled")
    live = [row for row in rows if row.id not in statuses]
    if not live:
        return statuses
    slots = asyncio.Semaphore(PER_JOB_CONCURRENCY)

    async def attempt(row: Any) -> Outcome:
        async with slots:
            return await _attempt(client, settings, row)

    outcomes = await asyncio.gather(*(attempt(row) for row in live))
    now = utcnow()
    results = [_result(row, outcome, now) for row, outcome in zip(live, outcomes, strict=True)]
    async with UnitOfWork(database.session_factory) as uow:
        await uow.session.execute(_RECORD, results)
        retries: dict[tuple[UUID, datetime], list[UUID]] = {}
        for row, result in zip(live, results, strict=True):
            if result["next_attempt_at"] is not None:
                retries.setdefault((row.webhook_id, result["next_attempt_at"]), []).append(row.id)
        await defer(
            uow.session,
            [
                job
                for (webhook_id, when), ids in retries.items()
                for job in delivery_jobs(webhook_id, ids, scheduled_at=when)
            ],
        )
        await uow.commit()
    dead = []
    for row, result in zip(live, results, strict=True):
        statuses[row.id] = result["status"]
        webhook_deliveries_total.labels(status=result["status"]).inc()
        if result["status"] == "dead":
            dead.append({"delivery_id": str(row.id), **row.payload})
    await stream.publish(DEAD_LETTER_STREAM, dead)
    return statuses


async def deliver(
    database: Database,
    settings: Settings,
    client: httpx2.AsyncClient,
    stream: StreamPublisher,
    delivery_id: UUID,
) -> str:
    """One attempt of one delivery; its status afterwards ("not open" when there is none)."""
    statuses = await deliver_batch(database, settings, client, stream, [delivery_id])
    return statuses.get(delivery_id, "not open")
