"""Field types shared by request bodies: UTC date-times, plain dates, meters."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    WithJsonSchema,
)

from amss.kit.timefmt import rfc3339

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 12, 31, 23, 59, 59, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    """The written date must lie in 1900..2200, whatever its offset; returned in UTC."""
    # Maintenance records of this world: far dates are typos, and would overflow forecasts.
    # The check reads the date as written (not its UTC instant) so that the OpenAPI
    # document can state the rule as a pattern on the year.
    written = value.replace(tzinfo=None)
    if not EARLIEST.replace(tzinfo=None) <= written <= LATEST.replace(tzinfo=None):
        raise ValueError("must be between 1900-01-01 and 2200-12-31")
    return value.astimezone(UTC)


def _utc_datetime(value: Any) -> Any:
    """RFC 3339 with an offset; a plain ``YYYY-MM-DD`` means midnight UTC."""
    try:
        return _parse_utc_datetime(value)
    except OverflowError:
        raise ValueError("must be between 1900-01-01 and 2200-12-31") from None


# RFC 3339 §5.6 (Python's fromisoformat also takes week dates, no seconds, and more).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_utc_datetime(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 10:
        if not _ISO_DATE.match(value):
            raise ValueError("must be an RFC 3339 date-time or a YYYY-MM-DD date")
        try:
            return _in_range(
                datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
            )
        except ValueError:
            raise ValueError("must be an RFC 3339 date-time or a YYYY-MM-DD date") from None
    if isinstance(value, str):
        if not _RFC3339.match(value):
            raise ValueError("must be an RFC 3339 date-time or a YYYY-MM-DD date")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError("must be an RFC 3339 date-time or a YYYY-MM-DD date") from None
        if parsed.tzinfo is None:
            raise ValueError("date-time needs a timezone offset (e.g. Z)")
        return _in_range(parsed)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("date-time needs a timezone offset (e.g. Z)")
        return _in_range(value)
    # Not a number of seconds since 1970 either: pydantic would read 0 as 1970-01-01, and a
    # maintenance record dated by accident is worse than a 400.
    raise ValueError("must be an RFC 3339 date-time or a YYYY-MM-DD date")


def _plain_date(value: Any) -> Any:
    """A date, given as ``YYYY-MM-DD`` or as an RFC 3339 date-time (its UTC date)."""
    if isinstance(value, str) and len(value) > 10:
        parsed = _utc_datetime(value)
        return parsed.date() if isinstance(parsed, datetime) else parsed
    if isinstance(value, str):
        try:
            parsed_date = date.fromisoformat(value) if _ISO_DATE.match(value) else None
        except ValueError:
            parsed_date = None
        if parsed_date is None:
            raise ValueError("must be a YYYY-MM-DD date")
        if not EARLIEST.date() <= parsed_date <= LATEST.date():
            raise ValueError("must be between 1900-01-01 and 2200-12-31")
        return parsed_date
    if isinstance(value, date):
        return value
    raise ValueError("must be a YYYY-MM-DD date")


# How the OpenAPI document states what these types accept (checked by schemathesis).
_YEARS = "^(19[0-9]{2}|2[01][0-9]{2}|2200)-"
_DATE_OR_DATE_TIME = {
    "anyOf": [
        {"type": "string", "format": "date-time", "pattern": _YEARS},
        {"type": "string", "format": "date", "pattern": _YEARS},
    ]
}

UtcDateTime = Annotated[
    datetime,
    BeforeValidator(_utc_datetime),
    PlainSerializer(rfc3339, return_type=str, when_used="json"),
    WithJsonSchema(_DATE_OR_DATE_TIME, mode="validation"),
]
PlainDate = Annotated[
    date, BeforeValidator(_plain_date), WithJsonSchema(_DATE_OR_DATE_TIME, mode="validation")
]


# Request bodies are JSON: a count is a JSON integer and a flag is true or false. Lax
# pydantic would take `true` as 1 cycle and `0` as false.
WholeNumber = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]

# Hours are numeric(10,1); the API returns them as JSON numbers.
Hours = Annotated[
    Decimal,
    Field(max_digits=10, decimal_places=1, multiple_of=Decimal("0.1")),
    PlainSerializer(float, return_type=float, when_used="json"),
]
Rate = Annotated[
    Decimal,
    Field(max_digits=8, decimal_places=2, multiple_of=Decimal("0.01")),
    PlainSerializer(float, return_type=float, when_used="json"),
]


def _date_or_datetime(value: Any) -> Any:
    """``YYYY-MM-DD`` stays a date (the service reads it on the organization's calendar);
    anything longer is an RFC 3339 date-time with an offset."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        parsed = _plain_date(value)
        try:
            return date.fromisoformat(parsed) if isinstance(parsed, str) else parsed
        except ValueError:
            raise ValueError("must be an RFC 3339 date-time or a YYYY-MM-DD date") from None
    return _utc_datetime(value)


# A moment a person may give as a plain local date ("done on 2025-03-05") or a date-time.
LocalMoment = Annotated[
    date | datetime,
    BeforeValidator(_date_or_datetime),
    WithJsonSchema(_DATE_OR_DATE_TIME, mode="validation"),
]


# An authorization a certificate carries (A&P, IA, RII, B1, B2 …), kept upper-case.
AuthorizationTag = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_upper=True,
        min_length=1,
        max_length=20,
        pattern=r"^[A-Za-z0-9&+./-]+$",
    ),
]

# Who certified work and what record it rests on (14 CFR 43.9, EASA 145.A.50).
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
CertificateNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
RecordReference = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
]
