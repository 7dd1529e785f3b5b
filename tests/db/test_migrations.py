"""Migrations apply on an empty database; ``amss migrate --check`` tells pending from done."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

from amss.db import migrate
from tests.conftest import create_database, drop_database


@pytest.fixture
def empty_database(postgres_admin_url: str) -> Iterator[str]:
    name = f"amss_empty_{os.getpid()}"
    url = create_database(postgres_admin_url, name)
    yield url
    drop_database(postgres_admin_url, name)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from amss.cli import main; main()", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_check_fails_before_and_passes_after(empty_database: str) -> None:
    env = {"DB_URL": empty_database, "LOG_LEVEL": "warning"}
    before = run_cli("migrate", "--check", env=env)
    assert before.returncode == 1, before.stdout + before.stderr
    assert "pending" in before.stdout

    applied = run_cli("migrate", env=env)
    assert applied.returncode == 0, applied.stderr
    assert "applied" in applied.stdout

    after = run_cli("migrate", "--check", env=env)
    assert after.returncode == 0, after.stdout + after.stderr
    assert migrate.pending_revisions(empty_database) == []

    again = run_cli("migrate", env=env)
    assert again.returncode == 0 and "nothing to apply" in again.stdout


def test_schema_has_organizations_policies_and_the_job_queue(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    with psycopg.connect(empty_database) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
    assert {
        "organizations",
        "org_policies",
        "procrastinate_jobs",
        "procrastinate_periodic_defers",
    } <= tables


def test_a_bad_variable_stops_the_cli_naming_it(empty_database: str) -> None:
    result = run_cli("migrate", "--check", env={"DB_URL": empty_database, "HTTP_ADDR": "nowhere"})
    assert result.returncode == 2
    assert "HTTP_ADDR" in result.stderr
    assert "Traceback" not in result.stderr


def test_server_refuses_to_start_with_pending_migrations(empty_database: str) -> None:
    result = run_cli("server", env={"DB_URL": empty_database, "LOG_LEVEL": "warning"})
    assert result.returncode == 1
    assert "amss migrate" in result.stderr
