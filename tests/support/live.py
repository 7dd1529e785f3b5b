"""A live ``amss serve --demo`` on a database of its own, for tests that need a real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def demo_server(admin_url: str, **environment: str) -> Iterator[tuple[str, str]]:
    """Start ``amss serve --demo``; yields its base URL and its database URL."""
    admin = admin_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"amss_live_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlunsplit(urlsplit(admin)._replace(path="/" + name))
    port = free_port()
    env = {
        **os.environ,
        "DB_URL": url,
        "APP_ENV": "development",
        "HTTP_ADDR": f"127.0.0.1:{port}",
        "GRPC_ADDR": f"127.0.0.1:{free_port()}",
        "WORKER_HTTP_ADDR": f"127.0.0.1:{free_port()}",
        "LOG_LEVEL": "warning",
        # Tests log in more often than one client IP may in a minute (SPEC §3): they stand
        # in for a proxy that gives each request a reader of its own.
        "TRUSTED_PROXIES": "127.0.0.1/32",
        **environment,
    }
    server = subprocess.Popen(
        [sys.executable, "-c", "from amss.cli import main; main()", "serve", "--demo"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "amss serve --demo exited during start-up"
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "amss serve --demo never became ready"
            time.sleep(0.3)
        yield base, url
    finally:
        server.terminate()
        server.wait(timeout=60)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
