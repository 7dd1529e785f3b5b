"""Several worker processes (SPEC §7.3, §10): every delivery at least once and, while the
workers are healthy, exactly once; a worker killed with SIGKILL loses nothing, because the
survivor recovers its stalled jobs. Every claim is read from procrastinate's job table and
the delivery rows, not inferred from the receiver alone."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from amss.audit import journal
from amss.auth.rules import Caller
from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.events.catalogue import Event
from tests.support.factories import make_org, make_webhook
from tests.support.live import free_port
from tests.support.polling import eventually
from tests.support.queue import delivery_jobs, open_event_jobs, worker_ids
from tests.webhooks.conftest import Receiver

# ``amss worker`` runs two job loops (deliveries, and everything else), each registered as
# a procrastinate worker of its own.
LOOPS_PER_PROCESS = 2


@dataclass
class WorkerProcess:
    """An ``amss worker`` process and the ids its two job loops (deliveries, everything
    else) registered under in procrastinate_workers."""

    process: subprocess.Popen[bytes]
    worker_ids: frozenset[int]

    def holds(self, by_worker: dict[int, list[int]]) -> list[int]:
        """The job ids this process's loops hold."""
        return [
            job for worker, jobs in by_worker.items() if worker in self.worker_ids for job in jobs
        ]


async def start_worker(database: Database, database_url: str, name: str) -> WorkerProcess:
    before = await worker_ids(database)
    env = {
        **os.environ,
        "DB_URL": database_url,
        "WORKER_HTTP_ADDR": f"127.0.0.1:{free_port()}",
        "WORKER_ID": name,
        "LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from amss.cli import main; main()", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    async def registered() -> frozenset[int] | None:
        assert process.poll() is None, f"{name} exited with {process.returncode}"
        new = await worker_ids(database) - before
        return frozenset(new) if len(new) == LOOPS_PER_PROCESS else None

    try:
        ids = await eventually(registered, timeout=60, what=f"{name} registered")
    except BaseException:
        process.kill()
        raise
    return WorkerProcess(process, ids)


async def stop(worker: WorkerProcess) -> None:
    if worker.process.poll() is None:
        worker.process.send_signal(signal.SIGTERM)
    try:
        # In a thread: the receiver runs in this event loop and must keep answering.
        await asyncio.to_thread(worker.process.wait, 30)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        await asyncio.to_thread(worker.process.wait, 10)


@asynccontextmanager
async def workers(
    database: Database, database_url: str, *names: str
) -> AsyncIterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    try:
        for name in names:
            started.append(await start_worker(database, database_url, name))
        yield started
    finally:
        for worker in started:
            await stop(worker)


async def events_for_subscribed_orgs(
    database: Database, url: str, *, orgs: int, per_org: int
) -> list[uuid.UUID]:
    """``orgs`` organizations with one subscription each, and ``per_org`` events each."""
    org_ids = []
    async with database.engine.begin() as conn:
        for _ in range(orgs):
            org_id = await make_org(conn, name=f"Load {uuid.uuid4().hex[:8]}")
            await make_webhook(conn, org_id, url=url, events=["task_updated"])
            org_ids.append(org_id)
    await announce_updates(database, org_ids, per_org, "load")
    return org_ids


async def announce_updates(
    database: Database, org_ids: list[uuid.UUID], per_org: int, tag: str
) -> None:
    """``per_org`` committed ``task_updated`` events in each organization's outbox."""
    async with UnitOfWork(database.session_factory) as uow:
        for org_id in org_ids:
            for number in range(per_org):
                aggregate = uuid.uuid4()
                event = Event(
                    "task_updated",
                    "maintenance_task",
                    aggregate,
                    {"n": number},
                    f"{tag}:{aggregate}",
                )
                await journal.announce(uow, Caller.system(org_id), [event])
        await uow.commit()


def per_delivery(receiver: Receiver) -> collections.Counter[str]:
    return collections.Counter(r.headers["x-webhook-delivery-id"] for r in receiver.requests)


async def delivery_rows(database: Database, org_ids: list[uuid.UUID]) -> list[Any]:
    """Each delivery with its status and how many of its recorded attempts were a 2xx."""
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT d.id::text AS id, d.status, d.attempt_count,"
                " (SELECT count(*) FROM jsonb_array_elements(d.attempts) a"
                "   WHERE (a->>'response_code')::int BETWEEN 200 AND 299) AS successes"
                " FROM webhook_deliveries d WHERE d.org_id = ANY(:orgs)"
            ),
            {"orgs": org_ids},
        )
        return list(rows)


async def all_delivered_and_drained(database: Database, org_ids: list[uuid.UUID], count: int):  # type: ignore[no-untyped-def]
    rows = await delivery_rows(database, org_ids)
    delivered = [row for row in rows if row.status == "delivered"]
    return len(delivered) == count and await open_event_jobs(database) == 0


async def doing_by_worker(database: Database) -> dict[int, list[int]]:
    held: dict[int, list[int]] = collections.defaultdict(list)
    for job in await delivery_jobs(database, status="doing"):
        if job["worker_id"] is not None:
            held[int(job["worker_id"])].append(int(job["id"]))  # type: ignore[call-overload]
    return held


async def test_two_workers_deliver_1000_events_each_exactly_once(
    database: Database, database_url: str, receiver: Receiver, clean_jobs: None
) -> None:
    # Requests are held until both workers are seen running delivery jobs: 5 subscriptions
    # x 200 events make 20 delivery jobs on 20 distinct locks, more than the 16 slots of one
    # worker, so the second worker must take some. Held for seconds, well inside the 10 s
    # delivery deadline.
    receiver.gate.clear()
    async with workers(database, database_url, "worker-a", "worker-b") as (first, second):
        org_ids = await events_for_subscribed_orgs(database, receiver.url, orgs=5, per_org=200)

        async def both_hold_jobs() -> dict[int, list[int]]:
            held = await doing_by_worker(database)
            return held if first.holds(held) and second.holds(held) else {}

        await eventually(both_hold_jobs, timeout=8, what="both workers running delivery jobs")
        receiver.gate.set()
        await eventually(
            lambda: all_delivered_and_drained(database, org_ids, 1000),
            timeout=120,
            what="1000 deliveries delivered and no dispatch or delivery job left",
        )
        # Read before the workers stop: unregistering a worker clears worker_id on its jobs.
        succeeded_by = collections.Counter(
            job["worker_id"] for job in await delivery_jobs(database, status="succeeded")
        )
        seen_when_drained = per_delivery(receiver)
    ran = {
        name
        for worker in succeeded_by
        for name, process in (("first", first), ("second", second))
        if worker in process.worker_ids
    }
    assert ran == {"first", "second"}, succeeded_by
    # Both processes have exited: nothing is in flight any more, so a late duplicate (a job
    # run twice, a retry scheduled after the drain) would be at the receiver by now.
    assert first.process.returncode is not None and second.process.returncode is not None
    counts = per_delivery(receiver)
    assert counts == seen_when_drained
    assert len(counts) == 1000
    assert max(counts.values()) == 1
    assert await open_event_jobs(database) == 0
    rows = await delivery_rows(database, org_ids)
    assert len(rows) == 1000
    assert {row.id for row in rows} == set(counts)
    assert all(
        (row.status, row.attempt_count, row.successes) == ("delivered", 1, 1) for row in rows
    ), [
        row for row in rows if (row.status, row.attempt_count, row.successes) != ("delivered", 1, 1)
    ][:5]


async def test_killing_a_worker_loses_no_delivery(
    database: Database, database_url: str, receiver: Receiver, clean_jobs: None
) -> None:
    receiver.gate.clear()  # deliveries stay in flight: the kill lands while jobs are running
    async with workers(database, database_url, "victim") as [victim]:
        org_ids = await events_for_subscribed_orgs(database, receiver.url, orgs=1, per_org=300)

        async def victim_holds_jobs() -> list[int]:
            return victim.holds(await doing_by_worker(database))

        await eventually(victim_holds_jobs, timeout=8, what="the victim running delivery jobs")
        async with workers(database, database_url, "survivor") as [survivor]:
            held = await victim_holds_jobs()
            held_deliveries = {
                delivery_id
                for job in await delivery_jobs(database)
                if job["id"] in held
                for delivery_id in job["delivery_ids"]  # type: ignore[attr-defined]
            }
            # At the SIGKILL the victim is alive and holds these jobs (read from the table).
            assert held and held_deliveries
            assert victim.process.poll() is None
            victim.process.send_signal(signal.SIGKILL)
            assert await asyncio.to_thread(victim.process.wait, 10) == -signal.SIGKILL
            receiver.gate.set()

            # The victim's jobs stay 'doing' until its heartbeat is 30 s stale; then the
            # stalled-job recovery puts them back and the survivor runs them.
            async def recovered_by_survivor() -> bool:
                jobs = {job["id"]: job for job in await delivery_jobs(database)}
                return all(
                    jobs[job_id]["status"] == "succeeded"
                    and jobs[job_id]["worker_id"] in survivor.worker_ids
                    for job_id in held
                )

            await eventually(
                recovered_by_survivor,
                timeout=120,
                what=f"jobs {held} of the killed worker run again by the survivor",
            )
            await eventually(
                lambda: all_delivered_and_drained(database, org_ids, 300),
                timeout=60,
                what="300 deliveries delivered and no dispatch or delivery job left",
            )
            recovered = [job for job in await delivery_jobs(database) if job["id"] in held]
            assert all(job["attempts"] == 2 for job in recovered), recovered  # retried once
    counts = per_delivery(receiver)
    rows = await delivery_rows(database, org_ids)
    assert len(rows) == 300
    assert set(counts) == {row.id for row in rows}  # none lost
    # At least once: only what the victim had in flight may have reached the receiver twice.
    assert {delivery for delivery, seen in counts.items() if seen > 1} <= held_deliveries
    # The database records one successful attempt per delivery, whoever sent it.
    assert all(row.status == "delivered" and row.successes == 1 for row in rows), [
        row for row in rows if row.status != "delivered" or row.successes != 1
    ][:5]


async def test_a_hanging_receiver_does_not_hold_up_the_others(
    database: Database, worker: object, receiver: Receiver, hanging_receiver: Receiver
) -> None:
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Hang {uuid.uuid4().hex[:8]}")
        hooks = {}
        for name, url in (("hanging", hanging_receiver.url), ("healthy", receiver.url)):
            hooks[name] = await make_webhook(conn, org_id, url=url, events=["task_updated"])
    await announce_updates(database, [org_id], 400, "hang")

    async def attempts_recorded(webhook_id: uuid.UUID) -> tuple[int, int]:
        async with database.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE status = 'delivered') AS delivered,"
                        " count(*) FILTER (WHERE attempt_count > 0) AS attempted"
                        " FROM webhook_deliveries WHERE webhook_id = :w"
                    ),
                    {"w": webhook_id},
                )
            ).one()
        return int(row.delivered), int(row.attempted)

    async def healthy_all_delivered() -> bool:
        delivered, _ = await attempts_recorded(hooks["healthy"])
        return delivered == 400

    await eventually(healthy_all_delivered, timeout=60, what="400 deliveries to the healthy one")
    # The hanging receiver was tried and holds its requests unanswered; an attempt to it can
    # only be recorded when it ends at the 10 s deadline. None is recorded yet: the healthy
    # receiver's 400 deliveries never waited for the hanging one's.
    assert hanging_receiver.requests and hanging_receiver.answered == 0
    assert await attempts_recorded(hooks["hanging"]) == (0, 0)
    assert len(per_delivery(receiver)) == 400
