"""Generation, scan and forecast benchmarks (SPEC §13), as ratios to raw SQL in the same run.

- generation: 2,000 aircraft x 50 programs → 100,000 tasks in one sweep, against a raw
  ``INSERT … SELECT`` of the same rows (target ≤ 2x); a sweep with nothing to do ≤ 0.3 s.
- scan: the due-status scan over those 100,000 open tasks right after generation (tables
  not analyzed since), against a raw ``SELECT`` of the same join (target ≤ 2x).
- forecast: meters change on 2,000 aircraft and every open task is re-projected, against
  one raw ``UPDATE`` of the same rows (target ≤ 2x).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import text

from amss.auth.rules import Caller
from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.due.forecast import reproject
from amss.due.generator import generate
from amss.due.scan import scan_due_status
from bench.database import scratch_database
from bench.harness import QUICK, below, report, within

AIRCRAFT = 500 if QUICK else 2000
PROGRAMS = 50
REPEATS = 1 if QUICK else 3

_SETUP = """
INSERT INTO organizations (id, name) VALUES (:org, 'Bench Air');
INSERT INTO org_policies (org_id) VALUES (:org);
"""

_RAW_INSERT = text(
    """
    INSERT INTO maintenance_tasks (org_id, aircraft_id, program_id, type, state, title, notes,
        basis_at, basis_hours, basis_cycles, due_hours, projected_due_at, start_time, end_time)
    SELECT p.org_id, a.id, p.id, p.task_type, 'scheduled', p.name, 'Generated from ' || p.name,
           now(), a.flight_hours_total, a.cycles_total, a.flight_hours_total + p.interval_hours,
           now(), now(), now()
    FROM maintenance_programs p JOIN aircraft a ON a.org_id = p.org_id AND a.model = p.aircraft_model
    WHERE p.org_id = :org
    """
)

_RAW_SELECT = text(
    """
    SELECT count(*) FROM (
        SELECT t.id, t.due_status, a.flight_hours_total, pol.due_soon_days
        FROM maintenance_tasks t
        JOIN aircraft a ON a.org_id = t.org_id AND a.id = t.aircraft_id
        JOIN org_policies pol ON pol.org_id = t.org_id
        WHERE t.org_id = :org AND t.state IN ('scheduled', 'in_progress')
    ) joined
    """
)

_RAW_UPDATE = text(
    """
    UPDATE maintenance_tasks t SET projected_due_at = now() + interval '1 day', governing_limit = 'hours'
    FROM aircraft a
    WHERE t.org_id = :org AND a.id = t.aircraft_id AND t.state IN ('scheduled', 'in_progress')
    """
)


async def _timed(database: Database, work: Callable[[UnitOfWork], Awaitable[object]]) -> float:
    async with UnitOfWork(database.session_factory) as uow:
        started = time.perf_counter()
        await work(uow)
        await uow.commit()
        return time.perf_counter() - started


async def _clear_tasks(database: Database) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(text("TRUNCATE maintenance_tasks, outbox_events CASCADE"))


async def _run(url: str) -> dict[str, float]:
    import uuid

    org = uuid.uuid4()
    database = Database.connect(url, pool_size=2)
    async with database.engine.begin() as conn:
        for statement in _SETUP.strip().split(";"):
            if statement.strip():
                await conn.execute(text(statement), {"org": org})
        await conn.execute(
            text(
                "INSERT INTO aircraft (org_id, tail_number, model, flight_hours_total, cycles_total, avg_daily_hours)"
                " SELECT :org, 'N' || g, 'A320', 10000 + g, 5000 + g, 9.5 FROM generate_series(1, :n) AS g"
            ),
            {"org": org, "n": AIRCRAFT},
        )
        await conn.execute(
            text(
                "INSERT INTO maintenance_programs (org_id, name, aircraft_model, interval_hours, interval_days)"
                " SELECT :org, 'Task card ' || g, 'A320', 100 * g, 30 * g FROM generate_series(1, :n) AS g"
            ),
            {"org": org, "n": PROGRAMS},
        )
    async with database.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))
    system = Caller.system(org)
    now = datetime.now(UTC)

    raw, sweep, idle, raw_update, forecast, scan, raw_select = [], [], [], [], [], [], []
    for _ in range(REPEATS):
        raw.append(
            await _timed(database, lambda uow: uow.session.execute(_RAW_INSERT, {"org": org}))
        )
        await _clear_tasks(database)
        sweep.append(
            await _timed(
                database,
                lambda uow: generate(uow.session, system, now=now, reason="bench"),
            )
        )
        # Right after the bulk insert, before any ANALYZE: the plan must hold anyway.
        scan.append(
            await _timed(
                database,
                lambda uow: scan_due_status(uow, system, now=now, aircraft_ids=None),
            )
        )
        raw_select.append(
            await _timed(database, lambda uow: uow.session.execute(_RAW_SELECT, {"org": org}))
        )
        idle.append(
            await _timed(
                database,
                lambda uow: generate(uow.session, system, now=now, reason="bench"),
            )
        )
        async with database.engine.begin() as conn:
            ids = list(
                (
                    await conn.execute(
                        text("SELECT id FROM aircraft WHERE org_id = :org"), {"org": org}
                    )
                ).scalars()
            )
            await conn.execute(
                text("UPDATE aircraft SET flight_hours_total = flight_hours_total + 5")
            )
        raw_update.append(
            await _timed(database, lambda uow: uow.session.execute(_RAW_UPDATE, {"org": org}))
        )

        async def reproject_all(uow: UnitOfWork, ids: list[UUID] = ids) -> None:
            await reproject(uow.session, org, ids, now)

        forecast.append(await _timed(database, reproject_all))
        await _clear_tasks(database)
    count_check = AIRCRAFT * PROGRAMS
    await database.dispose()
    return {
        "tasks": count_check,
        "raw_insert_s": statistics.median(raw),
        "sweep_s": statistics.median(sweep),
        "idle_sweep_s": statistics.median(idle),
        "raw_update_s": statistics.median(raw_update),
        "reproject_s": statistics.median(forecast),
        "scan_s": statistics.median(scan),
        "raw_select_s": statistics.median(raw_select),
    }


def run() -> None:
    with scratch_database() as url:
        figures = asyncio.run(_run(url))
    rows = f"{AIRCRAFT * PROGRAMS:,} tasks"
    verdicts = [
        within(
            "generation",
            f"sweep generating {rows}",
            figures["sweep_s"],
            "raw INSERT…SELECT",
            figures["raw_insert_s"],
            2,
        ),
        below("generation", "sweep with nothing to do", figures["idle_sweep_s"], "s", 0.3),
        within(
            "scan",
            f"due-status scan of {rows} right after generation",
            figures["scan_s"],
            "raw SELECT of the join",
            figures["raw_select_s"],
            2,
        ),
        within(
            "forecast",
            f"re-projection of {rows}",
            figures["reproject_s"],
            "raw UPDATE",
            figures["raw_update_s"],
            2,
        ),
    ]
    report("generation", [], verdicts)
