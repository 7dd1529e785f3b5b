"""The embedded PostgreSQL adapter: starts as root, keeps its data, stops for real."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from amss.db.embedded import EmbeddedPostgres


@pytest.fixture
def data_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="amss-emb-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def postmaster_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    import os

    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_stop_and_reuse_of_the_data_directory(data_dir: Path) -> None:
    first = EmbeddedPostgres(data_dir).start()
    try:
        first.ensure_database("amss")
        first.ensure_database("amss")  # idempotent
        with psycopg.connect(first.libpq_url("amss"), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (value text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
        assert first.sqlalchemy_url("amss").startswith("postgresql+psycopg://")
    finally:
        first.stop()
    assert not postmaster_running(first.pgdata)
    first.stop()  # a second stop is harmless

    second = EmbeddedPostgres(data_dir).start()
    try:
        with psycopg.connect(second.libpq_url("amss")) as conn:
            assert conn.execute("SELECT value FROM kept").fetchone() == ("still here",)
    finally:
        second.stop()
    assert not postmaster_running(second.pgdata)


def test_a_handle_left_by_a_killed_process_does_not_keep_the_server_alive(data_dir: Path) -> None:
    server = EmbeddedPostgres(data_dir).start()
    server.stop()
    # A process that was SIGKILLed never removed its pid from the package's handle list.
    (server.pgdata / ".handle_pids.json").write_text("[999999]")
    again = EmbeddedPostgres(data_dir).start()
    again.stop()
    assert not postmaster_running(again.pgdata)
