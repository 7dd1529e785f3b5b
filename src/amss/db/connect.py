"""Find the database a command should use: ``DB_URL``, or the embedded server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from amss.config import Settings
from amss.db.embedded import EmbeddedPostgres
from amss.kit.logging import get_logger

EMBEDDED_DATABASE = "amss"

_log = get_logger(__name__)


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """Yield a database URL; with ``DB_URL`` unset, run the embedded server meanwhile."""
    if settings.db_url:
        yield settings.db_url
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    _log.info("DB_URL not set: starting the embedded PostgreSQL", data_dir=str(embedded.pgdata))
    embedded.start()
    try:
        embedded.ensure_database(EMBEDDED_DATABASE)
        yield embedded.sqlalchemy_url(EMBEDDED_DATABASE)
    finally:
        embedded.stop()
