"""The SQLAlchemy table descriptions mirror the migrated schema, column by column.

The migrations are the source of truth; ``db/tables.py`` is what queries are built from.
A column added to one and not the other fails here, not in production.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    Numeric,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from amss.db.tables import metadata


def _expected(column_type: TypeEngine[object]) -> str:
    if isinstance(column_type, UUID):
        return "uuid"
    if isinstance(column_type, JSONB):
        return "jsonb"
    if isinstance(column_type, INET):
        return "inet"
    if isinstance(column_type, ARRAY):
        return "ARRAY"
    if isinstance(column_type, BigInteger):
        return "bigint"
    if isinstance(column_type, Integer):
        return "integer"
    if isinstance(column_type, Numeric):
        return f"numeric({column_type.precision},{column_type.scale})"
    if isinstance(column_type, DateTime):
        return "timestamp with time zone" if column_type.timezone else "timestamp"
    if isinstance(column_type, Date):
        return "date"
    if isinstance(column_type, Boolean):
        return "boolean"
    if isinstance(column_type, LargeBinary):
        return "bytea"
    if isinstance(column_type, Text):
        return "text"
    raise AssertionError(f"no mapping for {column_type!r}")


async def test_every_described_table_matches_the_migrated_columns(
    connection: AsyncConnection,
) -> None:
    for table in metadata.sorted_tables:
        rows = (
            await connection.execute(
                text(
                    "SELECT column_name, data_type, numeric_precision, numeric_scale"
                    " FROM information_schema.columns"
                    " WHERE table_schema = 'public' AND table_name = :t"
                ),
                {"t": table.name},
            )
        ).all()
        assert rows, f"table {table.name} is not in the migrated schema"
        migrated = {
            row.column_name: (
                f"numeric({row.numeric_precision},{row.numeric_scale})"
                if row.data_type == "numeric"
                else row.data_type
            )
            for row in rows
        }
        described = {column.name: _expected(column.type) for column in table.columns}
        assert described == migrated, table.name
