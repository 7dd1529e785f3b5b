"""scripts/smoke_test.sh on `make run`'s setup: the repository's environment, `amss serve
--demo` on the embedded PostgreSQL in a temporary AMSS_DATA_DIR, a free port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.deploy.tools import ROOT, run, tool

SCRIPT = ROOT / "scripts" / "smoke_test.sh"


def test_shellcheck_passes_on_the_smoke_test() -> None:
    result = run(tool("shellcheck"), str(SCRIPT))
    assert result.returncode == 0, result.stdout


def test_the_smoke_test_passes_on_the_embedded_demo(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DB_URL", "REDIS_URL", "REDIS_ADDR"}},
        "AMSS": str(Path(sys.executable).parent / "amss"),
        "AMSS_DATA_DIR": str(tmp_path / "data"),
        "TMPDIR": str(tmp_path),
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke test passed" in result.stdout
    for step in ("login as scheduler@demo.local", "task generated", "metrics"):
        assert f"ok    {step}" in result.stdout


def test_the_smoke_test_fails_when_nothing_answers(tmp_path: Path) -> None:
    """A base URL where nothing listens: exit 1 and a FAIL line naming the step."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there: the very first call fails, and says so.
    result = subprocess.run(
        ["bash", str(SCRIPT), f"http://127.0.0.1:{port}"],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "FAIL: GET /health: no answer" in result.stderr
