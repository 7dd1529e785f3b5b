"""The one way tests wait: poll real state (database, receiver, process) until a check
holds, with a deadline. Never a sleep as synchronisation, never a timing assert.

``eventually`` returns the check's first truthy value (so a check can hand back what it
found) and fails the test, naming what it waited for and the last value seen, when the
deadline passes first. ``until_waiting_on_locks`` is the check concurrency tests hold their
racers with: it waits until that many sessions wait on a lock.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import text

from amss.db.engine import Database

T = TypeVar("T")

POLL_SECONDS = 0.05


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 10.0,
    what: str | None = None,
) -> T:
    """Call ``check`` (sync or async) until it returns something truthy; return that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() >= deadline:
            raise AssertionError(
                f"not within {timeout:g} s: {what or getattr(check, '__name__', check)}"
                f" (last seen: {value!r})"
            )
        await asyncio.sleep(POLL_SECONDS)


async def lock_waiters(database: Database) -> int:
    """Sessions of the test database waiting on a lock now (``pg_stat_activity``)."""
    async with database.engine.connect() as conn:
        waiting = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return int(waiting or 0)


async def until_waiting_on_locks(database: Database, count: int, *, timeout: float = 10.0) -> None:
    """Wait until ``count`` sessions wait on a lock: racers held at the same point."""

    async def enough() -> bool:
        return await lock_waiters(database) >= count

    await eventually(enough, timeout=timeout, what=f"{count} transaction(s) waiting on a lock")
