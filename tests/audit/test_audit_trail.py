"""The audit trail: written with every change, immutable, hash-chained, verifiable, exportable."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import os
import subprocess
import sys
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from tests.support.factories import bearer, make_org, make_user


async def test_a_change_writes_who_what_and_old_new_without_secrets(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    admin = await make_user(connection, org_id, "tenant_admin")
    headers = {
        **bearer(app.state.signer, admin),
        "x-request-id": "audit-req-1",
        "user-agent": "probe/1.0",
    }
    created = await client.post(
        "/api/v1/users",
        json={
            "email": "new.mechanic@example.com",
            "password": "s3cret-password!",
            "role": "mechanic",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    changed = await client.patch(
        f"/api/v1/users/{user_id}",
        json={"role": "scheduler", "password": "an0ther-secret-pw"},
        headers=headers,
    )
    assert changed.status_code == 200
    logs = await client.get(f"/api/v1/audit-logs?entity_id={user_id}", headers=headers)
    assert logs.status_code == 200
    rows = logs.json()
    assert [row["action"] for row in rows] == ["update", "create"]  # newest first
    update, create = rows
    assert update["details"]["changes"] == {"role": {"old": "mechanic", "new": "scheduler"}}
    assert update["details"]["password_changed"] is True
    assert create["details"]["new"]["email"] == "new.mechanic@example.com"
    for row in rows:
        assert row["user_id"] == str(admin.id)
        assert row["request_id"] == "audit-req-1"
        assert row["user_agent"] == "probe/1.0"
        assert row["ip_address"] == "127.0.0.1"
        assert "secret" not in str(row["details"]) and "argon2" not in str(row["details"])
    assert update["entity_version"] == 2
    assert logs.headers["x-total-count"] == "2"


async def test_audit_rows_cannot_be_updated_or_deleted(connection: AsyncConnection) -> None:
    org_id = await make_org(connection)
    await connection.execute(
        text(
            "INSERT INTO audit_logs (org_id, entity_type, action, prev_hash, hash)"
            " VALUES (:o, 'probe', 'create', '', '')"
        ),
        {"o": org_id},
    )
    for statement in (
        "UPDATE audit_logs SET details = '{\"forged\": true}' WHERE org_id = :o",
        "DELETE FROM audit_logs WHERE org_id = :o",
    ):
        savepoint = await connection.begin_nested()
        with pytest.raises(DBAPIError, match="immutable"):
            await connection.execute(text(statement), {"o": org_id})
        await savepoint.rollback()


async def test_audit_rows_cannot_be_truncated(connection: AsyncConnection) -> None:
    org_id = await make_org(connection)
    await connection.execute(
        text(
            "INSERT INTO audit_logs (org_id, entity_type, action, prev_hash, hash)"
            " VALUES (:o, 'probe', 'create', '', '')"
        ),
        {"o": org_id},
    )
    before = await connection.scalar(text("SELECT count(*) FROM audit_logs"))
    assert before >= 1
    for statement in ("TRUNCATE audit_logs", "TRUNCATE audit_logs CASCADE"):
        savepoint = await connection.begin_nested()
        with pytest.raises(DBAPIError, match=r"immutable \(TRUNCATE refused\)"):
            await connection.execute(text(statement))
        await savepoint.rollback()
    assert await connection.scalar(text("SELECT count(*) FROM audit_logs")) == before


async def write_chain(connection: AsyncConnection, org_id: uuid.UUID, count: int) -> None:
    for number in range(count):
        await connection.execute(
            text(
                "INSERT INTO audit_logs (org_id, entity_type, action, details, prev_hash, hash) "
                "VALUES (:o, 'probe', 'update', CAST(:d AS jsonb), '', '')"
            ),
            {"o": org_id, "d": f'{{"n": {number}}}'},
        )


async def test_seq_is_gapless_and_each_row_links_to_the_previous(
    connection: AsyncConnection,
) -> None:
    org_id = await make_org(connection)
    await write_chain(connection, org_id, 5)
    rows = (
        await connection.execute(
            text("SELECT seq, prev_hash, hash FROM audit_logs WHERE org_id = :o ORDER BY seq"),
            {"o": org_id},
        )
    ).all()
    assert [row.seq for row in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == ""
    for previous, row in itertools.pairwise(rows):
        assert row.prev_hash == previous.hash
    assert len({row.hash for row in rows}) == 5


async def verify(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, object]:
    response = await client.get("/api/v1/audit-logs/verify", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


async def test_tampering_is_reported_at_the_tampered_row(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    auditor = await make_user(connection, org_id, "auditor")
    headers = bearer(app.state.signer, auditor)
    await write_chain(connection, org_id, 6)
    assert await verify(client, headers) == {
        "ok": True,
        "checked": 6,
        "first_broken_seq": None,
        "first_broken_id": None,
    }
    tampered_id = (
        await connection.execute(
            text("SELECT id FROM audit_logs WHERE org_id = :o AND seq = 4"), {"o": org_id}
        )
    ).scalar_one()
    # As the superuser would: bypass the trigger and rewrite history.
    await connection.execute(text("SET LOCAL session_replication_role = replica"))
    await connection.execute(
        text("UPDATE audit_logs SET details = '{\"n\": 99}' WHERE id = :id"), {"id": tampered_id}
    )
    await connection.execute(text("SET LOCAL session_replication_role = origin"))
    assert await verify(client, headers) == {
        "ok": False,
        "checked": 6,
        "first_broken_seq": 4,
        "first_broken_id": str(tampered_id),
    }


async def test_deleted_rows_are_reported(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    headers = bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin"))
    await write_chain(connection, org_id, 5)
    await connection.execute(text("SET LOCAL session_replication_role = replica"))
    await connection.execute(
        text("DELETE FROM audit_logs WHERE org_id = :o AND seq IN (3, 5)"), {"o": org_id}
    )
    await connection.execute(text("SET LOCAL session_replication_role = origin"))
    result = await verify(client, headers)
    assert result["ok"] is False and result["first_broken_seq"] == 4


async def test_export_streams_every_matching_row_as_csv_and_is_audited(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    auditor = await make_user(connection, org_id, "auditor")
    await write_chain(connection, org_id, 2500)
    response = await client.get(
        "/api/v1/audit-logs/export?entity_type=probe", headers=bearer(app.state.signer, auditor)
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 2500
    assert [int(row["seq"]) for row in rows] == list(range(1, 2501))
    exports = (
        await connection.execute(
            text(
                "SELECT count(*) FROM audit_logs"
                " WHERE org_id = :o AND action = 'export' AND user_id = :u"
            ),
            {"o": org_id, "u": auditor.id},
        )
    ).scalar_one()
    assert exports == 1


async def test_list_filters_are_validated(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    headers = bearer(app.state.signer, await make_user(connection, org_id, "auditor"))
    for query in (
        "action=explode",
        "entity_id=not-a-uuid",
        "from=yesterday",
        "limit=0",
        "limit=501",
    ):
        response = await client.get(f"/api/v1/audit-logs?{query}", headers=headers)
        assert response.status_code == 400, query
        assert response.json()["code"] == "validation"


async def test_concurrent_writers_keep_one_gapless_chain(database: Database) -> None:
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"Chain {uuid.uuid4().hex[:8]}")

    async def writer(number: int) -> None:
        async with database.engine.begin() as conn:
            await write_chain(conn, org_id, 3)

    await asyncio.gather(*(writer(n) for n in range(8)))
    async with database.engine.connect() as conn:
        seqs = (
            (
                await conn.execute(
                    text("SELECT seq FROM audit_logs WHERE org_id = :o ORDER BY seq"), {"o": org_id}
                )
            )
            .scalars()
            .all()
        )
    assert list(seqs) == list(range(1, 25))


def test_cli_verify_reports_ok_and_broken(database_url: str) -> None:
    import psycopg

    from amss.db.engine import libpq_url

    org_id = uuid.uuid4()
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO organizations (id, name) VALUES (%s, %s)",
            (org_id, f"CLI {org_id.hex[:8]}"),
        )
        for number in range(3):
            conn.execute(
                "INSERT INTO audit_logs (org_id, entity_type, action, details, prev_hash, hash) "
                "VALUES (%s, 'probe', 'update', %s, '', '')",
                (org_id, f'{{"n": {number}}}'),
            )
    env = {**os.environ, "DB_URL": database_url, "LOG_LEVEL": "warning"}
    command = [
        sys.executable,
        "-c",
        "from amss.cli import main; main()",
        "audit",
        "verify",
        "--org",
        str(org_id),
    ]
    healthy = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "3 rows" in healthy.stdout
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE audit_logs SET details = '{\"n\": 7}' WHERE org_id = %s AND seq = 2", (org_id,)
        )
    broken = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1
    assert "first broken seq 2" in broken.stdout
