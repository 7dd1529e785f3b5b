"""The sample files of docs/samples, imported in the order an operator would (docs/imports.md):
every row applies, programs generate their tasks, last-done records set the limits, and the
flight log imported twice adds its hours once. Also ``amss import`` on a sample."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from amss.db.engine import Database
from tests.imports.support import process, upload
from tests.support.api import Actor, ok
from tests.support.factories import make_org
from tests.support.tenant import Tenant

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
ORDER = ("aircraft", "programs", "compliance", "utilization", "parts")


async def import_sample(db: Database, actor: Actor, name: str) -> dict[str, Any]:
    content = (SAMPLES / f"{name}.csv").read_bytes()
    return await process(db, actor, await upload(actor, name, content, filename=f"{name}.csv"))


async def tasks_of(actor: Actor, tail: str) -> dict[str, dict[str, Any]]:
    [craft] = ok(await actor.get("/aircraft", params={"tail_number": tail}))
    tasks = ok(
        await actor.get(
            "/maintenance-tasks", params={"aircraft_id": craft["id"], "state": "scheduled"}
        )
    )
    return {task["title"]: task for task in tasks}


async def test_every_sample_imports_cleanly_and_drives_the_due_engine(
    tenant: Tenant, db: Database
) -> None:
    planner = tenant.as_("scheduler")
    for name in ORDER:
        done = await import_sample(db, planner, name)
        summary = done["summary"]
        assert (done["status"], summary["invalid"]) == ("completed", 0), (name, done)
        assert summary["applied"] == summary["total"] > 0, (name, done)

    cessna = await tasks_of(planner, "N172AM")
    assert sorted(cessna) == ["100-hour inspection", "Annual inspection", "Cabin refresh"]
    hundred = cessna["100-hour inspection"]
    assert (hundred["due_hours"], hundred["basis_source"]) == (2491.0, "record")
    assert cessna["Annual inspection"]["basis_source"] == "record"
    assert cessna["Cabin refresh"]["basis_source"] == "assumed"
    oil = (await tasks_of(planner, "N182AM"))["Oil change"]
    assert (oil["due_hours"], oil["basis_source"]) == (1312.5, "record")

    [craft] = ok(await planner.get("/aircraft", params={"tail_number": "N172AM"}))
    assert craft["flight_hours_total"] == 2453.8
    again = await import_sample(db, planner, "utilization")
    assert again["summary"]["unchanged"] == again["summary"]["total"]
    [craft] = ok(await planner.get("/aircraft", params={"tail_number": "N172AM"}))
    assert craft["flight_hours_total"] == 2453.8


async def amss_import(*arguments: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DB_URL": database_url, "APP_ENV": "test", "LOG_LEVEL": "warning"}
    command = [sys.executable, "-c", "from amss.cli import main; main()", "import", *arguments]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )


async def test_amss_import_follows_the_import_to_the_end(
    database: Database, database_url: str
) -> None:
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, f"CLI import {uuid.uuid4().hex[:8]}")
    sample = str(SAMPLES / "aircraft.csv")

    result = await amss_import(
        sample, "--type", "aircraft", "--org", str(org_id), database_url=database_url
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "completed; 3 rows, 3 valid, 0 invalid, 3 applied (0 unchanged)" in result.stdout

    again = await amss_import(
        sample, "--type", "aircraft", "--org", str(org_id), "--dry-run", database_url=database_url
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "3 valid, 0 invalid, 0 applied" in again.stdout
    async with database.engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM aircraft WHERE org_id = :org"), {"org": org_id}
        )
    assert count == 3

    bad = await amss_import(
        sample, "--type", "fleet", "--org", str(org_id), database_url=database_url
    )
    assert bad.returncode == 2 and "'fleet' is not one of" in bad.stderr
