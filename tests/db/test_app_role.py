"""The application's own database role (SPEC §10): it runs every business operation and the
job queue, and cannot rewrite the audit trail, switch its triggers off or move a chain head.

Each test connects as a real login role that owns nothing, granted what ``amss.db.roles``
grants (the embedded server's setup, and init-roles.sh's), in a database of its own copied
from the migrated template.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import errors, sql
from sqlalchemy import text

from amss.app import create_app
from amss.config import Settings
from amss.db import migrate
from amss.db.connect import database_urls
from amss.db.engine import Database, libpq_url
from amss.db.roles import APP_ROLE, ensure_login_role, grant_app_role, privilege_problems
from amss.due import generator
from amss.events.queue import DISPATCH_QUEUE, DISPATCH_TASK
from amss.kit.keys import KeyPair
from amss.worker import create_worker_app
from tests.conftest import _ensure_template, create_database, drop_database, serve_app
from tests.support.api import ok
from tests.support.factories import PASSWORD
from tests.support.steps import add_aircraft, add_program
from tests.support.tenant import make_tenant


@dataclass(frozen=True)
class Roles:
    owner_url: str
    app_url: str
    app_role: str


def as_role(url: str, role: str) -> str:
    """The same server and database, connecting as ``role`` (trust or peer authentication)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


@pytest.fixture(scope="module")
def roles(postgres_admin_url: str) -> Iterator[Roles]:
    """A migrated database and a login role with the application's grants."""
    suffix = uuid.uuid4().hex[:10]
    name, role = f"amss_role_{suffix}", f"amss_app_{suffix}"
    owner_url = create_database(
        postgres_admin_url, name, template=_ensure_template(postgres_admin_url)
    )
    try:
        with psycopg.connect(owner_url) as conn:
            ensure_login_role(conn, role)
            grant_app_role(conn, role)
        yield Roles(owner_url, as_role(owner_url, role), role)
    finally:
        drop_database(postgres_admin_url, name)
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def refused(conn: psycopg.Connection, statement: str) -> str:
    """The message PostgreSQL refuses ``statement`` with (its privilege check, not a
    trigger's: audit_logs' own guard raises the same SQLSTATE with another message)."""
    with pytest.raises(errors.InsufficientPrivilege) as caught, conn.transaction():
        conn.execute(statement)
    return str(caught.value)


@pytest.fixture(scope="module")
def org_with_audit_rows(roles: Roles) -> uuid.UUID:
    """An organization with two audit rows appended by the application role."""
    with psycopg.connect(roles.app_url) as conn:
        row = conn.execute(
            "INSERT INTO organizations (name) VALUES (%s) RETURNING id", (f"Org {uuid.uuid4()}",)
        ).fetchone()
        assert row is not None
        for _ in range(2):
            conn.execute(
                "INSERT INTO audit_logs (org_id, entity_type, entity_id, action, prev_hash, hash,"
                " seq) VALUES (%s, 'organization', %s, 'create', '', '', 0)",
                (row[0], row[0]),
            )
    org_id: uuid.UUID = row[0]
    return org_id


def test_the_role_appends_audit_rows_the_chain_trigger_links(roles: Roles) -> None:
    with psycopg.connect(roles.app_url) as conn:
        org = conn.execute(
            "INSERT INTO organizations (name) VALUES (%s) RETURNING id", (f"Org {uuid.uuid4()}",)
        ).fetchone()
        assert org is not None
        conn.execute(
            "INSERT INTO audit_logs (org_id, entity_type, action, prev_hash, hash, seq)"
            " VALUES (%s, 'organization', 'create', 'forged', 'forged', 42)",
            (org[0],),
        )
        # The trigger, running as the owner, set seq and hashes and moved the head.
        logged = conn.execute(
            "SELECT seq, prev_hash, hash = audit_row_hash(a) FROM audit_logs a WHERE org_id = %s",
            (org[0],),
        ).fetchall()
        head = conn.execute(
            "SELECT last_seq, last_hash = (SELECT hash FROM audit_logs WHERE org_id = %s)"
            " FROM audit_chain_heads WHERE org_id = %s",
            (org[0], org[0]),
        ).fetchone()
    assert logged == [(1, "", True)]
    assert head == (1, True)


def test_the_role_cannot_rewrite_delete_or_empty_audit_rows(
    roles: Roles, org_with_audit_rows: uuid.UUID
) -> None:
    with psycopg.connect(roles.app_url) as conn:
        for statement in (
            "UPDATE audit_logs SET details = '{\"forged\": true}'",
            "DELETE FROM audit_logs",
            "TRUNCATE audit_logs",
        ):
            assert refused(conn, statement) == "permission denied for table audit_logs"
        count = conn.execute(
            "SELECT count(*) FROM audit_logs WHERE org_id = %s", (org_with_audit_rows,)
        ).fetchone()
    assert count == (2,)


def test_the_role_cannot_switch_the_audit_triggers_off(roles: Roles) -> None:
    with psycopg.connect(roles.app_url) as conn:
        for statement in (
            "ALTER TABLE audit_logs DISABLE TRIGGER ALL",
            "ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update",
            "ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_chain",
            "DROP TRIGGER audit_logs_no_update ON audit_logs",
            "DROP TABLE audit_logs",
        ):
            message = refused(conn, statement)
            assert message.startswith("must be owner of") and message.endswith(" audit_logs")
        # Replica mode skips ordinary triggers: only a superuser may set it.
        assert "session_replication_role" in refused(conn, "SET session_replication_role = replica")
        # Nor can it replace the functions the triggers run (it may create nothing there).
        assert refused(
            conn,
            "CREATE OR REPLACE FUNCTION audit_logs_immutable() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        ) in (
            "permission denied for schema public",
            "must be owner of function audit_logs_immutable",
        )


def test_the_role_cannot_move_a_chain_head(roles: Roles, org_with_audit_rows: uuid.UUID) -> None:
    with psycopg.connect(roles.app_url) as conn:
        for statement in (
            "UPDATE audit_chain_heads SET last_seq = 0, last_hash = ''",
            "DELETE FROM audit_chain_heads",
            "TRUNCATE audit_chain_heads",
            f"INSERT INTO audit_chain_heads (org_id) VALUES ('{uuid.uuid4()}')",
            "ALTER TABLE audit_chain_heads DISABLE TRIGGER ALL",
        ):
            assert "audit_chain_heads" in refused(conn, statement)
        # Reading is allowed: verification compares the head with the last row.
        head = conn.execute(
            "SELECT last_seq FROM audit_chain_heads WHERE org_id = %s", (org_with_audit_rows,)
        ).fetchone()
    assert head == (2,)


def test_the_role_cannot_mark_migrations_applied(roles: Roles) -> None:
    with psycopg.connect(roles.app_url) as conn:
        assert refused(conn, "UPDATE alembic_version SET version_num = 'forged'") == (
            "permission denied for table alembic_version"
        )
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


def test_the_role_refreshes_task_statistics_through_the_owner(roles: Roles) -> None:
    """The generator's ANALYZE after a large sweep needs the table's owner."""
    with psycopg.connect(roles.app_url, autocommit=True) as conn:

        def analyses() -> int:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT pg_stat_get_analyze_count('maintenance_tasks'::regclass)"
            ).fetchone()
            assert row is not None
            return int(row[0])

        before = analyses()
        conn.execute("SELECT amss_analyze_tasks()")
        assert analyses() == before + 1


def test_privilege_problems_name_what_a_role_could_do(roles: Roles) -> None:
    assert privilege_problems(roles.app_url) == []
    assert privilege_problems(roles.owner_url) == [
        "DB_URL connects as a superuser: the application could disable the audit triggers"
    ]


def analyze_count(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_stat_get_analyze_count('maintenance_tasks'::regclass)"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
async def app_database(roles: Roles) -> AsyncIterator[Database]:
    database = Database.connect(roles.app_url, pool_size=2)
    yield database
    await database.dispose()


async def test_business_operations_and_jobs_run_as_the_role(
    roles: Roles, app_database: Database, signing_keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the API as the application role: a login, an aircraft, a program that
    generates tasks (and refreshes the planner's statistics, as a large sweep does), each
    with its audit rows and events; the chain verifies; the worker, on the same role,
    dispatches the events the requests deferred."""
    monkeypatch.setattr(generator, "REFRESH_STATISTICS_AFTER", 1)
    analyses_before = analyze_count(roles.app_url)
    settings = Settings(
        APP_ENV="test",
        DB_URL=roles.app_url,
        JWT_PRIVATE_KEY_PEM=signing_keys.private_pem,
        JWT_PUBLIC_KEY_PEM=signing_keys.public_pem,
        SECRETS_KEY=os.environ["SECRETS_KEY"],
        WEBHOOK_ALLOW_PRIVATE=True,
    )
    app = create_app(settings, app_database)
    owner = Database.connect(roles.owner_url, pool_size=1)
    try:
        async with serve_app(app) as client:
            async with owner.engine.begin() as conn:
                tenant = await make_tenant(conn, app.state.signer, client)
            login = await client.post(
                "/api/v1/auth/login",
                json={"email": tenant.users["scheduler"].email, "password": PASSWORD},
            )
            ok(login)
            scheduler = tenant.as_("scheduler")
            aircraft = await add_aircraft(scheduler)
            await add_program(scheduler, interval_hours=100, aircraft_id=aircraft["id"])
            verified = ok(await tenant.as_("auditor").get("/audit-logs/verify"))
    finally:
        await owner.dispose()
    assert verified["ok"] is True
    assert analyze_count(roles.app_url) > analyses_before
    assert verified["checked"] >= 3  # the login, the aircraft, the program and its tasks

    async with app_database.engine.connect() as conn:
        waiting = await conn.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs"
                " WHERE queue_name = :queue AND status = 'todo' AND args->>'org_id' = :org"
            ),
            {"queue": DISPATCH_QUEUE, "org": str(tenant.id)},
        )
    assert waiting == 1

    worker = create_worker_app(settings, app_database, roles.app_url)
    async with worker.open_async():
        await worker.run_worker_async(
            queues=[DISPATCH_QUEUE], wait=False, install_signal_handlers=False
        )
        # procrastinate's own defer (its SQL functions), as the periodic deferrer uses it.
        await worker.tasks[DISPATCH_TASK].defer_async(org_id=str(tenant.id))
        await worker.run_worker_async(
            queues=[DISPATCH_QUEUE], wait=False, install_signal_handlers=False
        )
    async with app_database.engine.connect() as conn:
        undispatched = await conn.scalar(
            text(
                "SELECT count(*) FROM outbox_events WHERE org_id = :org AND dispatched_at IS NULL"
            ),
            {"org": tenant.id},
        )
        finished = await conn.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs"
                " WHERE args->>'org_id' = :org AND status = 'succeeded'"
            ),
            {"org": str(tenant.id)},
        )
    assert undispatched == 0
    assert finished == 2


@pytest.fixture
def data_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="amss-roles-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_embedded_server_runs_the_application_as_a_role_that_owns_nothing(
    data_dir: Path,
) -> None:
    """`amss serve` without DB_URL: migrations as the embedded superuser, the application
    as amss_app, which stays restricted when the server starts again."""
    settings = Settings(AMSS_DATA_DIR=data_dir)
    for _start in range(2):
        with database_urls(settings) as urls:
            migrate.upgrade(urls.migrate)
            assert privilege_problems(urls.migrate) != []
            assert privilege_problems(urls.app) == []
            with psycopg.connect(libpq_url(urls.app)) as conn:
                assert conn.execute("SELECT current_user").fetchone() == (APP_ROLE,)
                conn.execute("INSERT INTO organizations (name) VALUES (%s)", (str(uuid.uuid4()),))
                assert "must be owner" in refused(
                    conn, "ALTER TABLE audit_logs DISABLE TRIGGER ALL"
                )


@pytest.mark.parametrize("who", ["owner", "app"])
def test_amss_server_in_production_warns_when_its_role_could_change_the_audit_trail(
    roles: Roles, signing_keys: KeyPair, tmp_path: Path, who: str
) -> None:
    """The warning comes after every start-up check; the listener's port is taken so the
    server stops right there."""
    url = roles.owner_url if who == "owner" else roles.app_url
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-c", "from amss.cli import main; main()", "server"],
            env={
                **{k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH")},
                "APP_ENV": "production",
                "DB_URL": url,
                "JWT_PRIVATE_KEY_PEM": signing_keys.private_pem,
                "JWT_PUBLIC_KEY_PEM": signing_keys.public_pem,
                "SECRETS_KEY": os.environ["SECRETS_KEY"],
                "TRUSTED_PROXIES": "10.0.0.0/8",
                "HTTP_ADDR": f"127.0.0.1:{port}",
                "LOG_LEVEL": "warning",
            },
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode != 0
    warned = "DB_URL connects as a superuser" in result.stderr
    assert warned == (who == "owner"), result.stderr
    assert "address already in use" in result.stderr.lower(), result.stderr
