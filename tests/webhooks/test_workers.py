"""Several worker processes: every delivery at least once, none twice while healthy, and
nothing lost when one is killed."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from amss.audit import journal
from amss.auth.rules import Caller
from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.events.catalogue import Event
from tests.factories import make_org
from tests.test_cli import free_port
from tests.webhooks.conftest import Receiver


@contextmanager
def worker_processes(database_url: str, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes = []
    for number in range(count):
        env = {
            **os.environ,
            "DB_URL": database_url,
            "WORKER_HTTP_ADDR": f"127.0.0.1:{free_port()}",
            "WORKER_ID": f"test-worker-{number}",
            "LOG_LEVEL": "warning",
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", "from amss.cli import main; main()", "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


async def events_for_a_subscribed_org(database: Database, url: str, count: int) -> None:
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Load {uuid.uuid4().hex[:8]}")
        await conn.execute(
            text(
                "INSERT INTO webhooks (org_id, url, events, secret) VALUES (:o, :u, '{task_updated}', :s)"
            ),
            {"o": org_id, "u": url, "s": "cd" * 32},
        )
    async with UnitOfWork(database.session_factory) as uow:
        for number in range(count):
            aggregate = uuid.uuid4()
            await journal.announce(
                uow,
                Caller.system(org_id),
                [
                    Event(
                        "task_updated",
                        "maintenance_task",
                        aggregate,
                        {"n": number},
                        f"load:{aggregate}",
                    )
                ],
            )
        await uow.commit()


def per_delivery(receiver: Receiver) -> collections.Counter[str]:
    return collections.Counter(r.headers["x-webhook-delivery-id"] for r in receiver.requests)


async def test_two_workers_deliver_1000_events_each_exactly_once(
    database: Database, database_url: str, receiver: Receiver
) -> None:
    with worker_processes(database_url, 2):
        await events_for_a_subscribed_org(database, receiver.url, 1000)
        await receiver.wait_for(1000, timeout=120)
    counts = per_delivery(receiver)
    assert len(counts) == 1000
    assert max(counts.values()) == 1


async def test_killing_a_worker_loses_no_delivery(
    database: Database, database_url: str, receiver: Receiver
) -> None:
    receiver.hang_seconds = 0.05  # keep deliveries in flight when the kill lands
    with worker_processes(database_url, 2) as (first, _second):
        await events_for_a_subscribed_org(database, receiver.url, 300)
        await receiver.wait_for(60, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        # The survivor finishes the queue; the victim's running jobs come back once its
        # heartbeat is 30 s stale.
        await _until_all_delivered(receiver, 300, timeout=150)
    assert len(per_delivery(receiver)) == 300


async def _until_all_delivered(receiver: Receiver, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(per_delivery(receiver)) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


async def test_a_hanging_receiver_does_not_hold_up_the_others(
    database: Database, worker: object, receiver: Receiver, hanging_receiver: Receiver
) -> None:
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Hang {uuid.uuid4().hex[:8]}")
        for url in (hanging_receiver.url, receiver.url):
            await conn.execute(
                text(
                    "INSERT INTO webhooks (org_id, url, events, secret) VALUES (:o, :u, '{task_updated}', :s)"
                ),
                {"o": org_id, "u": url, "s": "cd" * 32},
            )
    async with UnitOfWork(database.session_factory) as uow:
        for number in range(400):
            aggregate = uuid.uuid4()
            await journal.announce(
                uow,
                Caller.system(org_id),
                [
                    Event(
                        "task_updated",
                        "maintenance_task",
                        aggregate,
                        {"n": number},
                        f"hang:{aggregate}",
                    )
                ],
            )
        await uow.commit()
    started = time.monotonic()
    delivered = await receiver.wait_for(400, timeout=30)
    assert len(delivered) == 400, f"{len(delivered)} of 400 to the healthy receiver"
    assert time.monotonic() - started < 15
    assert hanging_receiver.requests  # the hanging one was tried meanwhile
