"""Database faults answer 503 or 4xx, never 500 (SPEC §10): per-connection timeouts, a short
pool wait, deadlocks retried once, constraint and trigger violations explained, and a
PostgreSQL restarted under load (a private server of the test's own)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import text

from amss.app import create_app
from amss.audit import journal
from amss.auth.deps import UowDep
from amss.auth.rules import Caller
from amss.config import Settings
from amss.db import migrate
from amss.db.engine import Database
from amss.kit.handlers import install_error_handlers
from amss.kit.http import JSONRoute, RequestContextMiddleware
from tests.conftest import serve_app
from tests.support.factories import bearer, make_org, make_user
from tests.support.live import free_port

# What a leaked statement or driver message would contain (our trigger texts say "UPDATE").
SQL_WORDS = ("INSERT INTO", "SELECT ", " SET ", "violates", 'constraint "', "Key (", "DETAIL")


async def test_every_connection_has_statement_and_lock_timeouts(database: Database) -> None:
    async with database.engine.connect() as conn:
        assert await conn.scalar(text("SHOW statement_timeout")) == "30s"
        assert await conn.scalar(text("SHOW lock_timeout")) == "5s"
    assert database.engine.sync_engine.hide_parameters


async def test_sql_parameters_never_reach_errors_or_logs(database: Database) -> None:
    async with database.engine.connect() as conn:
        with pytest.raises(Exception) as caught:
            await conn.execute(
                text("SELECT CAST(:token AS text), 1 / 0"), {"token": "s3cr3t-v4lue"}
            )
    assert "s3cr3t-v4lue" not in str(caught.value)
    assert "parameters hidden" in str(caught.value)


async def test_an_exhausted_pool_answers_503_with_retry_after(
    settings: Settings, database_url: str, database: Database
) -> None:
    async with database.engine.begin() as conn:
        org_id = await make_org(conn)
        user = await make_user(conn, org_id, "viewer")
    tiny = Database.connect(database_url, pool_size=1, max_overflow=0, pool_timeout=0.5)
    app = create_app(settings, tiny)
    try:
        async with tiny.engine.connect() as held:  # the only connection, taken
            await held.execute(text("SELECT 1"))
            async with serve_app(app) as http:
                response = await http.get(
                    "/api/v1/aircraft", headers=bearer(app.state.signer, user)
                )
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "unavailable"
        assert response.headers["Retry-After"] == "1"
        async with serve_app(app) as http:  # the connection is back: served again
            again = await http.get("/api/v1/aircraft", headers=bearer(app.state.signer, user))
        assert again.status_code == 200
    finally:
        await tiny.dispose()


@dataclass
class Calls:
    count: int = 0


def faulty_app(database: Database, calls: Calls) -> FastAPI:
    """Routes that hit real PostgreSQL errors, behind the application's own error handling."""
    router = APIRouter(route_class=JSONRoute)

    @router.post("/deadlock-once")
    async def deadlock_once(uow: UowDep) -> dict[str, int]:
        calls.count += 1
        await uow.session.execute(
            text("INSERT INTO organizations (name) VALUES (:n)"),
            {"n": f"retry-{calls.count}-" + uuid.uuid4().hex},
        )
        if calls.count == 1:
            await uow.session.execute(
                text(
                    "DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = 'deadlock_detected'; END $$"
                )
            )
        await uow.commit()
        return {"attempts": calls.count}

    @router.post("/always-serialization-failure")
    async def always(uow: UowDep) -> dict[str, int]:
        calls.count += 1
        await uow.session.execute(
            text("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = 'serialization_failure'; END $$")
        )
        return {}

    statements = {
        "foreign-key": "INSERT INTO webhook_deliveries (org_id, webhook_id, event_id, event_type)"
        " VALUES (gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'x')",
        "check": "UPDATE org_policies SET max_webhooks = -1",
        "not-null": "INSERT INTO organizations (name) VALUES (NULL)",
        "trigger": "UPDATE audit_logs SET actor = 'someone else'",
        "timeout": "SET LOCAL statement_timeout = '50ms'; SELECT pg_sleep(5)",
        "overflow": "SELECT CAST(99999999999 AS integer)",
    }

    @router.post("/violate/{kind}")
    async def violate(kind: str, uow: UowDep) -> dict[str, str]:
        org_id = await uow.session.scalar(
            text("INSERT INTO organizations (name) VALUES (:n) RETURNING id"),
            {"n": uuid.uuid4().hex},
        )
        await uow.session.execute(
            text("INSERT INTO org_policies (org_id) VALUES (:o)"), {"o": org_id}
        )
        await journal.record(
            uow, Caller.system(org_id), entity_type="t", entity_id=None, action="create"
        )
        for statement in statements[kind].split("; "):
            await uow.session.execute(text(statement))
        return {}

    app = FastAPI()
    app.state.database = database
    install_error_handlers(app)
    app.include_router(router)
    app.add_middleware(RequestContextMiddleware)
    return app


async def test_a_deadlock_is_retried_once_from_a_fresh_transaction(database: Database) -> None:
    calls = Calls()
    async with serve_app(faulty_app(database, calls)) as http:
        response = await http.post("/deadlock-once")
    assert response.status_code == 200 and response.json() == {"attempts": 2}
    async with database.engine.connect() as conn:
        kept = await conn.scalar(
            text(
                "SELECT count(*) FROM organizations WHERE name LIKE 'retry-1-%' OR name LIKE 'retry-2-%'"
            )
        )
    assert kept >= 1
    async with database.engine.connect() as conn:  # the first attempt's row rolled back
        first = await conn.scalar(
            text("SELECT count(*) FROM organizations WHERE name LIKE 'retry-1-%'")
        )
    assert first == 0


async def test_a_second_serialization_failure_is_409(database: Database) -> None:
    calls = Calls()
    async with serve_app(faulty_app(database, calls)) as http:
        response = await http.post("/always-serialization-failure")
    assert calls.count == 2
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    assert response.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    ("kind", "status", "says"),
    [
        ("foreign-key", 409, "refers to does not exist"),
        ("check", 400, "max_webhooks: value is outside"),
        ("not-null", 400, "name: field required"),
        ("trigger", 409, "audit_logs rows are immutable"),
        ("timeout", 503, "did not answer in time"),
        ("overflow", 400, "out of range"),
    ],
)
async def test_violations_are_explained_without_sql(
    db: Database, kind: str, status: int, says: str
) -> None:
    async with serve_app(faulty_app(db, Calls())) as http:
        response = await http.post(f"/violate/{kind}")
    assert response.status_code == status, response.text
    body = response.json()
    assert says in body["error"] and body["request_id"]
    assert not any(word in body["error"] for word in SQL_WORDS), body["error"]


# --- A private PostgreSQL, stopped and started under load -------------------------------


@dataclass
class PrivateCluster:
    bindir: Path
    data: Path
    port: int
    user: str

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("-l", str(self.data.parent / "log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")


def _server_user() -> str:
    for name in ("postgres", "embedded_postgres"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.fail("no unprivileged user to run a private PostgreSQL as (postgres)")


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivateCluster]:
    """A throwaway PostgreSQL cluster on its own port: ours to stop (never the shared one)."""
    bindirs = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bindirs:
        pytest.fail("PostgreSQL server binaries not found under /usr/lib/postgresql")
    bindir = bindirs[-1].parent
    folder = Path(tempfile.mkdtemp(prefix="amss-private-pg-", dir="/tmp"))
    user = _server_user()
    if os.geteuid() == 0:
        record = pwd.getpwnam(user)
        os.chown(folder, record.pw_uid, record.pw_gid)
    cluster = PrivateCluster(bindir, folder / "data", free_port(), user)
    initdb = [
        str(bindir / "initdb"),
        "-D",
        str(cluster.data),
        "-A",
        "trust",
        "-U",
        "postgres",
        "--no-sync",
    ]
    if os.geteuid() == 0:
        initdb = ["runuser", "-u", user, "--", *initdb]
    subprocess.run(initdb, check=True, capture_output=True, timeout=120)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def private_database(private_postgres: PrivateCluster) -> str:
    with psycopg.connect(private_postgres.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE amss")
    url = private_postgres.url.rsplit("/", 1)[0] + "/amss"
    migrate.upgrade(url)
    return url


@pytest.fixture
async def private_app(
    settings: Settings, private_database: str
) -> AsyncIterator[tuple[FastAPI, dict[str, str]]]:
    database = Database.connect(private_database, pool_size=4)
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, api_rate_limit_per_min=1_000_000)
        user = await make_user(conn, org_id, "scheduler")
    app = create_app(settings.model_copy(update={"db_url": private_database}), database)
    try:
        yield app, bearer(app.state.signer, user)
    finally:
        await database.dispose()


async def test_postgresql_restarted_under_load_gives_503s_then_200s_never_500(
    private_postgres: PrivateCluster, private_app: tuple[FastAPI, dict[str, str]]
) -> None:
    app, headers = private_app
    phase = {"name": "up"}
    seen: list[tuple[str, int, httpx.Response]] = []
    stop = asyncio.Event()
    deadline = time.monotonic() + 120

    async def client_loop(http: httpx.AsyncClient) -> None:
        for _ in range(5000):  # bounded, whatever happens
            if stop.is_set() or time.monotonic() > deadline:
                return
            at = phase["name"]
            response = await http.get("/api/v1/aircraft", headers=headers)
            seen.append((at, response.status_code, response))
            await asyncio.sleep(0.01)

    def statuses(name: str) -> Counter[int]:
        return Counter(status for at, status, _ in seen if at == name)

    async def until(check: Any, timeout: float) -> bool:
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            if check():
                return True
            await asyncio.sleep(0.05)
        return False

    async with serve_app(app) as http:
        load = [asyncio.create_task(client_loop(http)) for _ in range(4)]
        try:
            assert await until(lambda: statuses("up")[200] >= 20, 30)
            phase["name"] = "stopping"
            await asyncio.to_thread(private_postgres.stop)
            phase["name"] = "down"
            assert await until(lambda: sum(statuses("down").values()) >= 40, 30)
            write = await http.post(
                "/api/v1/aircraft",
                json={"tail_number": "N503DN", "model": "C172"},
                headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
            )
            phase["name"] = "starting"
            await asyncio.to_thread(private_postgres.start)
            phase["name"] = "back"
            assert await until(lambda: statuses("back")[200] >= 20, 60), statuses("back")
        finally:
            stop.set()
            await asyncio.gather(*load, return_exceptions=True)

    every = Counter(status for _, status, _ in seen)
    assert set(every) <= {200, 503}, every
    assert set(statuses("down")) == {503}, statuses("down")
    unavailable = next(response for _, status, response in seen if status == 503)
    assert unavailable.json()["code"] == "unavailable" and unavailable.headers["Retry-After"]
    assert write.status_code == 503, write.text  # the idempotency store is down too: still 503
    print(
        f"\nrestart under load: {dict(every)}; by phase: "
        f"{ {name: dict(statuses(name)) for name in ('up', 'stopping', 'down', 'starting', 'back')} }"
    )
    assert list(itertools.islice((s for _, s, _ in seen if s == 500), 1)) == []
