"""A migrated scratch database for benchmarks: on ``DB_URL``'s server, or embedded."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from amss.db import migrate
from amss.db.embedded import EmbeddedPostgres
from amss.db.engine import libpq_url


@contextmanager
def scratch_database() -> Iterator[str]:
    """Yield the libpq URL of a new, migrated database; drop it afterwards."""
    folder: Path | None = None
    embedded: EmbeddedPostgres | None = None
    server = os.environ.get("DB_URL")
    if server:
        admin = libpq_url(server)
    else:
        folder = Path(tempfile.mkdtemp(prefix="amss-bench-db-", dir="/tmp"))
        embedded = EmbeddedPostgres(folder).start()
        admin = embedded.libpq_url("postgres")
    name = f"amss_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlunsplit(urlsplit(admin)._replace(path="/" + name))
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if embedded is not None:
            embedded.stop()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
