"""Times are UTC and written as RFC 3339 with a ``Z`` (SPEC §4); the one clock of AMSS."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Tests (and only tests) move time: a due-soon window opening, a calendar limit passing.
# A context variable, so a frozen clock follows the request through the ASGI app in process
# and never leaks into another task.
_frozen: ContextVar[datetime | None] = ContextVar("amss_frozen_clock", default=None)


def utcnow() -> datetime:
    """Now, in UTC: every service and job reads time here, never from datetime directly."""
    frozen = _frozen.get()
    return frozen if frozen is not None else datetime.now(UTC)


@contextmanager
def clock_at(moment: datetime) -> Iterator[datetime]:
    """Within the block, ``utcnow()`` answers ``moment`` (which must carry a time zone)."""
    if moment.tzinfo is None:
        raise ValueError("clock_at needs an aware datetime")
    token = _frozen.set(moment.astimezone(UTC))
    try:
        yield moment
    finally:
        _frozen.reset(token)


def rfc3339(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """An IANA time zone (the organization's, SPEC §6.1); ValueError for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)"
        ) from None


def local_date(moment: datetime, where: ZoneInfo) -> date:
    """The date a person in ``where`` reads for ``moment``."""
    return moment.astimezone(where).date()


def local_today(where: ZoneInfo) -> date:
    return local_date(utcnow(), where)


def moment_of(value: date | datetime, where: ZoneInfo) -> datetime:
    """A date a person entered means the start of that local day; a date-time is itself."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), tzinfo=where).astimezone(UTC)
