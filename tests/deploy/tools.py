"""The real tools the deployment tests run, and how a test says one is missing.

hadolint, actionlint, shellcheck, check-jsonschema, the Helm engine (helm-python-sdk)
and kubernetes-validate are dev dependencies (pyproject.toml): missing means the
environment is broken, and the test fails. promtool comes from Debian's `prometheus`
package, which `.ci/run` unpacks; outside CI a test that needs it is skipped with the
command that installs it, and in CI (CI=true) it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """The path of a command shipped by a dev dependency (next to this interpreter)."""
    found = VENV_BIN / name
    if found.exists():
        return str(found)
    on_path = shutil.which(name)
    if on_path:
        return on_path
    pytest.fail(f"{name} is missing: it is a dev dependency; run `make test` (installs .[dev])")


def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    message = (
        "promtool is missing: it comes from Debian's `prometheus` package; "
        "`bash .ci/run` unpacks it, or run: apt-get download prometheus && "
        "dpkg-deb -x prometheus_*.deb /opt/prometheus && ln -s /opt/prometheus/usr/bin/promtool "
        "/usr/local/bin/promtool"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run(*command: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
