"""A crashed import resumes from its row statuses and never applies a row twice (SPEC §8):
a batch is one transaction that applies its rows and marks them ``applied`` together."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.tokens import TokenSigner, signing_keys
from amss.config import Settings
from amss.db.engine import Database
from amss.imports import service
from tests.imports.support import csv_of, process, upload
from tests.support.polling import eventually
from tests.support.tenant import Tenant, make_tenant
from tests.test_cli import free_port


def fleet(size: int, prefix: str) -> bytes:
    return csv_of(
        ["tail_number", "model", "flight_hours_total", "cycles_total"],
        [[f"{prefix}{n}", "C172", "100", "10"] for n in range(size)],
    )


async def applied_state(conn: AsyncConnection, org_id: UUID, import_id: str) -> dict[str, int]:
    """What is applied, counted three ways that must agree when no row is applied twice."""
    row = (
        await conn.execute(
            text(
                """
                SELECT
                  (SELECT count(*) FROM import_rows WHERE import_id = :id AND status = 'applied')
                      AS marked,
                  (SELECT count(*) FROM aircraft WHERE org_id = :org) AS aircraft,
                  (SELECT count(*) FROM utilization_entries
                   WHERE org_id = :org AND source = 'initial') AS initial_entries,
                  (SELECT count(*) FROM (
                      SELECT jsonb_array_elements_text(details->'applied'->'created')
                      FROM audit_logs WHERE org_id = :org AND entity_id = :id
                   ) audited) AS audited
                """
            ),
            {"id": UUID(import_id), "org": org_id},
        )
    ).one()
    return dict(row._mapping)


async def test_a_failure_mid_batch_rolls_the_batch_back_and_the_rerun_completes(
    tenant: Tenant, db: Database, connection: AsyncConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    planner = tenant.as_("scheduler")
    pending = await upload(planner, "aircraft", fleet(10, "NR"))
    first = await process(db, planner, pending, batch_size=4, max_batches=1)
    assert (first["status"], first["summary"]["applied"]) == ("applying", 4)

    # The next batch fails after its upsert (the worker dies, the database goes away): its
    # transaction rolls back whole, rows and their statuses together.
    async def crash(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("worker lost its database")

    monkeypatch.setattr(service.engine, "after_change", crash)
    with pytest.raises(ConnectionError):
        await process(db, planner, pending, batch_size=4)
    assert await applied_state(connection, tenant.id, pending["id"]) == {
        "marked": 4,
        "aircraft": 4,
        "initial_entries": 4,
        "audited": 4,
    }

    monkeypatch.undo()
    done = await process(db, planner, pending, batch_size=4)
    assert (done["status"], done["summary"]["applied"]) == ("completed", 10)
    assert await applied_state(connection, tenant.id, pending["id"]) == {
        "marked": 10,
        "aircraft": 10,
        "initial_entries": 10,
        "audited": 10,
    }


async def test_a_value_the_database_refuses_fails_the_import_with_the_reason(
    tenant: Tenant, db: Database, connection: AsyncConnection
) -> None:
    planner = tenant.as_("scheduler")
    pending = await upload(planner, "aircraft", fleet(3, "NF"))
    # A database rule the row checks do not know (added here, as a later migration might).
    await connection.execute(
        text("ALTER TABLE aircraft ADD CONSTRAINT test_no_nf2 CHECK (tail_number <> 'NF2')")
    )

    done = await process(db, planner, pending)

    assert done["status"] == "failed"
    assert done["failure"].startswith("not applied: ")
    assert (await applied_state(connection, tenant.id, pending["id"]))["aircraft"] == 0


async def test_killing_the_worker_while_applying_then_starting_another_completes_exactly(
    settings: Settings,
    database: Database,
    database_url: str,
    committing_client: httpx.AsyncClient,
    clean_jobs: None,
) -> None:
    size = 6 * service.BATCH_SIZE
    signer = TokenSigner(signing_keys(settings), settings.access_token_ttl)
    async with database.engine.begin() as conn:
        tenant = await make_tenant(conn, signer, committing_client, roles=["scheduler"])
    pending = await upload(tenant.as_("scheduler"), "aircraft", fleet(size, "NK"))

    async def state() -> dict[str, int]:
        async with database.engine.connect() as conn:
            return await applied_state(conn, tenant.id, pending["id"])

    first = start_worker(database_url)
    try:

        async def partly_applied() -> bool:
            assert first.poll() is None, "the worker exited"
            return 0 < (await state())["marked"] < size

        await eventually(partly_applied, timeout=240, what="the first batches applied")
    finally:
        first.send_signal(signal.SIGKILL)  # no graceful shutdown: killed mid-import
        await asyncio.to_thread(first.communicate, timeout=60)
    killed = await state()
    assert 0 < killed["marked"] < size
    assert killed == dict.fromkeys(killed, killed["marked"]), killed

    second = start_worker(database_url)
    try:

        async def completed() -> bool:
            assert second.poll() is None, "the second worker exited"
            async with database.engine.connect() as conn:
                status = await conn.scalar(
                    text("SELECT status FROM imports WHERE id = :id"), {"id": UUID(pending["id"])}
                )
            return status == "completed"

        # The dead worker's job is found stalled (no heartbeat for 30 s) and retried.
        await eventually(completed, timeout=300, what="the import completed by the new worker")
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.to_thread(second.communicate, timeout=60)
    assert await state() == dict.fromkeys(killed, size)


def start_worker(database_url: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DB_URL": database_url,
        "WORKER_HTTP_ADDR": f"127.0.0.1:{free_port()}",
        "LOG_LEVEL": "warning",
    }
    return subprocess.Popen(
        [sys.executable, "-c", "from amss.cli import main; main()", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
