"""Webhook delivery benchmark (SPEC §13): 10,000 events to a local receiver, one worker.

Targets: ≥ 300 deliveries/s; commit → delivery p50 < 250 ms; a receiver that hangs does
not slow the others (the healthy receiver's rate with a hanging one beside it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import uvicorn
from rich.console import Console
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from amss.audit import journal
from amss.auth.rules import Caller
from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.events.catalogue import Event
from bench.database import scratch_database
from bench.harness import QUICK, Verdict, below, report

EVENTS = 2_000 if QUICK else 10_000
LATENCY_SAMPLES = 50 if QUICK else 200


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Receiver:
    def __init__(self) -> None:
        self.received_at: list[float] = []
        self.by_number: dict[int, float] = {}
        self.count = 0

    async def hook(self, request: Request) -> Response:
        body = json.loads(await request.body())
        now = time.time()
        self.received_at.append(now)
        self.by_number[body["data"]["n"]] = now
        self.count += 1
        return Response(status_code=200)

    @staticmethod
    async def hang(request: Request) -> Response:
        await asyncio.sleep(30)
        return Response(status_code=200)


async def _event(database: Database, org_id: uuid.UUID, number: int) -> None:
    async with UnitOfWork(database.session_factory) as uow:
        aggregate = uuid.uuid4()
        await journal.announce(
            uow,
            Caller.system(org_id),
            [
                Event(
                    "task_updated", "maintenance_task", aggregate, {"n": number}, f"one:{aggregate}"
                )
            ],
        )
        await uow.commit()


async def _events(database: Database, org_id: uuid.UUID, count: int) -> None:
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
                        f"bench:{aggregate}",
                    )
                ],
            )
        await uow.commit()


async def _scenario(url: str, *, hanging: bool) -> dict[str, Any]:
    receiver = Receiver()
    port = _free_port()
    app = Starlette(
        routes=[
            Route("/ok", receiver.hook, methods=["POST"]),
            Route("/hang", receiver.hang, methods=["POST"]),
        ]
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    database = Database.connect(url, pool_size=2)
    org_id = uuid.uuid4()
    async with database.engine.begin() as conn:
        from sqlalchemy import text

        await conn.execute(
            text("INSERT INTO organizations (id, name) VALUES (:o, :n)"),
            {"o": org_id, "n": f"Bench {org_id}"},
        )
        await conn.execute(text("INSERT INTO org_policies (org_id) VALUES (:o)"), {"o": org_id})
        await conn.execute(
            text(
                "INSERT INTO webhooks (org_id, url, events, secret) VALUES (:o, :u, '{task_updated}', :s)"
            ),
            {"o": org_id, "u": f"http://127.0.0.1:{port}/ok", "s": "ab" * 32},
        )
        if hanging:
            await conn.execute(
                text(
                    "INSERT INTO webhooks (org_id, url, events, secret) VALUES (:o, :u, '{task_updated}', :s)"
                ),
                {"o": org_id, "u": f"http://127.0.0.1:{port}/hang", "s": "cd" * 32},
            )
    env = {
        **os.environ,
        "DB_URL": url,
        "WORKER_HTTP_ADDR": f"127.0.0.1:{_free_port()}",
        "LOG_LEVEL": "warning",
        # 'amss worker' defaults to production; the receivers listen on localhost.
        "APP_ENV": "test",
        "WEBHOOK_ALLOW_PRIVATE": "true",
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", "from amss.cli import main; main()", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(3)  # worker start-up is not part of the measure
        # Latency: single events committed one by one, each timed from its commit.
        committed_at: dict[int, float] = {}
        for number in range(LATENCY_SAMPLES):
            await _event(database, org_id, 1_000_000 + number)
            committed_at[1_000_000 + number] = time.time()
            await asyncio.sleep(0.02)
        while (
            len(receiver.by_number) < LATENCY_SAMPLES and time.time() < committed_at[1_000_000] + 60
        ):
            await asyncio.sleep(0.05)
        single = sorted(
            receiver.by_number[n] - at for n, at in committed_at.items() if n in receiver.by_number
        )
        receiver.received_at.clear()
        receiver.count = 0
        # Throughput: a burst of EVENTS in one transaction, from its commit to the last delivery.
        await _events(database, org_id, EVENTS)
        committed = time.time()  # the clock starts when the events are committed
        deadline = committed + 600
        while receiver.count < EVENTS and time.time() < deadline:
            await asyncio.sleep(0.05)
        elapsed = time.time() - committed
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        server.should_exit = True
        await serving
        await database.dispose()
    latencies = sorted(at - committed for at in receiver.received_at)
    return {
        "scenario": "with a hanging receiver" if hanging else "one receiver",
        "delivered": receiver.count,
        "seconds": round(elapsed, 2),
        "deliveries_per_s": round(receiver.count / elapsed, 1),
        "burst_commit_to_delivery_p50_ms": _p50_ms(latencies),
        "single_event_commit_to_delivery_p50_ms": _p50_ms(single),
        "single_event_samples": len(single),
    }


def _below(value: float | None, limit: float) -> bool:
    return value is not None and value < limit


def _p50_ms(values: list[float]) -> float | None:
    return round(statistics.median(values) * 1000, 1) if values else None


def run() -> None:
    results = []
    for hanging in (False, True):
        with scratch_database() as url:
            results.append(asyncio.run(_scenario(url, hanging=hanging)))
    plain, with_hanging = results
    Console().print(results)

    def p50(row: dict[str, Any]) -> float:
        value = row["single_event_commit_to_delivery_p50_ms"]
        return float(value) if value is not None else float("inf")

    verdicts = [
        Verdict(
            benchmark="webhooks",
            measure=f"deliveries/s, {EVENTS:,} events, one receiver",
            figure=plain["deliveries_per_s"],
            unit="/s",
            target="≥ 300 /s",
            passed=plain["deliveries_per_s"] >= 300 and plain["delivered"] == EVENTS,
        ),
        below("webhooks", "commit → delivery p50, one event", p50(plain), "ms", 250),
        below(
            "webhooks",
            "commit → delivery p50, one event, a hanging receiver beside it",
            p50(with_hanging),
            "ms",
            250,
        ),
        Verdict(
            benchmark="webhooks",
            measure="deliveries/s with a hanging receiver beside it",
            figure=with_hanging["deliveries_per_s"],
            unit="/s",
            baseline="one receiver alone",
            baseline_figure=plain["deliveries_per_s"],
            ratio=round(with_hanging["deliveries_per_s"] / plain["deliveries_per_s"], 2),
            target="≥ 300 /s and ≥ 80% of alone",
            passed=with_hanging["deliveries_per_s"] >= max(300, 0.8 * plain["deliveries_per_s"]),
        ),
    ]
    report("webhooks", [], verdicts)
