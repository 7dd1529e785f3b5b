"""The Python client of docs/grpc.md, run as written against a live ``amss serve --demo``."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.support.polling import eventually
from tests.test_cli import free_port

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "grpc.md"


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.DOTALL | re.MULTILINE)


@pytest.fixture
async def demo(database_url: str) -> AsyncIterator[tuple[str, str]]:
    """``amss serve --demo`` on a database of its own: its REST base URL and gRPC target."""
    admin = database_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"amss_grpc_docs_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    http_port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        "DB_URL": urlunsplit(urlsplit(admin)._replace(path="/" + name)),
        "APP_ENV": "development",
        "HTTP_ADDR": f"127.0.0.1:{http_port}",
        "GRPC_ADDR": f"127.0.0.1:{grpc_port}",
        "WORKER_HTTP_ADDR": f"127.0.0.1:{free_port()}",
        "LOG_LEVEL": "warning",
    }
    server = subprocess.Popen(
        [sys.executable, "-c", "from amss.cli import main; main()", "serve", "--demo"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{http_port}"
    try:
        async with httpx.AsyncClient(timeout=1) as http:

            async def ready() -> bool:
                assert server.poll() is None, "amss serve --demo exited during start-up"
                try:
                    return (await http.get(f"{base}/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, timeout=120, what="amss serve --demo ready")
        yield base, f"127.0.0.1:{grpc_port}"
    finally:
        server.terminate()
        await asyncio.to_thread(server.wait, 60)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def test_the_python_client_of_the_grpc_guide_runs(demo: tuple[str, str]) -> None:
    base, target = demo
    [client] = python_blocks(GUIDE.read_text())
    ran = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", client],
        env={**os.environ, "AMSS_API": f"{base}/api/v1", "AMSS_GRPC": target},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert len([line for line in lines if line.startswith("due: ")]) == 3, lines
    assert "created: Replace nav light scheduled version 1" in lines
    assert "refused: INVALID_ARGUMENT notes: give the reason for cancelling" in lines
    assert "cancelled: cancelled Raised twice" in lines
