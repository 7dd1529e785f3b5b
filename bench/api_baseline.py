"""HTTP baseline: ``GET /health`` (no I/O) against ``GET /ready`` (one database round trip).

Later API benchmarks (SPEC §13) are expressed as a share of the /health rate measured here.
"""

from __future__ import annotations

from bench.harness import http_load, report, running_server


def run() -> None:
    with running_server() as base:
        health = http_load("GET /health", f"{base}/health")
        ready = http_load("GET /ready", f"{base}/ready")
    report(
        "api_baseline",
        [health, ready],
        {"ready_rps / health_rps": ready.requests_per_second / health.requests_per_second},
    )
