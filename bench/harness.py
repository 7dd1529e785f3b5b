"""Shared benchmark plumbing: real server processes, wrk load, and the verdict table.

Every figure is judged against a baseline measured in the same run on the same machine
(SPEC §13), so a verdict holds on a noisy machine; timings never appear in the test suite.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

RESULTS_DIR = Path(__file__).parent / "results"
# QUICK=1 (``make bench QUICK=1``): shorter loads and smaller fleets, same verdicts.
QUICK = os.environ.get("QUICK", "") not in ("", "0")


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
    tool: str = "wrk"


@dataclass
class Verdict:
    """One row of SPEC §13: a figure, what it is compared with, and whether it passes."""

    benchmark: str
    measure: str
    figure: float
    unit: str
    target: str
    passed: bool
    baseline: str = ""
    baseline_figure: float | None = None
    ratio: float | None = None


@dataclass
class Server:
    base: str
    pid: int
    env: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _wait_ready(base: str, process: subprocess.Popen[bytes], path: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited during start-up ({process.args!r})")
        try:
            if httpx.get(f"{base}{path}", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer {path}")
        time.sleep(0.2)


@contextmanager
def running_server(
    command: Sequence[str] = ("serve",), extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """A real ``amss`` server process (``amss serve`` by default; DB_URL from ``extra_env``
    or the environment, else the embedded PostgreSQL in a temporary folder)."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="amss-bench-", dir="/tmp"))
    env = {
        **os.environ,
        "AMSS_DATA_DIR": str(data_dir),
        "HTTP_ADDR": f"127.0.0.1:{port}",
        "GRPC_ADDR": f"127.0.0.1:{free_port()}",
        "WORKER_HTTP_ADDR": f"127.0.0.1:{free_port()}",
        "LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from amss.cli import main; main()", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, "/ready")
        yield Server(base, process.pid, env)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def bare_app() -> Iterator[str]:
    """The bare FastAPI baseline (bench/bare_app.py) under the same uvicorn settings."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_app", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, "/items")
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def wrk_binary() -> str | None:
    """wrk from the distribution's packages, installed here on first use when we may."""
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        found = shutil.which("wrk")
    return found


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    assert found is not None, value
    return float(found.group(1)) * _UNITS[found.group(2)]


def parse_wrk(name: str, clients: int, output: str) -> LoadResult:
    """The figures of ``wrk --latency`` output."""
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.MULTILINE))
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", output)
    assert done is not None, output
    requests, seconds = int(done.group(1)), _ms(done.group(2) + done.group(3)) / 1000
    rate_line = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert rate_line is not None, output
    rate = float(rate_line.group(1))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(failed.group(1)) if failed else 0
    if socket_errors:
        errors += sum(int(part) for part in socket_errors.groups())
    return LoadResult(
        name=name,
        requests=requests,
        concurrency=clients,
        seconds=seconds,
        requests_per_second=rate,
        p50_ms=round(_ms(percentiles["50"]), 2),
        p99_ms=round(_ms(percentiles["99"]), 2),
        errors=errors,
    )


def load(
    name: str,
    url: str,
    *,
    clients: int = 32,
    seconds: int | None = None,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
) -> LoadResult:
    """Drive ``url`` with ``clients`` connections: wrk when present (after a short warm-up),
    else a Python client (reported as such)."""
    seconds = seconds or (4 if QUICK else 10)
    binary = wrk_binary()
    if binary is None:
        return http_load(name, url, seconds=seconds, concurrency=clients, headers=headers)
    command = [binary, "-t1", f"-c{clients}", "--latency", "--timeout", "10s"]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    if script is None:  # a script's requests are not repeatable: no warm-up for those
        subprocess.run([*command, "-d2s", url], capture_output=True, check=True)
    finished = subprocess.run(
        [*command, f"-d{seconds}s", url], capture_output=True, text=True, check=True
    )
    return parse_wrk(name, clients, finished.stdout)


async def _python_load(
    url: str, seconds: float, concurrency: int, headers: dict[str, str]
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
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
    seconds: float = 10,
    concurrency: int = 32,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """The Python fallback: slower than wrk, so its figures understate the server."""
    asyncio.run(_python_load(url, 1, concurrency, headers or {}))
    latencies, errors, elapsed = asyncio.run(_python_load(url, seconds, concurrency, headers or {}))
    latencies.sort()
    return LoadResult(
        name=name,
        requests=len(latencies),
        concurrency=concurrency,
        seconds=round(elapsed, 3),
        requests_per_second=round(len(latencies) / elapsed, 1),
        p50_ms=round(statistics.median(latencies), 2),
        p99_ms=round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 2),
        errors=errors,
        tool="python",
    )


def share(benchmark: str, measure: LoadResult, baseline: LoadResult, at_least: float) -> Verdict:
    """``measure``'s requests/s as a share of ``baseline``'s: passes at ``at_least`` or more."""
    ratio = measure.requests_per_second / baseline.requests_per_second
    return Verdict(
        benchmark=benchmark,
        measure=f"{measure.name} req/s",
        figure=measure.requests_per_second,
        unit="req/s",
        baseline=f"{baseline.name} req/s",
        baseline_figure=baseline.requests_per_second,
        ratio=round(ratio, 3),
        target=f"≥ {at_least:.0%} of baseline",
        passed=ratio >= at_least and measure.errors == 0,
    )


def below(
    benchmark: str, measure: str, figure: float, unit: str, limit: float, *, errors: int = 0
) -> Verdict:
    return Verdict(
        benchmark=benchmark,
        measure=measure,
        figure=round(figure, 2),
        unit=unit,
        target=f"< {limit:g} {unit}",
        passed=figure < limit and errors == 0,
    )


def within(
    benchmark: str,
    measure: str,
    seconds: float,
    baseline: str,
    baseline_seconds: float,
    most: float,
) -> Verdict:
    """A duration at most ``most`` times its raw-SQL baseline."""
    ratio = seconds / baseline_seconds
    return Verdict(
        benchmark=benchmark,
        measure=measure,
        figure=round(seconds, 3),
        unit="s",
        baseline=baseline,
        baseline_figure=round(baseline_seconds, 3),
        ratio=round(ratio, 2),
        target=f"≤ {most:g}x baseline",
        passed=ratio <= most,
    )


def report(benchmark: str, loads: Sequence[LoadResult], verdicts: Sequence[Verdict]) -> None:
    """Print the loads and verdicts of one benchmark and write them as JSON."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if loads:
        table = Table(title=f"{benchmark}: loads")
        for column in ("workload", "tool", "clients", "requests", "req/s", "p50 ms", "p99 ms"):
            table.add_column(column)
        table.add_column("errors")
        for row in loads:
            table.add_row(
                row.name,
                row.tool,
                str(row.concurrency),
                str(row.requests),
                f"{row.requests_per_second:.1f}",
                f"{row.p50_ms:.2f}",
                f"{row.p99_ms:.2f}",
                str(row.errors),
            )
        console.print(table)
    print_verdicts(f"{benchmark}: targets", verdicts)
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{benchmark}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": benchmark,
                "quick": QUICK,
                "loads": [asdict(row) for row in loads],
                "verdicts": [asdict(row) for row in verdicts],
            },
            indent=2,
        )
    )
    console.print(f"  written to {out}")


def print_verdicts(title: str, verdicts: Sequence[Verdict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("benchmark", "measure", "figure", "baseline", "ratio", "target", "result"):
        table.add_column(column)
    for row in verdicts:
        baseline = (
            f"{row.baseline} = {row.baseline_figure:g}" if row.baseline_figure is not None else ""
        )
        table.add_row(
            row.benchmark,
            row.measure,
            f"{row.figure:g} {row.unit}",
            baseline,
            f"{row.ratio:.2f}" if row.ratio is not None else "",
            row.target,
            "[green]pass[/green]" if row.passed else "[red]FAIL[/red]",
        )
    Console().print(table)


# Audit rows for an export to stream: ``%(rows)s`` of them in organization ``%(org)s``.
AUDIT_ROWS = """
    INSERT INTO audit_logs (org_id, entity_type, entity_id, action, actor, details)
    SELECT %(org)s, 'bench', gen_random_uuid(), 'update', 'system',
           jsonb_build_object('n', g, 'note', repeat('x', 120))
    FROM generate_series(1, %(rows)s) g
"""


@dataclass
class StreamedExport:
    """One CSV export streamed from a server: rows, seconds, its RSS before and at peak."""

    rows: int
    seconds: float
    rss_before_mb: float
    rss_peak_mb: float

    @property
    def growth_mb(self) -> float:
        return self.rss_peak_mb - self.rss_before_mb


def stream_export(server: Server, path: str, headers: dict[str, str]) -> StreamedExport:
    """Stream ``path`` (a CSV export) while sampling the server's RSS every 20 ms."""
    before = rss_mb(server.pid)
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb(server.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    rows = 0
    started = time.perf_counter()
    try:
        with httpx.stream("GET", f"{server.base}{path}", headers=headers, timeout=600) as answer:
            answer.raise_for_status()
            for line in answer.iter_lines():
                rows += 1 if line else 0
    finally:
        done.set()
        sampler.join()
    return StreamedExport(rows - 1, time.perf_counter() - started, before, peak)  # no header
