"""The one way tests wait: poll real state (database, receiver, process) until a check
holds, with a deadline. Never a sleep as synchronisation, never a timing assert.

``eventually`` returns the check's first truthy value (so a check can hand back what it
found) and fails the test, naming what it waited for and the last value seen, when the
deadline passes first.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

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
