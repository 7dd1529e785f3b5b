"""docs/operations.md "Failure modes": the database goes away under a running server and
worker, and comes back (on an embedded PostgreSQL of the test's own, which it may stop)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from amss.db.embedded import EmbeddedPostgres
from amss.kit.keys import generate_key_pair
from tests.support.live import free_port

AMSS = str(Path(sys.executable).parent / "amss")


def status(url: str) -> int | str:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError as error:
        return type(error).__name__


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.25)
    pytest.fail(f"{what} within {timeout:.0f} s")


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="amss-outage-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_database_outage_and_recovery(folder: Path) -> None:
    postgres = EmbeddedPostgres(folder).start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        postgres.ensure_database("amss")
        keys = generate_key_pair()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "REDIS", "OTEL_"))},
            "APP_ENV": "production",
            "DB_URL": postgres.libpq_url("amss"),
            "JWT_PRIVATE_KEY_PEM": keys.private_pem,
            "JWT_PUBLIC_KEY_PEM": keys.public_pem,
            "SECRETS_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "LOG_LEVEL": "warning",
        }
        done = subprocess.run([AMSS, "migrate"], env=env, capture_output=True)
        assert done.returncode == 0, done.stderr
        http, listener = free_port(), free_port()
        server_url, worker_url = f"http://127.0.0.1:{http}", f"http://127.0.0.1:{listener}"

        def start(command: str) -> subprocess.Popen[bytes]:
            address = {"server": ("HTTP_ADDR", http), "worker": ("WORKER_HTTP_ADDR", listener)}
            name, port = address[command]
            process = subprocess.Popen(
                [AMSS, command],
                env={**env, name: f"127.0.0.1:{port}"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            processes.append(process)
            return process

        def login() -> httpx.Response:
            """A request that needs the database: 401 for an unknown user while it is up."""
            return httpx.post(
                f"{server_url}/api/v1/auth/login",
                json={"email": "nobody@example.com", "password": "not-a-password"},
                timeout=30,
            )

        server, worker = start("server"), start("worker")
        wait_for(lambda: status(f"{server_url}/ready") == 200, 60, "the server is not ready")
        wait_for(lambda: status(f"{worker_url}/ready") == 200, 60, "the worker is not ready")
        assert login().status_code == 401

        postgres.stop()
        # The server stays alive (liveness) but leaves the load balancer (readiness), and
        # requests that need the database fail at once with a 5xx instead of hanging.
        wait_for(lambda: status(f"{server_url}/ready") == 503, 15, "/ready did not turn 503")
        assert status(f"{server_url}/health") == 200
        ready = httpx.get(f"{server_url}/ready", timeout=5).json()
        assert [d["field"] for d in ready["details"]] == ["database"]
        started = time.monotonic()
        assert login().status_code >= 500
        assert time.monotonic() - started < 10
        assert status(f"{worker_url}/ready") == 503
        # The worker gives up after its job queue's connection pool cannot reopen (30 s)
        # and exits non-zero: the orchestrator's restart policy starts it again.
        wait_for(lambda: worker.poll() is not None, 75, "the worker did not exit")
        assert worker.returncode != 0

        postgres = EmbeddedPostgres(folder).start()
        # The server reconnects by itself (pre-ping drops dead pooled connections).
        wait_for(lambda: status(f"{server_url}/ready") == 200, 30, "the server did not recover")
        assert login().status_code == 401
        assert server.poll() is None
        start("worker")  # what `restart: unless-stopped` / Kubernetes do
        wait_for(lambda: status(f"{worker_url}/ready") == 200, 60, "the new worker is not ready")
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        postgres.stop()
