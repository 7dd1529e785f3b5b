"""The image: hadolint on the Dockerfile, shellcheck on its entry point, the build context,
and what the entry point does (secrets from files, the owner role for `migrate`).

No container engine runs on this machine; CI's workflow builds the image
(.github/workflows/ci.yml). What can be checked without one is checked here.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from tests.deploy.tools import ROOT, run, tool

DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(item.split(" ", 1)[0].upper(), item.split(" ", 1)[1]) for item in logical]


def test_hadolint_passes() -> None:
    result = run(tool("hadolint"), "--no-color", "--failure-threshold", "info", str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_shellcheck_passes_on_the_entry_point_and_the_scripts() -> None:
    scripts = [ENTRYPOINT, ROOT / "deploy" / "postgres" / "init-roles.sh"]
    result = run(tool("shellcheck"), "--shell=sh", *map(str, scripts))
    assert result.returncode == 0, result.stdout


def test_multi_stage_with_a_base_pinned_by_digest_and_a_numeric_user() -> None:
    steps = instructions()
    args = dict(item.split("=", 1) for kind, item in steps if kind == "ARG" and "=" in item)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", base), base
    assert "docker buildx imagetools inspect" in DOCKERFILE.read_text()  # how to refresh it
    stages = [item for kind, item in steps if kind == "FROM"]
    assert stages == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]
    runtime = steps[[i for i, (kind, _) in enumerate(steps) if kind == "FROM"][1] :]
    users = [item for kind, item in runtime if kind == "USER"]
    assert users == ["10001:10001"]
    assert ("ENTRYPOINT", '["amss-entrypoint"]') in runtime
    assert ("CMD", '["server"]') in runtime
    exposed = {port for kind, item in runtime if kind == "EXPOSE" for port in item.split()}
    assert exposed == {"8080", "9090", "9091"}


def test_the_build_context_holds_what_the_dockerfile_copies_and_no_more() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # everything out, then what the build needs back in
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = {
        source
        for kind, item in instructions()
        if kind == "COPY" and not item.startswith("--from")
        for source in item.split()[:-1]
        if not source.startswith("--")
    }
    assert copied <= included
    for path in included:
        assert (ROOT / path).exists(), path
    assert os.stat(ENTRYPOINT).st_mode & stat.S_IXUSR


def _fake_amss(folder: Path) -> dict[str, str]:
    """An `amss` that prints the variables the entry point prepares, then its arguments."""
    fake = folder / "amss"
    fake.write_text(
        "#!/bin/sh\n"
        'printf "DB_URL=%s\\n" "${DB_URL:-}"\n'
        'printf "JWT_PRIVATE_KEY_PEM=%s\\n" "${JWT_PRIVATE_KEY_PEM:-}"\n'
        'printf "SECRETS_KEY=%s\\n" "${SECRETS_KEY:-}"\n'
        'printf "SECRETS_KEY_FILE=%s\\n" "${SECRETS_KEY_FILE:-}"\n'
        'printf "ARGS=%s\\n" "$*"\n'
    )
    fake.chmod(0o755)
    return {"PATH": f"{folder}:/usr/bin:/bin"}


def _entrypoint(env: dict[str, str], *args: str) -> tuple[int, dict[str, str], str]:
    """Run the entry point with exactly ``env``; what the fake ``amss`` printed."""
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=30
    )
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return result.returncode, values, result.stderr


def test_the_entry_point_reads_secrets_from_files(tmp_path: Path) -> None:
    env = _fake_amss(tmp_path)
    (tmp_path / "key.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"
    )
    (tmp_path / "secrets_key").write_text("c2VjcmV0LWtleS1vZi0zMi1ieXRlcy0xMjM0NTY3OA==\n")
    code, seen, _ = _entrypoint(
        {
            **env,
            "JWT_PRIVATE_KEY_PEM_FILE": str(tmp_path / "key.pem"),
            "SECRETS_KEY_FILE": str(tmp_path / "secrets_key"),
        },
        "server",
    )
    assert code == 0
    assert seen["ARGS"] == "server"
    assert seen["SECRETS_KEY"] == "c2VjcmV0LWtleS1vZi0zMi1ieXRlcy0xMjM0NTY3OA=="
    assert seen["SECRETS_KEY_FILE"] == ""  # not passed on: one source of truth
    assert seen["JWT_PRIVATE_KEY_PEM"] == "-----BEGIN PRIVATE KEY-----"  # first line printed


def test_the_entry_point_refuses_ambiguous_or_unreadable_secrets(tmp_path: Path) -> None:
    env = _fake_amss(tmp_path)
    code, _, error = _entrypoint(
        {**env, "SECRETS_KEY": "x", "SECRETS_KEY_FILE": str(tmp_path / "k")}, "server"
    )
    assert code == 2 and "both SECRETS_KEY and SECRETS_KEY_FILE" in error
    code, _, error = _entrypoint({**env, "SECRETS_KEY_FILE": str(tmp_path / "absent")}, "server")
    assert code == 2 and "cannot read" in error


def test_migrate_connects_as_the_owner_role_and_nothing_else_does(tmp_path: Path) -> None:
    env = {
        **_fake_amss(tmp_path),
        "DB_URL": "postgresql://amss_app@db/amss",
        "DB_MIGRATE_URL": "postgresql://amss_owner@db/amss",
    }
    assert _entrypoint(env, "migrate")[1]["DB_URL"] == "postgresql://amss_owner@db/amss"
    for command in ("server", "worker"):
        assert _entrypoint(env, command)[1]["DB_URL"] == "postgresql://amss_app@db/amss"
    # Without DB_MIGRATE_URL, migrate keeps DB_URL (one role for both).
    single = {key: value for key, value in env.items() if key != "DB_MIGRATE_URL"}
    assert _entrypoint(single, "migrate")[1]["DB_URL"] == "postgresql://amss_app@db/amss"


def test_the_entry_point_runs_the_real_cli(database_url: str) -> None:
    """`migrate --check` through the entry point, with the owner URL only in DB_MIGRATE_URL."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        # The code under test, where a checkout runs it through PYTHONPATH.
        **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        "DB_URL": "postgresql://nobody@127.0.0.1:1/unreachable",
        "DB_MIGRATE_URL": database_url,
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "migrate", "--check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout
