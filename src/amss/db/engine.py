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


def libpq_url(url: str) -> str:
    """The same URL as plain libpq understands it (for psycopg and procrastinate)."""
    return sqlalchemy_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


# Every connection: no JIT (compiling the large set-based statements — the generation
# sweep, the forecast — costs seconds and saves nothing at our row counts), and UTC as the
# session time zone, so SQL and Python read the same dates whatever the server's setting
# (no DST drift between them).
SESSION_OPTIONS = "-c jit=off -c timezone=UTC"


@dataclass
class Database:
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 10) -> Database:
        engine = create_async_engine(
            sqlalchemy_url(url),
            connect_args={"options": SESSION_OPTIONS},
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
        )
        return cls(
            engine=engine, session_factory=async_sessionmaker(engine, expire_on_commit=False)
        )

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
