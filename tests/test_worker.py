"""The worker: periodic sweep and due scan, retention, the `amss worker` process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta

import httpx
import pytest
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.config import Settings
from amss.db.engine import Database
from amss.due import jobs
from amss.kit import retention
from amss.kit.schedule import cron_for
from amss.worker import create_worker_app
from tests.support.dates import day
from tests.support.factories import (
    make_aircraft,
    make_org,
    make_program,
    make_record,
    make_user,
    make_utilization,
)
from tests.support.live import free_port
from tests.support.polling import eventually


@pytest.mark.parametrize(
    ("interval", "cron"),
    [
        (timedelta(minutes=10), "*/10 * * * *"),
        (timedelta(minutes=7), "*/6 * * * *"),
        (timedelta(hours=24), "0 0 * * *"),
        (timedelta(hours=6), "0 */6 * * *"),
        (timedelta(seconds=30), "* * * * * */30"),
        (timedelta(seconds=1), "* * * * * */1"),
    ],
)
def test_intervals_become_cron_never_less_often(interval: timedelta, cron: str) -> None:
    assert cron_for(interval) == cron


async def test_the_sweep_generates_scans_and_grounds_once(
    db: Database, connection: AsyncConnection
) -> None:
    org_id = await make_org(connection)
    craft = await make_aircraft(
        connection, org_id, tail_number="N1SW", model="PA28", flight_hours_total=480
    )
    program = await make_program(connection, org_id, name="100-hour", interval_hours=100)
    # Done at 370 h, due at 470 h, flown to 480 h: overdue as soon as the task exists.
    await make_record(connection, org_id, program, craft, days_ago=30, hours=370)
    first = await jobs.sweep(db)
    assert first.generated >= 1 and first.grounded >= 1
    status = await connection.scalar(
        text("SELECT status FROM aircraft WHERE id = :a"), {"a": craft}
    )
    assert status == "grounded"
    events = "SELECT count(*) FROM outbox_events WHERE org_id = :o AND event_type = 'task_overdue'"
    assert await connection.scalar(text(events), {"o": org_id}) == 1
    await jobs.sweep(db)
    assert await connection.scalar(text(events), {"o": org_id}) == 1  # once per status change


async def test_forecast_refresh_recomputes_observed_rates(
    db: Database, connection: AsyncConnection
) -> None:
    org_id = await make_org(connection)
    craft = await make_aircraft(connection, org_id, tail_number="N2SW", model="PA28")
    for when in (day(-1), day()):
        await make_utilization(connection, org_id, craft, flight_date=when, hours=6, cycles=3)
    assert await jobs.refresh_forecasts(db) >= 1
    rate = await connection.scalar(
        text("SELECT observed_daily_hours FROM aircraft WHERE id = :a"), {"a": craft}
    )
    assert float(rate) == 6.0


async def test_retention_purges_old_events_and_expired_keys_and_keeps_every_audit_row(
    db: Database, connection: AsyncConnection
) -> None:
    short = await make_org(connection, retention_days=30)
    default = await make_org(connection)  # 365 days
    user = await make_user(connection, short, "viewer")
    for key, expiry in (("old", "1 hour"), ("fresh", "-1 hour")):
        await connection.execute(
            text(
                "INSERT INTO idempotency_keys (org_id, user_id, key, fingerprint, locked_until,"
                " expires_at) VALUES (:o, :u, :k, 'f', now(), now() - CAST(:e AS interval))"
            ),
            {"o": short, "u": user.id, "k": key, "e": expiry},
        )
    for org_id, name, age_days, dispatched in (
        (short, "old", 40, True),  # past the 30 days and dispatched: forgotten
        (short, "old but never dispatched", 40, False),  # still owed to subscribers: kept
        (short, "recent", 10, True),
        (default, "old for 30, young for 365", 40, True),
    ):
        await connection.execute(
            text(
                "INSERT INTO outbox_events (org_id, event_type, aggregate_type, payload,"
                " dedupe_key, created_at, dispatched_at) VALUES (:o, 'task_updated',"
                " 'maintenance_task', '{}', :k, now() - make_interval(days => :d),"
                " CASE WHEN :sent THEN now() - make_interval(days => :d) END)"
            ),
            {"o": org_id, "k": name, "d": age_days, "sent": dispatched},
        )
    for org_id in (short, default):
        for age_days in (400, 40, 0):  # audit rows far older than any retention period
            await connection.execute(
                text(
                    "INSERT INTO audit_logs (org_id, entity_type, action, timestamp, prev_hash,"
                    " hash) VALUES (:o, 'probe', 'update', now() - make_interval(days => :d),"
                    " '', '')"
                ),
                {"o": org_id, "d": age_days},
            )

    async def state() -> tuple[dict[str, list[str]], dict[str, int], list[str]]:
        events = await connection.execute(
            text(
                "SELECT org_id, dedupe_key FROM outbox_events"
                " WHERE org_id IN (:s, :d) ORDER BY dedupe_key"
            ),
            {"s": short, "d": default},
        )
        by_org: dict[str, list[str]] = {"short": [], "default": []}
        for row in events:
            by_org["short" if row.org_id == short else "default"].append(row.dedupe_key)
        audit = await connection.execute(
            text(
                "SELECT org_id, count(*) AS n FROM audit_logs WHERE org_id IN (:s, :d)"
                " GROUP BY org_id"
            ),
            {"s": short, "d": default},
        )
        audit_counts = {"short" if r.org_id == short else "default": r.n for r in audit}
        keys = await connection.execute(
            text("SELECT key FROM idempotency_keys WHERE org_id = :o ORDER BY key"), {"o": short}
        )
        return by_org, audit_counts, [row.key for row in keys]

    events_before, audit_before, keys_before = await state()
    assert events_before == {
        "short": ["old", "old but never dispatched", "recent"],
        "default": ["old for 30, young for 365"],
    }
    assert audit_before == {"short": 3, "default": 3} and keys_before == ["fresh", "old"]

    result = await retention.purge(db)

    events_after, audit_after, keys_after = await state()
    assert events_after == {
        "short": ["old but never dispatched", "recent"],
        "default": ["old for 30, young for 365"],
    }
    assert keys_after == ["fresh"]
    assert audit_after == audit_before  # every audit row kept, the 400-day-old ones too
    assert result.events >= 1 and result.idempotency_keys >= 1


async def test_amss_worker_runs_the_periodic_sweep_and_serves_health(
    database: Database, database_url: str, clean_jobs: None
) -> None:
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Periodic {uuid.uuid4().hex[:8]}")
        craft = await make_aircraft(conn, org_id, tail_number="N1PS", model="C172")
        # Written straight to the table: nothing has generated its task yet.
        program = await make_program(
            conn, org_id, name="50-hour", interval_hours=50, aircraft_id=craft
        )
    port = free_port()
    env = {
        **os.environ,
        "DB_URL": database_url,
        "WORKER_HTTP_ADDR": f"127.0.0.1:{port}",
        "GENERATOR_INTERVAL": "1s",
        "LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from amss.cli import main; main()", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:

            async def generated() -> int:
                assert process.poll() is None, "the worker exited"
                async with database.engine.connect() as conn:
                    return int(
                        await conn.scalar(
                            text(
                                "SELECT count(*) FROM maintenance_tasks"
                                " WHERE program_id = :p AND state = 'scheduled'"
                            ),
                            {"p": program},
                        )
                        or 0
                    )

            # The periodic sweep, not a request, made the task.
            assert await eventually(generated, timeout=60, what="the periodic sweep") == 1

            async def sweep_counted() -> bool:
                try:
                    metrics = (await http.get("/metrics")).text
                except httpx.TransportError:
                    return False
                return 'amss_job_runs_total{job="due_sweep"}' in metrics

            await eventually(sweep_counted, timeout=30, what="due_sweep in the worker's metrics")
            assert (await http.get("/ready")).json()["checks"]["database"] == "ok"
            assert (await http.get("/api/v1/aircraft")).status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.communicate, timeout=60)
    assert process.returncode in (0, 128 + signal.SIGTERM, -signal.SIGTERM)


PERIODIC_TASKS = (
    "amss.due_sweep",
    "amss.refresh_forecasts",
    "amss.retention",
    "amss.requeue_stuck",
    "amss.recover_stalled_jobs",
)


@pytest.mark.parametrize("name", PERIODIC_TASKS)
async def test_a_periodic_job_never_overlaps_its_previous_run(
    settings: Settings, database: Database, database_url: str, name: str
) -> None:
    """At fleet scale one sweep may outlast its interval: the next one must neither start
    beside it (``lock``) nor pile up behind it (``queueing_lock``: one waiting run at most),
    or runs multiply and starve the API of both cores."""
    app = create_worker_app(settings, database, database_url)
    task = app.tasks[name]
    assert task.lock is not None and task.queueing_lock == task.lock
    async with app.open_async():
        first = await task.defer_async(timestamp=1)
        try:
            with pytest.raises(AlreadyEnqueued):
                await task.defer_async(timestamp=2)
        finally:
            async with database.engine.begin() as conn:
                await conn.execute(
                    text("DELETE FROM procrastinate_jobs WHERE id = :j"), {"j": first}
                )
