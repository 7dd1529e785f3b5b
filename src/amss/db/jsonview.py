"""Response bodies built by PostgreSQL, in the exact JSON a Pydantic view serializes to.

The hot read paths (due lists, task detail, aircraft list) return many wide rows: fetching
them into Python, validating them into models and serializing them again cost more than
everything else a request does. There PostgreSQL renders the body — the view's fields, in
its order, each formatted the way the view serializes it — and the router passes the bytes
through. The Pydantic view stays the contract: it documents the response (OpenAPI), a
consumer that needs objects parses the body into it (:class:`Rendered`), and the tests
check that the body parses into the view and dumps back to the same JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, PlainSerializer, TypeAdapter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

View = TypeVar("View", bound=BaseModel)


def json_time(expression: str) -> str:
    """A ``timestamptz`` as Pydantic writes it: RFC 3339 in UTC with ``Z``, microseconds
    only when there are any (``2026-11-30T23:59:59Z``, ``…:10.010542Z``)."""
    utc = f"(({expression}) AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN ({expression}) IS NULL THEN NULL"
        f" WHEN date_part('microseconds', {utc})::bigint % 1000000 = 0"
        f' THEN to_char({utc}, \'YYYY-MM-DD"T"HH24:MI:SS"Z"\')'
        f' ELSE to_char({utc}, \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') END'
    )


def _kinds(annotation: Any) -> tuple[type | None, bool]:
    """The value type of a field (None inside Optional) and whether JSON writes it as a
    float (Decimal fields with a float serializer)."""
    float_serialized = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            base, *extras = typing.get_args(annotation)
            float_serialized |= any(
                isinstance(extra, PlainSerializer) and extra.return_type is float
                for extra in extras
            )
            annotation = base
        elif origin in (typing.Union, types.UnionType):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            annotation = options[0] if len(options) == 1 else None
        else:
            break
    return (annotation if isinstance(annotation, type) else None), float_serialized


def field_sql(annotation: Any, expression: str) -> str:
    """``expression`` formatted the way Pydantic serializes a field of ``annotation``."""
    kind, as_float = _kinds(annotation)
    if kind is dt.datetime:
        return json_time(expression)
    if kind is Decimal:
        # A float serializer gives a JSON number; a bare Decimal is written as its text.
        return f"({expression})::float8" if as_float else f"({expression})::text"
    if kind is float:
        return f"({expression})::float8"
    return expression


def select_list(view: type[BaseModel], columns: Mapping[str, str] | None = None) -> str:
    """The select list of ``view``'s JSON: every field, in order, as ``expression AS
    "field"`` (the expression is the same-named column unless ``columns`` says otherwise)."""
    columns = columns or {}
    unknown = set(columns) - set(view.model_fields)
    if unknown:
        raise ValueError(f"{view.__name__} has no field(s) {sorted(unknown)}")
    return ", ".join(
        f'{field_sql(info.annotation, columns.get(name, name))} AS "{name}"'
        for name, info in view.model_fields.items()
    )


async def fetch_page_json(
    session: AsyncSession,
    view: type[View],
    matching: str,
    *,
    order_sql: str,
    limit: int,
    offset: int,
    params: Mapping[str, Any],
    columns: Mapping[str, str] | None = None,
) -> Rendered[View]:
    """One page of ``matching`` (SQL over which ``order_sql`` orders, by output columns) as
    the JSON array of ``view`` and the total count of every matching row, in one round
    trip; past the end the total is counted separately, as ``scoped.fetch_page`` does.
    ``columns`` map fields to expressions over the row (``p``)."""
    fields = select_list(view, columns)
    statement = text(
        f"""
        WITH p AS (
            SELECT m.*, count(*) OVER () AS _total,
                   row_number() OVER (ORDER BY {order_sql}) AS _n
            FROM ({matching}) AS m
            ORDER BY {order_sql} LIMIT :_limit OFFSET :_offset
        )
        SELECT coalesce(json_agg((SELECT row_to_json(v) FROM (SELECT {fields}) v)
                                 ORDER BY p._n), '[]'::json)::text AS body,
               coalesce(max(p._total), 0) AS total
        FROM p
        """
    )
    bound = {**params, "_limit": limit, "_offset": offset}
    row = (await session.execute(statement, bound)).one()
    total = int(row.total)
    if total == 0 and offset > 0:
        counted = text(f"SELECT count(*) FROM ({matching}) AS m")
        total = int(await session.scalar(counted, dict(params)) or 0)
    return Rendered(view, row.body.encode(), total)


@dataclass(frozen=True)
class Rendered(Generic[View]):
    """A response body rendered by PostgreSQL: the bytes for REST, the view's objects for
    anyone else (gRPC, jobs), and the total count of a paged list."""

    view: type[View]
    body: bytes
    total: int = 0

    @cached_property
    def items(self) -> list[View]:
        return TypeAdapter(list[self.view]).validate_json(self.body)  # type: ignore[name-defined]

    @cached_property
    def item(self) -> View:
        return self.view.model_validate_json(self.body)

    def data(self) -> Any:
        return json.loads(self.body)
