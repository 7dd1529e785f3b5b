"""Find the databases a command uses: DB_URL and DB_MIGRATE_URL, or the embedded server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from amss.config import Settings
from amss.db.embedded import EmbeddedPostgres
from amss.db.roles import APP_ROLE, ensure_login_role, grant_app_role
from amss.kit.logging import get_logger

EMBEDDED_DATABASE = "amss"

_log = get_logger(__name__)


@dataclass(frozen=True)
class DatabaseUrls:
    """The two connections of SPEC §10: the running application's, and the owner's."""

    app: str
    migrate: str


@contextmanager
def database_urls(settings: Settings) -> Iterator[DatabaseUrls]:
    """Yield both URLs; with neither ``DB_URL`` nor ``DB_MIGRATE_URL`` set, run the embedded
    server meanwhile, migrations as its superuser and the application as ``amss_app``.

    One URL alone serves for both (a deployment with a single role keeps working).
    """
    if settings.db_url or settings.db_migrate_url:
        app = settings.db_url or settings.db_migrate_url
        migrate = settings.migrate_url or app
        assert app is not None and migrate is not None
        yield DatabaseUrls(app=app, migrate=migrate)
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    _log.info("DB_URL not set: starting the embedded PostgreSQL", data_dir=str(embedded.pgdata))
    embedded.start()
    try:
        embedded.ensure_database(EMBEDDED_DATABASE)
        # Before migrations run: the default privileges then cover every table they create.
        with psycopg.connect(embedded.libpq_url(EMBEDDED_DATABASE)) as conn:
            ensure_login_role(conn, APP_ROLE)
            grant_app_role(conn, APP_ROLE)
        yield DatabaseUrls(
            app=embedded.sqlalchemy_url(EMBEDDED_DATABASE, user=APP_ROLE),
            migrate=embedded.sqlalchemy_url(EMBEDDED_DATABASE),
        )
    finally:
        embedded.stop()
