"""The ``amss`` command line: keys, and ``serve`` on the embedded database end to end."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from grpc_health.v1 import health_pb2, health_pb2_grpc
from typer.testing import CliRunner

from amss.cli import cli
from tests.db.test_embedded import postmaster_running
from tests.support.live import free_port
from tests.support.polling import eventually


def test_keys_prints_a_matching_rsa_pair() -> None:
    result = CliRunner().invoke(cli, ["keys"])
    assert result.exit_code == 0
    private_pem, _, public_rest = result.stdout.partition("-----END PRIVATE KEY-----\n")
    private_key = serialization.load_pem_private_key(
        (private_pem + "-----END PRIVATE KEY-----\n").encode(), password=None
    )
    public_key = serialization.load_pem_public_key(public_rest.encode())
    assert private_key.public_key().public_numbers() == public_key.public_numbers()  # type: ignore[union-attr]


def test_keys_writes_files_with_a_private_mode(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["keys", "--out", str(tmp_path / "keys")])
    assert result.exit_code == 0, result.output
    private = tmp_path / "keys" / "jwt_private.pem"
    assert private.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys" / "jwt_public.pem").read_text().startswith("-----BEGIN PUBLIC KEY")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="amss-serve-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def start_serve(data_dir: Path, port: int, grpc_port: int | None = None) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "AMSS_DATA_DIR": str(data_dir),
        "HTTP_ADDR": f"127.0.0.1:{port}",
        "GRPC_ADDR": f"127.0.0.1:{grpc_port or free_port()}",
    }
    env.pop("DB_URL", None)
    return subprocess.Popen(
        [sys.executable, "-c", "from amss.cli import main; main()", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def wait_healthy(process: subprocess.Popen[str], port: int) -> None:
    async with httpx.AsyncClient(timeout=1) as http:

        async def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(
                    f"serve exited early: {process.stdout.read() if process.stdout else ''}"
                )
            try:
                return (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(healthy, timeout=60, what="serve answering /health")


async def stop(process: subprocess.Popen[str], signum: int) -> str:
    process.send_signal(signum)
    output, _ = await asyncio.to_thread(process.communicate, timeout=60)
    return output


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_serve_runs_on_the_embedded_database_and_stops_it(
    data_dir: Path, signum: int
) -> None:
    port, grpc_port = free_port(), free_port()
    process = start_serve(data_dir, port, grpc_port)
    try:
        await wait_healthy(process, port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/ready")).json()["checks"]["database"] == "ok"
            assert (await http.get("/api/v1/nope")).json()["code"] == "not_found"
            assert (await http.get("/openapi.yaml")).text.startswith("openapi: 3")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="amss.v1.TaskService"), timeout=10
            )
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        output = await stop(process, signum)
    assert "Swagger UI" in output
    # The gRPC server stops with the HTTP one (SPEC §11).
    assert "gRPC server stopped" in output
    assert not postmaster_running(data_dir / "postgres"), output

    # A second start reuses the data directory: no new cluster, schema already there.
    process = start_serve(data_dir, port)
    try:
        await wait_healthy(process, port)
    finally:
        output = await stop(process, signal.SIGINT)
    assert "Initializing pgdata" not in output
    assert not postmaster_running(data_dir / "postgres")
