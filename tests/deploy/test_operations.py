"""Operations guide, tested: backup and restore with pg_dump/pg_restore keeps a verifiable
audit trail, and the two database roles of deploy/postgres/init-roles.sh run a real server
and worker (docs/operations.md)."""

from __future__ import annotations

import base64
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from amss.db.roles import privilege_problems
from amss.kit.keys import generate_key_pair
from tests.conftest import _with_database, create_database, drop_database
from tests.deploy.pgtools import client, libpq_env
from tests.deploy.tools import ROOT
from tests.support.live import free_port

AMSS = str(Path(sys.executable).parent / "amss")
DEMO = {"email": "scheduler@demo.local", "password": "ChangeMe123!"}


def amss(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "REDIS", "OTEL_"))}
    return subprocess.run(
        [AMSS, *args], env={**clean, **env}, capture_output=True, text=True, timeout=timeout
    )


@contextmanager
def scratch_database(admin_url: str) -> Iterator[tuple[str, str]]:
    name = f"amss_ops_{uuid.uuid4().hex[:10]}"
    url = create_database(admin_url, name)
    try:
        yield name, url
    finally:
        drop_database(admin_url, name)


def test_a_restored_dump_keeps_a_verifiable_audit_trail(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    with scratch_database(postgres_admin_url) as (_, source):
        # A migrated database with a demo organization: logins, aircraft, programs and
        # generated tasks, each change with its audit row.
        assert amss("migrate", env={"DB_URL": source}).returncode == 0
        seeded = amss("seed", env={"DB_URL": source, "APP_ENV": "development"}, timeout=300)
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr
        with psycopg.connect(source) as conn:
            rows = conn.execute("SELECT count(*) FROM audit_logs").fetchone()
        assert rows is not None and rows[0] > 0, "the seed wrote no audit rows"
        before = amss("audit", "verify", env={"DB_URL": source})
        assert before.returncode == 0, before.stdout + before.stderr

        # docs/operations.md "Backup and restore", word for word.
        dump = tmp_path / "amss.dump"
        dumped = subprocess.run(
            [client("pg_dump", source), "--format=custom", "--file", str(dump), source],
            capture_output=True,
            text=True,
        )
        assert dumped.returncode == 0, dumped.stderr
        with scratch_database(postgres_admin_url) as (_, restored):
            done = subprocess.run(
                [
                    client("pg_restore", restored),
                    "--exit-on-error",
                    "--no-owner",
                    "--dbname",
                    restored,
                    str(dump),
                ],
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stderr
            after = amss("audit", "verify", env={"DB_URL": restored})
            assert after.returncode == 0, after.stdout + after.stderr
            # The same organizations and rows, every chain intact.
            assert after.stdout == before.stdout
            assert "ok" in after.stdout
            assert amss("migrate", "--check", env={"DB_URL": restored}).returncode == 0

            # And verify would notice a forged row in the restored copy.
            with psycopg.connect(restored, autocommit=True) as conn:
                conn.execute("SET session_replication_role = replica")  # past the guards
                conn.execute(
                    "UPDATE audit_logs SET details = '{\"forged\": true}'::jsonb"
                    " WHERE id = (SELECT id FROM audit_logs ORDER BY seq DESC LIMIT 1)"
                )
            forged = amss("audit", "verify", env={"DB_URL": restored})
            assert forged.returncode == 1
            assert "BROKEN" in forged.stdout


@contextmanager
def two_roles(admin_url: str) -> Iterator[tuple[str, str, str, Callable[[], None]]]:
    """deploy/postgres/init-roles.sh on a new database; the owner's and the app's URLs, and
    a function running the script again."""
    suffix = uuid.uuid4().hex[:8]
    database, owner, app = f"amss_roles_{suffix}", f"amss_owner_{suffix}", f"amss_app_{suffix}"
    passwords = {"owner": secrets.token_hex(8), "app": secrets.token_hex(8)}
    env = {
        **os.environ,
        **libpq_env(admin_url),
        "PATH": f"{Path(client('psql', admin_url)).parent}:{os.environ['PATH']}",
        "AMSS_DATABASE": database,
        "AMSS_OWNER_ROLE": owner,
        "AMSS_APP_ROLE": app,
        "AMSS_OWNER_PASSWORD": passwords["owner"],
        "AMSS_APP_PASSWORD": passwords["app"],
    }
    script = ROOT / "deploy" / "postgres" / "init-roles.sh"

    def init_roles() -> None:
        result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr

    try:
        for _ in range(2):  # idempotent: a second run changes nothing
            init_roles()

        def url(role: str, password: str) -> str:
            base = _with_database(admin_url, database)
            scheme, rest = base.split("://", 1)
            return f"{scheme}://{role}:{password}@{rest.split('@', 1)[-1]}"

        yield database, url(owner, passwords["owner"]), url(app, passwords["app"]), init_roles
    finally:
        drop_database(admin_url, database)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for role in (app, owner):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@contextmanager
def running(*args: str, env: dict[str, str], port: int) -> Iterator[subprocess.Popen[str]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "REDIS", "OTEL_"))}
    process = subprocess.Popen(
        [AMSS, *args],
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"amss {' '.join(args)} exited: {output}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"amss {' '.join(args)} never became ready"
            time.sleep(0.2)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_server_and_worker_run_as_the_restricted_role(postgres_admin_url: str) -> None:
    """The production commands on the two roles: migrations as the owner (through the
    image's entry point), `amss server` and `amss worker` as the app role, the smoke test
    against them; and the app role cannot switch the audit trail's guards off."""
    with two_roles(postgres_admin_url) as (_database, owner_url, app_url, _init_roles):
        migrated = subprocess.run(
            ["sh", str(ROOT / "deploy" / "docker" / "entrypoint.sh"), "migrate"],
            env={
                "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                # The code under test, where a checkout runs it through PYTHONPATH.
                **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
                "HOME": os.environ.get("HOME", "/tmp"),
                "DB_URL": app_url,
                "DB_MIGRATE_URL": owner_url,
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        with psycopg.connect(app_url) as conn:
            owners = conn.execute(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
            assert owners == [(owner_url.split("://")[1].split(":")[0],)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("ALTER TABLE audit_logs DISABLE TRIGGER ALL")
        # The demo users, written by the app role (rows only).
        seeded = amss("seed", env={"DB_URL": app_url, "APP_ENV": "development"}, timeout=300)
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr

        keys = generate_key_pair()
        production = {
            "APP_ENV": "production",
            "DB_URL": app_url,
            "JWT_PRIVATE_KEY_PEM": keys.private_pem,
            "JWT_PUBLIC_KEY_PEM": keys.public_pem,
            "SECRETS_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "LOG_LEVEL": "warning",
        }
        http, listener = free_port(), free_port()
        with (
            running(
                "server",
                env={
                    **production,
                    "HTTP_ADDR": f"127.0.0.1:{http}",
                    "GRPC_ADDR": f"127.0.0.1:{free_port()}",
                },
                port=http,
            ),
            running(
                "worker",
                env={**production, "WORKER_HTTP_ADDR": f"127.0.0.1:{listener}"},
                port=listener,
            ),
        ):
            smoke = subprocess.run(
                ["bash", str(ROOT / "scripts" / "smoke_test.sh"), f"http://127.0.0.1:{http}"],
                env={
                    **os.environ,
                    "AMSS_SMOKE_EMAIL": DEMO["email"],
                    "AMSS_SMOKE_PASSWORD": DEMO["password"],
                },
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert smoke.returncode == 0, smoke.stdout + smoke.stderr
            metrics = httpx.get(f"http://127.0.0.1:{listener}/metrics", timeout=5).text
            assert "amss_job_runs_total" in metrics


def test_migrate_runs_as_db_migrate_url_and_init_roles_keeps_the_audit_trail_closed(
    postgres_admin_url: str,
) -> None:
    """`amss migrate` itself (no entry point) migrates as DB_MIGRATE_URL's owner while DB_URL
    names the app role; init-roles.sh run again afterwards (a restore, a password reset)
    gives the app role back nothing on the audit trail (migration 0009)."""
    with two_roles(postgres_admin_url) as (_database, owner_url, app_url, init_roles):
        migrated = amss("migrate", env={"DB_URL": app_url, "DB_MIGRATE_URL": owner_url})
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        owner = owner_url.split("://")[1].split(":")[0]
        with psycopg.connect(app_url) as conn:
            owners = conn.execute(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        assert owners == [(owner,)]
        assert privilege_problems(app_url) == []
        init_roles()
        assert privilege_problems(app_url) == []
        with psycopg.connect(app_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE audit_chain_heads SET last_seq = 0")
        assert privilege_problems(owner_url) == [
            "DB_URL connects as the owner of the tables: the application could disable the "
            "audit triggers"
        ]


def managed_service_sql() -> str:
    """The ```sql block of docs/operations.md "On a managed PostgreSQL", word for word."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("### On a managed PostgreSQL", 1)[1]
    return section.split("```sql\n", 1)[1].split("```", 1)[0]


def test_the_managed_service_sql_makes_the_two_roles(postgres_admin_url: str) -> None:
    """The documented SQL, run by an admin that is no superuser (CREATEROLE, CREATEDB, as on
    a managed service), then `amss migrate` as the owner: the app role is restricted."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        "amss_owner": f"amss_owner_{suffix}",
        "amss_app": f"amss_app_{suffix}",
        "amss": f"amss_managed_{suffix}",
    }
    script = re.sub(
        r"\b(amss_owner|amss_app|amss)\b", lambda m: names[m.group(1)], managed_service_sql()
    )
    admin = f"amss_admin_{suffix}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB").format(sql.Identifier(admin))
        )
    try:
        env = {
            **os.environ,
            **libpq_env(postgres_admin_url),
            "PGUSER": admin,
            "PGDATABASE": "postgres",
        }
        ran = subprocess.run(
            [client("psql", postgres_admin_url), "-X", "-q", "-v", "ON_ERROR_STOP=1"],
            input=script,
            env=env,
            capture_output=True,
            text=True,
        )
        assert ran.returncode == 0, ran.stderr

        def url(role: str) -> str:
            base = _with_database(postgres_admin_url, names["amss"])
            scheme, rest = base.split("://", 1)
            return f"{scheme}://{role}@{rest.split('@', 1)[-1]}"

        owner_url, app_url = url(names["amss_owner"]), url(names["amss_app"])
        migrated = amss("migrate", env={"DB_URL": app_url, "DB_MIGRATE_URL": owner_url})
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        assert privilege_problems(app_url) == []
        with psycopg.connect(app_url) as conn:
            conn.execute("INSERT INTO organizations (name) VALUES ('Managed')")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("ALTER TABLE audit_logs DISABLE TRIGGER ALL")
    finally:
        drop_database(postgres_admin_url, names["amss"])
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            for role in (names["amss_app"], names["amss_owner"], admin):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
