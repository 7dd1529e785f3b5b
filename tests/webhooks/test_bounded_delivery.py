"""Delivery is bounded whatever the receiver does (SPEC §7.3, §10): a gzip bomb is read raw and
cut at 1 KiB, a dripping answer is cut at the attempt's one deadline, deliveries run in job
slots of their own so the due sweep keeps running, shutdown does not wait on a receiver, the
same delivery is never attempted twice at once, and nothing stays stuck in ``pending``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text

from amss.config import Settings
from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.events.jobs import requeue_stuck_events
from amss.events.queue import (
    DELIVER_TASK,
    DELIVERY_QUEUE,
    DISPATCH_TASK,
    Job,
    defer,
    delivery_jobs,
)
from amss.events.stream import StreamPublisher
from amss.webhooks.jobs import (
    ATTEMPT_DEADLINE_SECONDS,
    BODY_KEPT,
    deliver,
    requeue_stuck_deliveries,
    shared_client,
)
from amss.worker import DELIVERY_CONCURRENCY, create_worker_app, run_worker
from tests.support.factories import make_delivery, make_event, make_org, make_webhook
from tests.support.polling import eventually
from tests.webhooks.conftest import Receiver, running_worker
from tests.webhooks.receivers import answer_dripping, answer_with_gzip_bomb, raw_receiver


async def deliveries_to(
    database: Database, urls: list[str], per_webhook: int
) -> list[tuple[UUID, UUID]]:
    """Committed webhooks with ``per_webhook`` open deliveries each: (webhook_id, delivery_id)."""
    pairs = []
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Bounded {uuid.uuid4().hex[:8]}")
        for url in urls:
            hook = await make_webhook(conn, org_id, url=url)
            for _ in range(per_webhook):
                marker = str(uuid.uuid4())
                event = await make_event(
                    conn, org_id, payload={"id": marker}, dedupe_key=f"bounded:{marker}"
                )
                pairs.append((hook, await make_delivery(conn, org_id, hook, event_id=event)))
    return pairs


async def delivery_row(database: Database, delivery_id: UUID) -> Any:
    async with database.engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT * FROM webhook_deliveries WHERE id = :d"), {"d": delivery_id}
            )
        ).one()


async def test_a_gzip_bomb_is_read_raw_and_cut_at_one_kib(
    settings: Settings, database: Database
) -> None:
    async with raw_receiver(answer_with_gzip_bomb) as bomb:
        [(_, delivery)] = await deliveries_to(database, [bomb.url], 1)
        async with shared_client(allow_private=True) as client:
            status = await deliver(database, settings, client, StreamPublisher(None), delivery)
        request = bomb.requests[0].lower()
    assert status == "failed"
    row = await delivery_row(database, delivery)
    assert row.last_response_code == 500 and row.last_error == "HTTP 500"
    # Never inflated: the body is described, not decoded, and never over 1 KiB.
    assert row.last_response_body == "(body not decoded: Content-Encoding gzip)"
    assert b"accept-encoding: identity" in request
    assert row.attempts[0]["duration_ms"] < ATTEMPT_DEADLINE_SECONDS * 1000
    print(f"\ngzip bomb attempt: {row.attempts[0]['duration_ms']} ms")


async def test_a_dripping_answer_is_cut_at_the_attempts_one_deadline(
    settings: Settings, database: Database
) -> None:
    async with raw_receiver(answer_dripping) as drip:
        [(_, delivery)] = await deliveries_to(database, [drip.url], 1)
        async with shared_client(allow_private=True) as client:
            status = await deliver(database, settings, client, StreamPublisher(None), delivery)
    assert status == "failed"
    row = await delivery_row(database, delivery)
    [attempt] = row.attempts
    assert attempt["error"] == "timed out: no complete answer within 10 s"
    assert attempt["response_code"] is None
    # Each byte came within a second, so only a deadline over the whole attempt ends it:
    # it waited for the deadline, and not for all 100,000 bytes (over a day at that pace;
    # the minute is a bound on behaviour, not a speed target).
    assert 9_000 <= attempt["duration_ms"] < 60_000, attempt["duration_ms"]
    print(f"\ndripping receiver attempt: {attempt['duration_ms']} ms")
    assert BODY_KEPT == 1024


async def test_hostile_receivers_hold_every_delivery_slot_and_the_due_sweep_still_runs(
    settings: Settings, database: Database, database_url: str
) -> None:
    every_second = settings.model_copy(update={"generator_interval": timedelta(seconds=1)})
    async with (
        raw_receiver(answer_dripping) as drip,
        raw_receiver(answer_with_gzip_bomb) as bomb,
    ):
        # More dripping deliveries than there are delivery slots, one job each and no lane
        # lock, so every slot fills; and a few gzip bombs.
        drips = await deliveries_to(database, [drip.url] * 5, 4)
        bombs = await deliveries_to(database, [bomb.url], 3)
        mine = [str(item) for _, item in drips + bombs]
        async with UnitOfWork(database.session_factory) as uow:
            await defer(
                uow.session,
                [Job(DELIVERY_QUEUE, DELIVER_TASK, {"delivery_ids": [item]}) for item in mine],
            )
            await uow.commit()

        async with running_worker(every_second, database, database_url):

            async def busy_slots() -> int:
                """Delivery slots of this worker held by this test's hostile receivers."""
                async with database.engine.connect() as conn:
                    return int(
                        await conn.scalar(
                            text(
                                "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = :q"
                                " AND status = 'doing' AND args -> 'delivery_ids' ?| :mine"
                            ),
                            {"q": DELIVERY_QUEUE, "mine": mine},
                        )
                        or 0
                    )

            async def saturated() -> bool:
                return await busy_slots() == DELIVERY_CONCURRENCY

            await eventually(saturated, timeout=15, what="the delivery slots filled")
            async with database.engine.connect() as conn:
                since = await conn.scalar(text("SELECT now()"))

            async def sweep_done_since() -> bool:
                async with database.engine.connect() as conn:
                    return bool(
                        await conn.scalar(
                            text(
                                "SELECT count(*) FROM procrastinate_events ev"
                                " JOIN procrastinate_jobs j ON j.id = ev.job_id"
                                " WHERE j.task_name = 'amss.due_sweep'"
                                " AND ev.type = 'succeeded' AND ev.at > :since"
                            ),
                            {"since": since},
                        )
                    )

            await eventually(sweep_done_since, timeout=8, what="a due sweep while deliveries hung")
            # The sweep finished while every delivery slot was still held by a receiver.
            assert await busy_slots() == DELIVERY_CONCURRENCY

            async def all_attempted() -> bool:
                async with database.engine.connect() as conn:
                    open_count = await conn.scalar(
                        text(
                            "SELECT count(*) FROM webhook_deliveries"
                            " WHERE id = ANY(:ids) AND attempt_count = 0"
                        ),
                        {"ids": [item for _, item in drips + bombs]},
                    )
                return open_count == 0

            await eventually(all_attempted, timeout=60, what="every delivery attempted")

    for _, item in drips:
        row = await delivery_row(database, item)
        first = row.attempts[0]
        assert row.status == "failed" and first["error"].startswith("timed out"), first
        assert first["duration_ms"] < 60_000  # cut at the deadline, not after the whole drip
    for _, item in bombs:
        row = await delivery_row(database, item)
        assert row.status == "failed" and row.attempts[0]["response_code"] == 500


async def test_stopping_the_worker_does_not_wait_on_a_hanging_receiver(
    settings: Settings, database: Database, database_url: str, hanging_receiver: Receiver
) -> None:
    [(hook, delivery)] = await deliveries_to(database, [hanging_receiver.url], 1)
    async with UnitOfWork(database.session_factory) as uow:
        await defer(uow.session, delivery_jobs(hook, [delivery]))
        await uow.commit()
    app = create_worker_app(settings, database, database_url)
    task = asyncio.create_task(run_worker(app, name="stopping", install_signal_handlers=False))
    try:
        assert await hanging_receiver.wait_for(1, timeout=10)
    finally:
        task.cancel()
        # The receiver would hang for 30 s; the worker is gone well before.
        done, _ = await asyncio.wait([task], timeout=25)
    assert task in done, "the worker was still waiting on the receiver"


async def test_the_same_delivery_is_never_attempted_twice_at_once(
    settings: Settings, database: Database, receiver: Receiver
) -> None:
    receiver.hang_seconds = 1.0
    [(_, delivery)] = await deliveries_to(database, [receiver.url], 1)
    stream = StreamPublisher(None)
    async with shared_client(allow_private=True) as client:
        statuses = await asyncio.gather(
            *(deliver(database, settings, client, stream, delivery) for _ in range(3))
        )
    # One sends; the others find it claimed ("busy": their job will run again later) or,
    # while the claim is being written, locked ("not open" for now).
    assert statuses.count("delivered") == 1, statuses
    assert set(statuses) - {"delivered"} <= {"busy", "not open"}, statuses
    assert len(receiver.requests) == 1
    assert (await delivery_row(database, delivery)).claimed_until is None


async def test_deliveries_and_events_stuck_without_a_job_are_queued_again(
    database: Database,
) -> None:
    [(_, delivery)] = await deliveries_to(database, ["http://127.0.0.1:9/never"], 1)
    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE webhook_deliveries SET updated_at = now() - interval '10 minutes',"
                " next_attempt_at = now() - interval '10 minutes' WHERE id = :d"
            ),
            {"d": delivery},
        )
        org_id = await make_org(conn, name=f"Stuck {uuid.uuid4().hex[:8]}")
        await conn.execute(
            text(
                "INSERT INTO outbox_events (org_id, event_type, aggregate_type, payload,"
                " dedupe_key, created_at) VALUES (:o, 'task_updated', 'maintenance_task', '{}',"
                " :k, now() - interval '10 minutes')"
            ),
            {"o": org_id, "k": f"stuck:{uuid.uuid4()}"},
        )

    async def jobs_for(task: str, needle: str) -> int:
        async with database.engine.connect() as conn:
            return int(
                await conn.scalar(
                    text(
                        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t"
                        " AND status = 'todo' AND args::text LIKE :n"
                    ),
                    {"t": task, "n": f"%{needle}%"},
                )
                or 0
            )

    assert await requeue_stuck_deliveries(database) >= 1
    assert await jobs_for(DELIVER_TASK, str(delivery)) == 1
    await requeue_stuck_deliveries(database)  # it has a job now: not queued twice
    assert await jobs_for(DELIVER_TASK, str(delivery)) == 1

    assert await requeue_stuck_events(database) >= 1
    await requeue_stuck_events(database)  # the queueing lock keeps one waiting job
    assert await jobs_for(DISPATCH_TASK, str(org_id)) == 1
    async with database.engine.begin() as conn:  # leave no job that would fail later
        await conn.execute(
            text("DELETE FROM procrastinate_jobs WHERE args::text LIKE :n"),
            {"n": f"%{delivery}%"},
        )
        await conn.execute(
            text("UPDATE webhook_deliveries SET status = 'cancelled' WHERE id = :d"),
            {"d": delivery},
        )


def test_dispatch_and_delivery_jobs_retry(
    settings: Settings, database: Database, database_url: str
) -> None:
    app = create_worker_app(settings, database, database_url)
    for name in (DELIVER_TASK, DISPATCH_TASK):
        strategy = app.tasks[name].retry_strategy
        assert strategy is not None and strategy.max_attempts and strategy.max_attempts > 1
