"""Production fails closed (SPEC §10): the commands that default to production refuse to start
without their keys, never create demo users, warn about missing proxies, and client addresses
come only from TRUSTED_PROXIES (uvicorn's own proxy-header handling is off)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from amss.app import create_app
from amss.cli import http_server
from amss.config import ConfigurationError, load_settings
from amss.db.engine import Database
from amss.kit.keys import KeyPair
from tests.support.factories import make_org, make_user
from tests.support.live import free_port

# Only what a bare machine has: no APP_ENV, no keys, no database.
BARE = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LOG_LEVEL": "warning"}


def amss(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from amss.cli import main; main()", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", ["server", "worker"])
def test_server_and_worker_with_an_empty_environment_refuse_and_say_why(
    command: str, tmp_path: Path
) -> None:
    result = amss(command, env=BARE, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stderr
    assert "refusing to start in production" in message
    for variable in ("DB_URL", "JWT_PRIVATE_KEY_PEM", "SECRETS_KEY"):
        assert variable in message, message
    assert "Traceback" not in message
    assert not (tmp_path / "data").exists()  # no development keys made behind our back


def production_env(keys: KeyPair, **extra: str) -> dict[str, str]:
    return {
        **BARE,
        "APP_ENV": "production",
        "JWT_PRIVATE_KEY_PEM": keys.private_pem,
        "JWT_PUBLIC_KEY_PEM": keys.public_pem,
        "SECRETS_KEY": Fernet.generate_key().decode(),
        **extra,
    }


@pytest.mark.parametrize(
    ("args", "what"), [(["seed"], "'amss seed'"), (["serve", "--demo"], "--demo")]
)
def test_production_never_creates_demo_users(
    args: list[str], what: str, signing_keys: KeyPair, tmp_path: Path
) -> None:
    result = amss(*args, env=production_env(signing_keys), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "APP_ENV" in result.stderr and what in result.stderr
    assert "refused in production" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before any database was started


def test_production_warns_when_no_proxy_is_trusted(
    signing_keys: KeyPair, tmp_path: Path, postgres_admin_url: str
) -> None:
    # A database with no schema: the server stops at "run 'amss migrate' first", after the
    # start-up checks have spoken.
    from tests.conftest import create_database, drop_database

    name = f"amss_prod_{uuid.uuid4().hex[:8]}"
    url = create_database(postgres_admin_url, name)
    try:
        result = amss("server", env=production_env(signing_keys, DB_URL=url), cwd=tmp_path)
    finally:
        drop_database(postgres_admin_url, name)
    assert result.returncode == 1, result.stderr
    assert "TRUSTED_PROXIES is empty" in result.stderr
    assert "amss migrate" in result.stderr


def test_a_bad_secrets_key_names_the_variable_and_never_echoes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECRETS_KEY", "not-a-fernet-key-but-a-secret-all-the-same")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "SECRETS_KEY:" in str(caught.value)
    assert "not-a-fernet-key" not in str(caught.value)


def test_several_secrets_keys_are_accepted_for_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = f"{Fernet.generate_key().decode()}, {Fernet.generate_key().decode()}"
    monkeypatch.setenv("SECRETS_KEY", keys)
    assert load_settings().secrets_key == keys


async def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
    settings: object, database: Database, signing_keys: KeyPair
) -> None:
    """A real uvicorn with AMSS's configuration: a spoofed X-Forwarded-For from an untrusted
    peer (127.0.0.1 is in uvicorn's own default trust list) does not reach the audit trail."""
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Proxy {uuid.uuid4().hex[:8]}")
        user = await make_user(conn, org_id, "viewer")
    app = create_app(settings, database)  # type: ignore[arg-type]
    port = free_port()
    server = http_server(app, ("127.0.0.1", port))
    assert server.config.proxy_headers is False
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            response = await http.post(
                "/api/v1/auth/login",
                json={"email": user.email, "password": "wrong password!", "org_id": str(org_id)},
                headers={"X-Forwarded-For": "203.0.113.77"},
            )
        assert response.status_code == 401
    finally:
        server.should_exit = True
        await serving
    async with database.engine.connect() as conn:
        address = await conn.scalar(
            text(
                "SELECT ip_address FROM audit_logs WHERE org_id = :o AND action = 'login'"
                " ORDER BY seq DESC LIMIT 1"
            ),
            {"o": org_id},
        )
    assert str(address) == "127.0.0.1"
