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
from amss.events.queue import DELIVER_TASK, defer, delivery_jobs, jobs_for_deliveries
from amss.events.stream import DEAD_LETTER_STREAM, StreamPublisher
from amss.kit.secretbox import SecretBox, SecretUnreadable, secret_box
from amss.kit.timefmt import rfc3339, utcnow
from amss.webhooks.guard import GuardedTransport, Resolver, UnsafeDestination, system_resolver
from amss.webhooks.rules import (
    Secret,
    backoff_seconds,
    retry_after_seconds,
    signature_headers,
    url_problem,
)

# One deadline for the whole attempt: connect, send, headers and body (SPEC §7.3, §10). A
# receiver that drips its answer a byte at a time is cut here, not after 10 s per read.
ATTEMPT_DEADLINE_SECONDS = 10.0
# Kept from a receiver's answer, read raw (never decompressed: a 40 KB gzip bomb stays 40 KB).
BODY_KEPT = 1024
# A claimed delivery is left alone by other jobs while its job may still be sending it: one
# deadline per wave of PER_JOB_CONCURRENCY attempts, plus time to record the results. A
# killed worker's claims expire by themselves; its job comes back (stalled-job recovery)
# and retries until they have.
CLAIM_MARGIN_SECONDS = 10

webhook_deliveries_total = Counter(
    "amss_webhook_deliveries_total", "Delivery attempts by resulting status.", ["status"]
)

# Claim the still-open, unclaimed deliveries of the batch (skipping rows another job holds),
# in a short transaction of its own; the attempt itself runs with no transaction open.
_CLAIM = text(
    """
    WITH open AS (
        SELECT d.id FROM webhook_deliveries d
        WHERE d.id = ANY(CAST(:ids AS uuid[])) AND d.status IN ('pending', 'failed')
          AND (d.claimed_until IS NULL OR d.claimed_until < now())
          -- A retry is not sent before its time (a duplicate job must not jump the backoff).
          AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= now() + interval '1 second')
        FOR UPDATE SKIP LOCKED
    ),
    claimed AS (
        UPDATE webhook_deliveries d
        SET claimed_until = now() + make_interval(secs => :claim_seconds)
        FROM open WHERE d.id = open.id
        RETURNING d.id, d.org_id, d.webhook_id, d.event_id, d.attempt_count, d.event_type,
                  d.created_at
    )
    SELECT c.id, c.org_id, c.webhook_id, c.attempt_count, c.event_type,
           w.url, w.secret, w.secret_ciphertext, w.active, w.deleted_at, e.payload,
           pol.max_webhook_attempts
    FROM claimed c
    JOIN webhooks w ON w.id = c.webhook_id
    JOIN outbox_events e ON e.id = c.event_id
    JOIN org_policies pol ON pol.org_id = c.org_id
    ORDER BY c.created_at
    """
)

# Open deliveries of the batch that another job is sending right now.
_BUSY = text(
    """
    SELECT id FROM webhook_deliveries
    WHERE id = ANY(CAST(:ids AS uuid[])) AND status IN ('pending', 'failed')
      AND claimed_until >= now() AND NOT id = ANY(CAST(:mine AS uuid[]))
    """
)

_CANCEL = text(
    "UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL,"
    " claimed_until = NULL WHERE id = ANY(CAST(:ids AS uuid[]))"
)

_RECORD = text(
    """
    UPDATE webhook_deliveries
    SET status = :status, attempt_count = attempt_count + 1, next_attempt_at = :next_attempt_at,
        last_response_code = :code, last_response_body = :body, last_error = :error,
        delivered_at = CASE WHEN :status = 'delivered' THEN now() ELSE delivered_at END,
        attempts = attempts || CAST(:attempt AS jsonb), claimed_until = NULL, updated_at = now()
    WHERE id = :id
    """
)

# Attempts of one job in flight at once (a job holds one worker slot).
PER_JOB_CONCURRENCY = 25
# The status reported for a delivery another job is sending at this moment.
BUSY = "busy"


class DeliveriesBusy(Exception):
    """Some deliveries of the job are being sent by another job: retry the job later."""


def shared_client(
    *, allow_private: bool, resolver: Resolver = system_resolver
) -> httpx2.AsyncClient:
    """One client per worker: pooled, guarded connections (SSRF), no redirects, no proxies."""
    limits = httpx2.Limits(max_connections=256, max_keepalive_connections=64)
    return httpx2.AsyncClient(
        transport=GuardedTransport(limits=limits, allow_private=allow_private, resolver=resolver),
        # Per-operation limits as a backstop; the attempt's own deadline is the real bound.
        timeout=httpx2.Timeout(ATTEMPT_DEADLINE_SECONDS),
        limits=limits,
        follow_redirects=False,
        trust_env=False,
        # No compression negotiated: the answer is read raw and never inflated.
        headers={"Accept-Encoding": "identity"},
    )


@dataclass(frozen=True)
class Outcome:
    code: int | None
    body: str | None
    error: str | None
    retry_after: float | None
    duration_ms: int


async def _read_capped(response: httpx2.Response) -> bytes:
    """At most BODY_KEPT bytes of the raw (still encoded) body; the rest is never read."""
    kept = bytearray()
    async for chunk in response.aiter_raw():
        kept += chunk
        if len(kept) >= BODY_KEPT:
            break
    return bytes(kept[:BODY_KEPT])


def _shown_body(raw: bytes, encoding: str | None) -> str:
    if encoding and encoding.strip().lower() not in ("", "identity"):
        return f"(body not decoded: Content-Encoding {encoding[:50]})"
    # PostgreSQL text cannot hold NUL.
    return raw.decode("utf-8", "replace").replace("\x00", "")


async def _post(
    client: httpx2.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> Outcome:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(ATTEMPT_DEADLINE_SECONDS):
            async with client.stream("POST", url, content=body, headers=headers) as response:
                raw = await _read_capped(response)
    except (TimeoutError, httpx2.TimeoutException):
        message = f"timed out: no complete answer within {ATTEMPT_DEADLINE_SECONDS:.0f} s"
        return Outcome(None, None, message, None, _ms(started))
    except UnsafeDestination as refused:
        return Outcome(None, None, f"refused: {refused}", None, _ms(started))
    except httpx2.HTTPError as error:
        return Outcome(None, None, f"{type(error).__name__}: {error}"[:500], None, _ms(started))
    return Outcome(
        response.status_code,
        _shown_body(raw, response.headers.get("content-encoding")),
        None if response.is_success else f"HTTP {response.status_code}",
        retry_after_seconds(response.headers.get("retry-after"))
        if response.status_code == 429
        else None,
        _ms(started),
    )


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _signing_secret(row: Any, box: SecretBox) -> Secret:
    if row.secret_ciphertext is not None:
        return Secret.from_hex(box.decrypt(row.secret_ciphertext))
    return Secret.from_hex(row.secret)  # a row from before encryption, not sealed yet


async def _attempt(
    client: httpx2.AsyncClient, settings: Settings, box: SecretBox, row: Any
) -> Outcome:
    body = json.dumps(row.payload, separators=(",", ":")).encode()
    # The URL rules here; the address policy when the client connects (DNS may have changed
    # since the subscription was checked, so every new connection is checked again).
    problem = url_problem(row.url, production=settings.is_production)
    if problem:
        return Outcome(None, None, f"refused: URL {problem}", None, 0)
    try:
        secret = _signing_secret(row, box)
    except SecretUnreadable as unreadable:
        return Outcome(None, None, f"refused: {unreadable}", None, 0)
    headers = signature_headers(
        secret,
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
    *,
    box: SecretBox | None = None,
) -> dict[UUID, str]:
    """One attempt for each still-open delivery of the batch; their statuses afterwards.

    The rows are claimed (committed, so no other job attempts them meanwhile), then sent
    with no transaction open (an attempt may take 10 s), then every result is recorded in
    one transaction with the retries it schedules, releasing the claims.
    """
    box = box or secret_box(settings)
    waves = -(-len(delivery_ids) // PER_JOB_CONCURRENCY)
    claim_seconds = waves * ATTEMPT_DEADLINE_SECONDS + CLAIM_MARGIN_SECONDS
    async with UnitOfWork(database.session_factory) as uow:
        rows = (
            await uow.session.execute(_CLAIM, {"ids": delivery_ids, "claim_seconds": claim_seconds})
        ).all()
        busy = (
            (await uow.session.execute(_BUSY, {"ids": delivery_ids, "mine": [r.id for r in rows]}))
            .scalars()
            .all()
        )
        gone = [row.id for row in rows if not row.active or row.deleted_at is not None]
        if gone:
            await uow.session.execute(_CANCEL, {"ids": gone})
        await uow.commit()
    statuses: dict[UUID, str] = dict.fromkeys(gone, "cancelled")
    statuses.update(dict.fromkeys(busy, BUSY))
    live = [row for row in rows if row.id not in statuses]
    if not live:
        return statuses
    slots = asyncio.Semaphore(PER_JOB_CONCURRENCY)

    async def attempt(row: Any) -> Outcome:
        async with slots:
            return await _attempt(client, settings, box, row)

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
    *,
    box: SecretBox | None = None,
) -> str:
    """One attempt of one delivery; its status afterwards ("not open" when there is none,
    "busy" while another job is sending it)."""
    statuses = await deliver_batch(database, settings, client, stream, [delivery_id], box=box)
    return statuses.get(delivery_id, "not open")


# Open deliveries that waited this long past their due time with no job to send them (a
# job lost with a crashed worker's queue, a retry that failed to be deferred) are re-queued.
STUCK_AFTER_SECONDS = 300
REQUEUE_LIMIT = 5000

_STUCK = text(
    """
    WITH queued AS (
        SELECT DISTINCT CAST(jsonb_array_elements_text(j.args -> 'delivery_ids') AS uuid) AS id
        FROM procrastinate_jobs j
        WHERE j.task_name = :task AND j.status IN ('todo', 'doing')
    )
    SELECT d.webhook_id, d.id
    FROM webhook_deliveries d
    WHERE d.status IN ('pending', 'failed')
      AND coalesce(d.next_attempt_at, d.updated_at) < now() - make_interval(secs => :age)
      AND d.updated_at < now() - make_interval(secs => :age)
      AND (d.claimed_until IS NULL OR d.claimed_until < now())
      AND NOT EXISTS (SELECT 1 FROM queued q WHERE q.id = d.id)
    ORDER BY d.updated_at
    LIMIT :limit
    """
)


async def requeue_stuck_deliveries(
    database: Database, *, older_than_seconds: int = STUCK_AFTER_SECONDS
) -> int:
    """Give open deliveries that nothing will send a job again; how many."""
    async with UnitOfWork(database.session_factory) as uow:
        rows = (
            await uow.session.execute(
                _STUCK,
                {"task": DELIVER_TASK, "age": older_than_seconds, "limit": REQUEUE_LIMIT},
            )
        ).all()
        await defer(uow.session, jobs_for_deliveries(rows))
        await uow.commit()
    return len(rows)
