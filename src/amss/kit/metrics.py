"""Prometheus metrics shared by the whole process (SPEC §12)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

http_requests_total = Counter(
    "amss_http_requests_total",
    "HTTP requests served, by route template, method and status.",
    ["route", "method", "status"],
)
http_request_duration_seconds = Histogram(
    "amss_http_request_duration_seconds",
    "HTTP request duration in seconds, by route template.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
job_runs_total = Counter("amss_job_runs_total", "Jobs run, by job.", ["job"])
job_failures_total = Counter(
    "amss_job_failures_total",
    "Jobs (or one organization's share of a periodic job) that raised, by job.",
    ["job"],
)
tasks_generated_total = Counter(
    "amss_tasks_generated_total", "Maintenance tasks created by the generator."
)
imports_rows_total = Counter(
    "amss_imports_rows_total",
    "Rows of finished imports, by type and status (applied, unchanged, valid in a dry run, "
    "invalid).",
    ["type", "status"],
)
grpc_requests_total = Counter(
    "amss_grpc_requests_total",
    "gRPC calls answered, by full method name and status code.",
    ["method", "code"],
)
