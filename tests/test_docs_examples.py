"""Every curl example of docs/api.md, run in order against a live ``amss serve --demo``.

The guide is the first thing an integrator copies from: each example must work as written
(SPEC: an endpoint is done when it is in docs/ with a curl example that works against
``make run``). The examples run as one shell session, so later ones use the variables
earlier ones set ($TOKEN, $AIRCRAFT, …); every HTTP status they get is recorded, and any
4xx/5xx fails the test unless the guide shows that error on purpose.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.test_cli import free_port

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "api.md"
# The errors the guide shows on purpose: (method, path) → status.
SHOWN_ERRORS = {("GET", "/api/v1/nope"): 404}


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", markdown, flags=re.DOTALL | re.MULTILINE)


@pytest.fixture
def demo_server(database_url: str) -> Iterator[tuple[str, str]]:
    """``amss serve --demo`` on a database of its own; yields its base URL and DB URL."""
    admin = database_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"amss_docs_{uuid.uuid4().hex[:8]}"
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
        # The examples log in more often than one client IP may in a minute (SPEC §3): the
        # harness stands in for a proxy that gives each request a reader of its own.
        "TRUSTED_PROXIES": "127.0.0.1/32",
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


def test_every_curl_example_of_the_api_guide_works(
    demo_server: tuple[str, str], tmp_path: Path
) -> None:
    base, url = demo_server
    blocks = shell_blocks(GUIDE.read_text())
    assert len(blocks) > 20
    statuses = tmp_path / "statuses.log"
    script = "\n".join(
        [
            # Every curl of the guide reports its status on a side channel, whatever its
            # own output options (the examples' output stays as the reader sees it).
            'curl() { command curl "$@" -H "X-Forwarded-For: 198.51.100.$((RANDOM % 250 + 1))"'
            " -w '%{stderr}AMSS_STATUS %{http_code} %{method}"
            f" %{{url_effective}}\\n' 2>>{statuses}; }}",
            f"cd {ROOT}",
            *(block.replace("http://localhost:8080", base) for block in blocks),
        ]
    )
    finished = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "DB_URL": url, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    # Prose caught inside a code block, or a command the guide forgot to define, shows here.
    assert "command not found" not in finished.stderr, finished.stderr[-3000:]
    assert "Traceback" not in finished.stderr, finished.stderr[-3000:]
    seen = [
        line.split(" ", 3)[1:]
        for line in statuses.read_text().splitlines()
        if line.startswith("AMSS_STATUS ")
    ]
    curls = sum(block.count("curl ") for block in blocks)
    assert len(seen) >= curls - 2, (len(seen), curls)  # every example ran (a few pipe twice)
    failed = [
        (status, method, target)
        for status, method, target in seen
        if int(status) >= 400 and SHOWN_ERRORS.get((method, urlsplit(target).path)) != int(status)
    ]
    assert not failed, (failed, finished.stdout[-2000:])
    assert all(int(status) > 0 for status, _, _ in seen), "a curl could not connect"
