"""Test infrastructure: one PostgreSQL per session, a migrated template, a database per
process, and every test inside a transaction that is rolled back.

``AMSS_TEST_DB_URL`` (a libpq URL to any database on a server we may create databases on)
selects the server; without it an embedded server runs in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from psycopg import sql
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker

from amss.app import create_app
from amss.config import Settings
from amss.db import migrate
from amss.db.embedded import EmbeddedPostgres
from amss.db.engine import Database, libpq_url
from amss.kit.keys import KeyPair, generate_key_pair
from amss.kit.logging import configure_logging
from tests.support.queue import clean_queue
from tests.support.tcp_proxy import TcpProxy, tcp_proxy
from tests.support.tenant import Tenant, make_tenant

_TEMPLATE_LOCK = 0x54504C

configure_logging("warning", json=True)

# Processes the tests start (workers, servers) inherit these: a test environment, receivers
# on localhost, and one SECRETS_KEY shared with the in-process app so secrets stay readable.
os.environ.setdefault("APP_ENV", "test")
os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE", "true")
os.environ.setdefault("SECRETS_KEY", Fernet.generate_key().decode())


def _with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database (query string kept: socket host)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    configured = os.environ.get("AMSS_TEST_DB_URL")
    if configured:
        yield libpq_url(configured)
        return
    folder = Path(tempfile.mkdtemp(prefix="amss-pg-", dir="/tmp"))
    embedded = EmbeddedPostgres(folder).start()
    try:
        yield embedded.libpq_url("postgres")
    finally:
        embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)


def create_database(admin_url: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _ensure_template(admin_url: str) -> str:
    """A migrated template named after the migrations, built once and reused across runs."""
    template = f"amss_tpl_{migrate.migrations_fingerprint()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_TEMPLATE_LOCK,))
        try:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,))
            if found.fetchone() is None:
                building = template + "_building"
                url = create_database(admin_url, building)
                migrate.upgrade(url)
                conn.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(building), sql.Identifier(template)
                    )
                )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_TEMPLATE_LOCK,))
    return template


@pytest.fixture(scope="session")
def database_url(postgres_admin_url: str, worker_id: str) -> Iterator[str]:
    template = _ensure_template(postgres_admin_url)
    name = f"amss_test_{worker_id}_{os.getpid()}"
    url = create_database(postgres_admin_url, name, template=template)
    yield url
    drop_database(postgres_admin_url, name)


@pytest.fixture(scope="session")
def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis of ``AMSS_TEST_REDIS_URL`` (CI sets it), checked once: a test that needs
    Redis is skipped only when none is configured, and fails when one is configured but
    does not answer, so a broken Redis in CI can never pass as "skipped"."""
    url = os.environ.get("AMSS_TEST_REDIS_URL")
    if not url:
        pytest.skip("AMSS_TEST_REDIS_URL is not set")
    import redis

    try:
        probe = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            probe.ping()
        finally:
            probe.close()
    except redis.RedisError as error:
        pytest.fail(
            f"AMSS_TEST_REDIS_URL={url} is set but Redis does not answer: {error}", pytrace=False
        )
    return url


@asynccontextmanager
async def redis_behind_proxy(redis_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A URL for AMSS that reaches the test Redis through a proxy the test can cut."""
    parts = urlsplit(redis_url)
    async with tcp_proxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        yield proxy, urlunsplit(parts._replace(netloc=f"127.0.0.1:{proxy.port}"))


@pytest.fixture(scope="session")
def signing_keys() -> KeyPair:
    return generate_key_pair()


@pytest.fixture(scope="session")
def settings(database_url: str, signing_keys: KeyPair) -> Settings:
    return Settings(
        APP_ENV="test",
        DB_URL=database_url,
        JWT_PRIVATE_KEY_PEM=signing_keys.private_pem,
        JWT_PUBLIC_KEY_PEM=signing_keys.public_pem,
        SECRETS_KEY=os.environ["SECRETS_KEY"],
        WEBHOOK_ALLOW_PRIVATE=True,
    )


@pytest.fixture(scope="session")
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database.connect(database_url, pool_size=5)
    yield db
    await db.dispose()


@pytest.fixture
async def connection(database: Database) -> AsyncIterator[AsyncConnection]:
    """The test's own connection, inside a transaction rolled back at the end."""
    async with database.engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


@pytest.fixture
def db(database: Database, connection: AsyncConnection) -> Database:
    """A Database whose sessions join the test transaction; a commit only ends a savepoint.
    Reads join it too (in production they run outside any transaction), so they see the
    test's rows."""
    joined = async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    return Database(engine=database.engine, session_factory=joined, read_session_factory=joined)


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db)


@asynccontextmanager
async def serve_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to ``app`` in process, with its lifespan running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://amss.test") as http:
            yield http


@pytest.fixture
async def clean_jobs(database: Database) -> AsyncIterator[None]:
    """For tests that run workers: an empty job queue, outbox and subscription table before
    and after, so what earlier tests committed never changes their outcome."""
    await clean_queue(database)
    yield
    await clean_queue(database)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_app(app) as http:
        yield http


@pytest.fixture
async def committing_client(
    settings: Settings, database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests really commit, for concurrency tests (use unique names)."""
    async with serve_app(create_app(settings, database)) as http:
        yield http


@pytest.fixture
async def tenant(connection: AsyncConnection, app: FastAPI, client: httpx.AsyncClient) -> Tenant:
    """An organization of the test's transaction with one user of every role."""
    return await make_tenant(connection, app.state.signer, client)
