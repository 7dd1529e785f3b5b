"""A Redis that CI configured but cannot reach fails the Redis tests; it never lets them
pass as skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_an_unreachable_configured_redis_fails_instead_of_skipping() -> None:
    env = {**os.environ, "AMSS_TEST_REDIS_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/webhooks/test_stream.py::test_events_are_appended_to_the_stream",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout and "skipped" not in result.stdout, result.stdout
    assert "is set but Redis does not answer" in result.stdout
