"""The worker: periodic sweep and due scan, retention, the `amss worker` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from amss.due import jobs
from amss.kit import retention
from amss.kit.schedule import cron_for
from tests.factories import make_org, make_user
from tests.test_cli import free_port


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
    craft = await connection.scalar(
        text(
            "INSERT INTO aircraft (org_id, tail_number, model, flight_hours_total)"
            " VALUES (:o, 'N1SW', 'PA28', 480) RETURNING id"
        ),
        {"o": org_id},
    )
    await connection.execute(
        text(
            "INSERT INTO maintenance_programs (org_id, name, interval_hours, last_performed, last_performed_hours)"
            " VALUES (:o, '100-hour', 100, now() - interval '30 days', 370)"
        ),
        {"o": org_id},
    )
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
    craft = await connection.scalar(
        text(
            "INSERT INTO aircraft (org_id, tail_number, model) VALUES (:o, 'N2SW', 'PA28') RETURNING id"
        ),
        {"o": org_id},
    )
    await connection.execute(
        text(
            "INSERT INTO utilization_entries (org_id, aircraft_id, flight_date, flight_hours, cycles)"
            " VALUES (:o, :a, current_date - 1, 6, 3), (:o, :a, current_date, 6, 3)"
        ),
        {"o": org_id, "a": craft},
    )
    assert await jobs.refresh_forecasts(db) >= 1
    rate = await connection.scalar(
        text("SELECT observed_daily_hours FROM aircraft WHERE id = :a"), {"a": craft}
    )
    assert float(rate) == 6.0


async def test_retention_forgets_expired_keys_and_never_audit_rows(
    db: Database, connection: AsyncConnection
) -> None:
    org_id = await make_org(connection)
    user = await make_user(connection, org_id, "viewer")
    for key, expiry in (
        ("old", "now() - interval '1 hour'"),
        ("fresh", "now() + interval '1 hour'"),
    ):
        await connection.execute(
            text(
                "INSERT INTO idempotency_keys (org_id, user_id, key, fingerprint, locked_until, expires_at)"
                f" VALUES (:o, :u, :k, 'f', now(), {expiry})"
            ),
            {"o": org_id, "u": user.id, "k": key},
        )
    audit_before = await connection.scalar(text("SELECT count(*) FROM audit_logs"))
    result = await retention.purge(db)
    assert result.idempotency_keys >= 1
    keys = (
        (
            await connection.execute(
                text("SELECT key FROM idempotency_keys WHERE org_id = :o"), {"o": org_id}
            )
        )
        .scalars()
        .all()
    )
    assert keys == ["fresh"]
    assert await connection.scalar(text("SELECT count(*) FROM audit_logs")) == audit_before


def test_amss_worker_runs_the_periodic_sweep_and_serves_health(database_url: str) -> None:
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
    try:
        deadline = time.monotonic() + 60
        swept = False
        while time.monotonic() < deadline and not swept:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
                swept = 'amss_job_runs_total{job="due_sweep"}' in metrics
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert swept, "no periodic sweep within 60 s"
        assert httpx.get(f"http://127.0.0.1:{port}/ready").json()["checks"]["database"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/aircraft").status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode in (0, 128 + signal.SIGTERM, -signal.SIGTERM)
