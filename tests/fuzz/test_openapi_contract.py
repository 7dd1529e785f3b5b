"""Schemathesis with every check against a live server: no 5xx, and an OpenAPI document
that tells the truth (issue 12).

Integrators generate clients from ``/openapi.json``; a document that forbids what the API
accepts, or allows what it refuses, breaks them at run time. The schemathesis command line
runs its examples, coverage and fuzzing phases over every operation as an authenticated
admin, with the fixed seed and the few per-operation exceptions of
``tests/fuzz/schemathesis.toml`` (each says why no document could state its rule).
``AMSS_FUZZ_EXAMPLES`` sets how many examples each operation gets (CI: the default).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support import live

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "tests" / "fuzz" / "schemathesis.toml"
EXAMPLES = os.environ.get("AMSS_FUZZ_EXAMPLES", "5")
KNOWN_CRASH = "SystemError: AST constructor recursion depth mismatch"


def admin_token(base: str) -> str:
    """The demo admin's token, with a rate limit the fuzzer's own run cannot reach."""
    login = httpx.post(
        f"{base}/api/v1/auth/login",
        json={"email": "admin@demo.local", "password": "ChangeMe123!"},
    )
    token: str = login.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    me = httpx.get(f"{base}/api/v1/auth/me", headers=auth).json()
    raised = httpx.patch(
        f"{base}/api/v1/organizations/{me['org_id']}/policy",
        json={"api_rate_limit_per_min": 1_000_000},
        headers=auth,
    )
    assert raised.status_code == 200, raised.text
    return token


def test_schemathesis_finds_no_failure_with_every_check(postgres_admin_url: str) -> None:
    with live.demo_server(postgres_admin_url, WEBHOOK_ALLOW_PRIVATE="true") as (base, _):
        token = admin_token(base)
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(CONFIG),
                "--no-color",
                "run",
                f"{base}/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                EXAMPLES,
                "--workers",
                "2",
            ],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
    report = run.stdout + run.stderr
    assert "Failures:" not in report, report[-12000:]
    if run.returncode != 0:
        # Schemathesis's own crash is not the API's failure; only the known one passes:
        # CPython 3.11 sometimes raises this SystemError when schemathesis compiles its
        # coverage strategies. Its operation is still fuzzed in the next phase.
        errors = re.search(r"Runtime Error: (\d+)", report)
        assert errors and report.count(KNOWN_CRASH) >= int(errors[1]), report[-12000:]
    # The run really exercised the API: every operation, thousands of requests.
    selected = re.search(r"Selected: (\d+)/(\d+)", report)
    tested = re.search(r"Tested: (\d+)", report)
    generated = re.search(r"(\d+) generated, (\d+) passed", report)
    assert selected and tested and generated, report[-3000:]
    assert int(tested[1]) == int(selected[2]) > 60, report[-3000:]
    assert int(generated[1]) == int(generated[2]) > 1000, report[-3000:]
