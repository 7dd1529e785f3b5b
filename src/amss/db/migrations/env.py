"""Alembic environment: migrations run on a synchronous psycopg connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

# Serializes concurrent migrators (several replicas, several test processes).
_MIGRATION_LOCK_KEY = 0x414D5353


def run_migrations_online() -> None:
    url = context.config.attributes.get("url")
    if not url:
        from amss.config import get_settings
        from amss.db.engine import sqlalchemy_url

        configured = get_settings().db_url
        if not configured:
            raise RuntimeError("DB_URL is not set; use 'amss migrate' to start the embedded server")
        url = sqlalchemy_url(configured)
    engine = create_engine(url, poolclass=pool.NullPool, hide_parameters=True)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=None)
            with context.begin_transaction():
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; run 'amss migrate'")
run_migrations_online()
