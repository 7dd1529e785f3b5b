"""Turn database values into JSON-safe values for audit details and event payloads."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from amss.kit.timefmt import rfc3339

# Never written to audit details or event payloads, whatever the entity.
SECRET_FIELDS = frozenset(
    {
        "password",
        "password_hash",
        "secret",
        "secret_standard",
        "token",
        "refresh_token",
        "access_token",
        "token_hash",
        "private_key",
    }
)


def to_jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return str(value)


def without_secrets(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_jsonable(v) for k, v in values.items() if k not in SECRET_FIELDS}
