"""Shared benchmark plumbing: a real ``amss serve`` process and a concurrent HTTP load."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass
class LoadResult:
    name: str
    requests: int
    concurrency: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Start ``amss serve`` (embedded database in a temporary folder unless DB_URL is set)."""
    port = _free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="amss-bench-", dir="/tmp"))
    env = {
        **os.environ,
        "AMSS_DATA_DIR": str(data_dir),
        "HTTP_ADDR": f"127.0.0.1:{port}",
        "LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from amss.cli import main; main()", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError("amss serve exited during start-up")
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("amss serve did not become ready")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)


async def _load(
    url: str, total: int, concurrency: int, headers: dict[str, str]
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    remaining = total
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await client.get(url, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code >= 400:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


def http_load(
    name: str,
    url: str,
    *,
    total: int = 3000,
    concurrency: int = 32,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    asyncio.run(_load(url, min(200, total), concurrency, headers or {}))  # warm-up
    latencies, errors, elapsed = asyncio.run(_load(url, total, concurrency, headers or {}))
    latencies.sort()
    return LoadResult(
        name=name,
        requests=total,
        concurrency=concurrency,
        seconds=round(elapsed, 3),
        requests_per_second=round(total / elapsed, 1),
        p50_ms=round(statistics.median(latencies), 2),
        p99_ms=round(latencies[int(len(latencies) * 0.99) - 1], 2),
        errors=errors,
    )


def report(benchmark: str, rows: list[LoadResult], ratios: dict[str, float]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=benchmark)
    for column in ("workload", "requests", "clients", "req/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.name,
            str(row.requests),
            str(row.concurrency),
            str(row.requests_per_second),
            str(row.p50_ms),
            str(row.p99_ms),
            str(row.errors),
        )
    console = Console()
    console.print(table)
    for key, value in ratios.items():
        console.print(f"  {key}: {value:.2f}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{benchmark}.json"
    out.write_text(
        json.dumps(
            {"benchmark": benchmark, "rows": [asdict(r) for r in rows], "ratios": ratios}, indent=2
        )
    )
    console.print(f"  written to {out}")
