"""Report exports (SPEC §9, issue 15): a 50,000-row CSV streams with flat server memory.

A real ``amss serve --demo`` on a scratch database; 50,000 open tasks and 50,000 compliance
items are written with one ``INSERT … SELECT`` each. Each export is warmed up once on a small
list (imports, caches, the pool), then streamed whole while a sampler reads the server's RSS
every 20 ms; the figure is the peak growth over the RSS before the stream. The baseline in
the same run is the audit-log export of as many rows, the project's other streamed CSV.
"""

from __future__ import annotations

import httpx
import psycopg

from amss.demo import DEMO_PASSWORD
from bench.database import scratch_database
from bench.harness import (
    AUDIT_ROWS,
    LoadResult,
    Verdict,
    below,
    report,
    running_server,
    stream_export,
)

API = "/api/v1"
ROWS = 50_000
GROWTH_LIMIT_MB = 50

_TASKS = """
    INSERT INTO maintenance_tasks (org_id, aircraft_id, title, type, state, due_hours,
                                   due_at, projected_due_at)
    SELECT a.org_id, a.id, 'Bench task ' || g, 'inspection', 'scheduled',
           a.flight_hours_total + (g %% 900), now() + (g %% 700) * interval '1 day',
           now() + (g %% 700) * interval '1 day'
    FROM generate_series(1, %(rows)s) g
    JOIN LATERAL (SELECT * FROM aircraft WHERE org_id = %(org)s
                  ORDER BY tail_number OFFSET (g %% 12) LIMIT 1) a ON true
"""
_ITEMS = """
    INSERT INTO compliance_items (org_id, task_id, description, result)
    SELECT t.org_id, t.id, '=cmd|'' /C calc''!A0 bench item ' || t.title, 'pending'
    FROM maintenance_tasks t WHERE t.org_id = %(org)s AND t.title LIKE 'Bench task %%'
"""


def run() -> None:
    loads: list[LoadResult] = []
    verdicts: list[Verdict] = []
    exports = {
        "due list CSV": f"{API}/reports/due-list?days=36500&format=csv",
        "compliance CSV": f"{API}/reports/compliance?format=csv",
        "audit-log CSV (baseline)": f"{API}/audit-logs/export?entity_type=bench",
    }
    warm_ups = {
        "due list CSV": f"{API}/reports/due-list?days=0&format=csv",
        "compliance CSV": f"{API}/reports/compliance?format=csv&result=fail",
        "audit-log CSV (baseline)": f"{API}/audit-logs/export?entity_type=none",
    }
    with scratch_database() as url:
        env = {"DB_URL": url, "ACCESS_TOKEN_TTL": "2h", "APP_ENV": "development"}
        with running_server(("serve", "--demo"), env) as server:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("UPDATE org_policies SET api_rate_limit_per_min = 1000000")
                [org_id] = conn.execute(
                    "SELECT id FROM organizations WHERE name = 'Demo Airline'"
                ).fetchone() or [None]
                params = {"org": org_id, "rows": ROWS}
                conn.execute(_TASKS, params)
                conn.execute(_ITEMS, params)
                conn.execute(AUDIT_ROWS, params)
            answer = httpx.post(
                f"{server.base}{API}/auth/login",
                json={"email": "admin@demo.local", "password": DEMO_PASSWORD},
            )
            answer.raise_for_status()
            headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            figures = {}
            for name, path in exports.items():
                stream_export(server, warm_ups[name], headers)
                figures[name] = stream_export(server, path, headers)
    baseline = figures.pop("audit-log CSV (baseline)")
    baseline_rows, baseline_growth = baseline.rows, baseline.growth_mb
    for name, streamed in figures.items():
        rows, growth, seconds, rss = (
            streamed.rows,
            streamed.growth_mb,
            streamed.seconds,
            streamed.rss_before_mb,
        )
        print(f"{name}: {rows:,} rows in {seconds:.1f} s; RSS {rss:.1f} MB, grew {growth:.2f} MB")
        assert rows >= ROWS, (name, rows)
        loads.append(
            LoadResult(name, rows, 1, seconds, rows / seconds, 0.0, 0.0, 0, tool="httpx stream")
        )
        verdict = below("reports", f"RSS growth streaming {name}", growth, "MB", GROWTH_LIMIT_MB)
        verdict.baseline = f"audit-log export of {baseline_rows:,} rows"
        verdict.baseline_figure = round(baseline_growth, 1)
        verdicts.append(verdict)
    report("reports", loads, verdicts)
