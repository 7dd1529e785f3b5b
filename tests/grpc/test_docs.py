"""The Python client of docs/grpc.md, run as written against a live ``amss serve --demo``."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import live
from tests.support.live import free_port

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "grpc.md"


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.DOTALL | re.MULTILINE)


@pytest.fixture
def demo(database_url: str) -> Iterator[tuple[str, str]]:
    """``amss serve --demo`` on a database of its own: its REST base URL and gRPC target."""
    target = f"127.0.0.1:{free_port()}"
    with live.demo_server(database_url, GRPC_ADDR=target) as (base, _):
        yield base, target


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
