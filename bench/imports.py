"""Import benchmark (SPEC §13): a 100,000-row aircraft CSV from upload to ``completed``,
against a raw ``COPY`` of the same file measured in the same run.

End to end: the multipart upload through the REST app (authenticated, stored, job
deferred), then the import job as a worker runs it (validate every row, stage with COPY,
apply in batches with the due engine after each). Targets: ≥ 25,000 rows/s, and within 5x
the raw COPY of the file into a table of the aircraft columns.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from amss.app import create_app
from amss.auth.passwords import hash_password
from amss.config import Settings
from amss.db.engine import Database, libpq_url
from amss.imports import jobs
from amss.kit.keys import generate_key_pair
from bench.database import scratch_database
from bench.harness import QUICK, Verdict, report, within

ROWS = 20_000 if QUICK else 100_000
REPEATS = 1 if QUICK else 2
TARGET_ROWS_PER_SECOND = 25_000
HEADER = "tail_number,model,serial_number,status,capacity_slots,flight_hours_total,cycles_total"

_RAW_TABLE = """
CREATE TABLE IF NOT EXISTS bench_raw_aircraft (
    tail_number text, model text, serial_number text, status text, capacity_slots integer,
    flight_hours_total numeric(10,1), cycles_total integer)
"""


def fleet_csv(rows: int, run: int) -> bytes:
    out = io.StringIO()
    out.write(HEADER + "\r\n")
    for number in range(rows):
        out.write(
            f"R{run}N{number},A320,MSN{number},operational,2,{10000 + number}.5,{5000 + number}\r\n"
        )
    return out.getvalue().encode()


async def _raw_copy(url: str, content: bytes) -> float:
    import psycopg

    async with await psycopg.AsyncConnection.connect(libpq_url(url)) as conn:
        await conn.execute(_RAW_TABLE)
        await conn.execute("TRUNCATE bench_raw_aircraft")
        await conn.commit()
        started = time.perf_counter()
        async with (
            conn.cursor() as cursor,
            cursor.copy(
                "COPY bench_raw_aircraft FROM STDIN WITH (FORMAT csv, HEADER true)"
            ) as copy,
        ):
            await copy.write(content)
        await conn.commit()
        return time.perf_counter() - started


async def _run(url: str) -> dict[str, Any]:
    keys = generate_key_pair()
    settings = Settings(
        APP_ENV="test",
        DB_URL=url,
        JWT_PRIVATE_KEY_PEM=keys.private_pem,
        JWT_PUBLIC_KEY_PEM=keys.public_pem,
        LOG_LEVEL="warning",
    )
    database = Database.connect(url, pool_size=4)
    app = create_app(settings, database)
    end_to_end, raw = [], []
    for run in range(REPEATS):
        org, user = uuid.uuid4(), uuid.uuid4()
        async with database.engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO organizations (id, name) VALUES (:org, :name)"),
                {"org": org, "name": f"Bench import {org.hex[:8]}"},
            )
            await conn.execute(
                text("INSERT INTO org_policies (org_id) VALUES (:org)"), {"org": org}
            )
            await conn.execute(
                text(
                    "INSERT INTO users (id, org_id, email, role, password_hash)"
                    " VALUES (:id, :org, :email, 'scheduler', :hash)"
                ),
                {
                    "id": user,
                    "org": org,
                    "email": f"{user.hex}@example.com",
                    "hash": await hash_password("x" * 12),
                },
            )
        token, _ = app.state.signer.issue_access(user_id=user, org_id=org, role="scheduler")
        content = fleet_csv(ROWS, run)
        raw.append(await _raw_copy(url, content))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                started = time.perf_counter()
                response = await http.post(
                    "/api/v1/imports/csv",
                    files={"type": (None, "aircraft"), "file": ("fleet.csv", content, "text/csv")},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status_code == 202, response.text
                pending = response.json()
                status = await jobs.run_import(
                    database, uuid.UUID(pending["id"]), uuid.UUID(pending["org_id"])
                )
                end_to_end.append(time.perf_counter() - started)
                done = (
                    await http.get(
                        f"/api/v1/imports/{pending['id']}",
                        headers={"Authorization": f"Bearer {token}"},
                    )
                ).json()
        assert status == "completed" and done["summary"]["applied"] == ROWS, done
    await database.dispose()
    seconds = statistics.median(end_to_end)
    return {
        "rows": ROWS,
        "end_to_end_s": seconds,
        "rows_per_second": ROWS / seconds,
        "raw_copy_s": statistics.median(raw),
    }


def run() -> None:
    with scratch_database() as url:
        figures = asyncio.run(_run(url))
    rate = figures["rows_per_second"]
    verdicts = [
        Verdict(
            benchmark="import",
            measure=f"{figures['rows']:,}-row aircraft CSV, upload → completed",
            figure=round(rate),
            unit="rows/s",
            target=f"≥ {TARGET_ROWS_PER_SECOND:,} rows/s",
            passed=rate >= TARGET_ROWS_PER_SECOND,
        ),
        within(
            "import",
            f"{figures['rows']:,}-row aircraft CSV end to end",
            figures["end_to_end_s"],
            "raw COPY of the file",
            figures["raw_copy_s"],
            5,
        ),
    ]
    report("imports", [], verdicts)
