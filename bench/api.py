"""API benchmarks (SPEC §13) against a real ``amss serve --demo`` on PostgreSQL, under wrk.

Read path: the due list (50 rows), a task's detail and the aircraft list at 32 clients, each
as a share of ``GET /health`` on the same process and of a bare FastAPI app (one route, a
typed 50-item list, the same uvicorn settings) in the same run. Write path: creating,
starting and completing tasks (audit row, outbox event and job each) at 16 clients. Memory:
the server's RSS after the loads, and while it streams a 50,000-row CSV export.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import psycopg

from amss.demo import DEMO_PASSWORD
from bench.database import scratch_database
from bench.harness import (
    AUDIT_ROWS,
    QUICK,
    LoadResult,
    Server,
    Verdict,
    bare_app,
    below,
    load,
    report,
    rss_mb,
    running_server,
    share,
    stream_export,
)

API = "/api/v1"
WRITE_AIRCRAFT = 40 if QUICK else 100
TASKS_PER_WRITE_AIRCRAFT = 40 if QUICK else 80
EXPORT_ROWS = 50_000
LUA = Path(__file__).parent / "lua"


def _login(client: httpx.Client, email: str) -> dict[str, str]:
    answer = client.post(f"{API}/auth/login", json={"email": email, "password": DEMO_PASSWORD})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _created(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 201:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
    body: dict[str, Any] = response.json()
    return body


def _setup_reads(client: httpx.Client, headers: dict[str, str]) -> dict[str, str]:
    """An aircraft with 50 open tasks (one per program), through the API."""
    craft = _created(
        client.post(
            f"{API}/aircraft",
            json={
                "tail_number": "N50BN",
                "model": "B737-800",
                "flight_hours_total": 30000,
                "cycles_total": 18000,
                "avg_daily_hours": 9,
                "avg_daily_cycles": 4,
            },
            headers=headers,
        )
    )
    for number in range(1, 51):
        _created(
            client.post(
                f"{API}/maintenance-programs",
                json={
                    "name": f"Task card {number:02d}",
                    "aircraft_id": craft["id"],
                    "interval_hours": 100 * number,
                    "interval_months": 1 + number % 24,
                    "tolerance_hours": 10,
                },
                headers=headers,
            )
        )
    due = client.get(f"{API}/aircraft/{craft['id']}/due-list?limit=50", headers=headers)
    assert len(due.json()) == 50, due.text
    return {"aircraft": craft["id"], "task": due.json()[0]["task_id"]}


def _setup_writes(url: str, org_id: str) -> tuple[list[str], list[str]]:
    """Aircraft to write on (room for every task in progress), and scheduled manual tasks to
    start and complete, spread so concurrent requests rarely wait on one aircraft's lock."""
    with psycopg.connect(url, autocommit=True) as conn:
        aircraft = [
            str(row[0])
            for row in conn.execute(
                "INSERT INTO aircraft (org_id, tail_number, model, capacity_slots,"
                " flight_hours_total, cycles_total)"
                " SELECT %s, 'NW' || g, 'C172S', 100, 1000, 500 FROM generate_series(1, %s) g"
                " RETURNING id",
                (org_id, WRITE_AIRCRAFT),
            )
        ]
        tasks = [
            str(row[0])
            for row in conn.execute(
                "INSERT INTO maintenance_tasks (org_id, aircraft_id, type, state, title)"
                " SELECT %s, a, 'repair', 'scheduled', 'Bench repair ' || g"
                " FROM unnest(%s::uuid[]) a, generate_series(1, %s) g RETURNING id",
                (org_id, aircraft, TASKS_PER_WRITE_AIRCRAFT),
            )
        ]
        conn.execute("ANALYZE")
    return aircraft, tasks


def _lua_list(name: str, values: list[str]) -> Path:
    path = LUA / f"{name}.txt"
    path.write_text("\n".join(values) + "\n")
    return path


def _write_loads(
    server: Server, url: str, headers: dict[str, str], aircraft: list[str], tasks: list[str]
) -> list[LoadResult]:
    """Create, start and complete at 16 clients, each phase its own wrk run; completion
    takes the tasks the start phase really started."""
    _lua_list("aircraft", aircraft)
    _lua_list("tasks", tasks)
    seconds = 4 if QUICK else 8
    results = []
    for phase in ("create", "start", "complete"):
        if phase == "complete":
            with psycopg.connect(url) as conn:
                started = conn.execute(
                    "SELECT id::text FROM maintenance_tasks WHERE id = ANY(%s::uuid[])"
                    " AND state = 'in_progress'",
                    (tasks,),
                ).fetchall()
            _lua_list("started", [row[0] for row in started])
        results.append(
            load(
                f"write: {phase} task",
                server.base + "/",
                clients=16,
                seconds=seconds,
                headers={**headers, "Content-Type": "application/json"},
                script=LUA / f"{phase}.lua",
            )
        )
    return results


def _export_memory(
    server: Server, url: str, org_id: str, headers: dict[str, str]
) -> tuple[float, float]:
    """The server's RSS before and at its peak while streaming a 50,000-row audit export."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(AUDIT_ROWS, {"org": org_id, "rows": EXPORT_ROWS})
    streamed = stream_export(server, f"{API}/audit-logs/export", headers)
    assert streamed.rows >= EXPORT_ROWS, streamed.rows
    return streamed.rss_before_mb, streamed.rss_peak_mb


def run() -> None:
    loads: list[LoadResult] = []
    verdicts: list[Verdict] = []
    os.environ["AMSS_BENCH_LUA"] = str(LUA)  # where the wrk scripts read their id lists
    with bare_app() as bare_base:
        bare = load("bare FastAPI, 50 typed items", f"{bare_base}/items")
    loads.append(bare)
    with scratch_database() as url:
        env = {"DB_URL": url, "ACCESS_TOKEN_TTL": "2h", "APP_ENV": "development"}
        with running_server(("serve", "--demo"), env) as server:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("UPDATE org_policies SET api_rate_limit_per_min = 1000000")
                [org_id] = conn.execute(
                    "SELECT id FROM organizations WHERE name = 'Demo Airline'"
                ).fetchone() or [None]
            with httpx.Client(base_url=server.base, timeout=60) as client:
                headers = _login(client, "admin@demo.local")
                ids = _setup_reads(client, headers)
            aircraft, tasks = _setup_writes(url, str(org_id))
            health = load("GET /health", f"{server.base}/health")
            reads = [
                load(
                    "GET due list (50 rows)",
                    f"{server.base}{API}/aircraft/{ids['aircraft']}/due-list?limit=50",
                    headers=headers,
                ),
                load(
                    "GET task detail",
                    f"{server.base}{API}/maintenance-tasks/{ids['task']}",
                    headers=headers,
                ),
                load(
                    "GET aircraft list (50)",
                    f"{server.base}{API}/aircraft?limit=50",
                    headers=headers,
                ),
            ]
            writes = _write_loads(server, url, headers, aircraft, tasks)
            rss_after = rss_mb(server.pid)
            before, peak = _export_memory(server, url, str(org_id), headers)
    loads += [health, *reads, *writes]
    verdicts.append(share("api", health, bare, 0.5))
    for row in reads:
        verdicts.append(share("api", row, health, 0.4))
        verdicts.append(share("api", row, bare, 0.2))
        verdicts.append(below("api", f"{row.name} p99", row.p99_ms, "ms", 100, errors=row.errors))
    for row in writes:
        verdicts.append(
            below("api writes", f"{row.name} p99", row.p99_ms, "ms", 150, errors=row.errors)
        )
    verdicts.append(below("memory", "server RSS after the API loads", rss_after, "MB", 300))
    verdicts.append(
        below(
            "memory",
            f"RSS growth streaming a {EXPORT_ROWS:,}-row CSV export",
            peak - before,
            "MB",
            50,
        )
    )
    report("api", loads, verdicts)
