"""The async engine and session factory shared by the whole process."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def sqlalchemy_url(url: str) -> str:
    """Accept the original system's ``postgres://`` URLs and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# Every connection carries its own limits (SPEC §10): a runaway statement or a lock queue
# ends in an error the API answers with 503/409 instead of holding a worker forever.
API_STATEMENT_TIMEOUT_MS = 30_000
# Jobs (the due sweep of a large fleet, retention) may legitimately run longer.
WORKER_STATEMENT_TIMEOUT_MS = 600_000
LOCK_TIMEOUT_MS = 5_000
# A request waits this long for a pooled connection, then answers 503 with Retry-After.
POOL_TIMEOUT_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 5


def connection_options(
    *, statement_timeout_ms: int = API_STATEMENT_TIMEOUT_MS, lock_timeout_ms: int = LOCK_TIMEOUT_MS
) -> str:
    """libpq ``options`` for every connection of the process.

    No JIT: compiling the large set-based statements (generation sweep, forecast) costs
    seconds and saves nothing at our row counts. UTC as the session time zone, so SQL and
    Python read the same dates whatever the server's setting (no DST drift between them).
    """
    return (
        f"-c jit=off -c timezone=UTC -c statement_timeout={statement_timeout_ms}"
        f" -c lock_timeout={lock_timeout_ms}"
    )


def libpq_url(url: str) -> str:
    """The same URL as plain libpq understands it (for psycopg and procrastinate)."""
    return sqlalchemy_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass
class Database:
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    read_session_factory: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int | None = None,
        pool_timeout: float = POOL_TIMEOUT_SECONDS,
        statement_timeout_ms: int = API_STATEMENT_TIMEOUT_MS,
    ) -> Database:
        engine = create_async_engine(
            sqlalchemy_url(url),
            connect_args={
                "options": connection_options(statement_timeout_ms=statement_timeout_ms),
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            },
            pool_size=pool_size,
            max_overflow=pool_size if max_overflow is None else max_overflow,
            pool_timeout=pool_timeout,
            # No ping before every checkout (a round trip per request): a connection that
            # died with a restarted server fails its first statement, the request answers
            # 503 (kit/handlers) and SQLAlchemy discards the whole stale pool at once.
            pool_recycle=1800,
            # Statements in logs and errors never carry their values (secrets, personal data).
            hide_parameters=True,
        )
        # Reads outside a transaction: no BEGIN and no ROLLBACK round trip around a request
        # that only reads (each statement sees its own snapshot; none of them writes).
        reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        return cls(
            engine=engine,
            session_factory=async_sessionmaker(engine, expire_on_commit=False),
            read_session_factory=async_sessionmaker(reads, expire_on_commit=False),
        )

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
