"""CSV exports neutralise cells a spreadsheet would run as formulas; client IPs are inet."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.kit.csvsafe import csv_lines, neutralise
from tests.support.factories import bearer, make_org, make_user


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain text", "plain text"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),
        (None, None),
    ],
)
def test_formula_cells_are_neutralised(cell: object, shown: object) -> None:
    assert neutralise(cell) == shown


def test_csv_lines_quotes_and_neutralises_every_cell() -> None:
    text_out = csv_lines([["=1+1", 'say "hi"', 7]])
    assert list(csv.reader(io.StringIO(text_out))) == [["'=1+1", 'say "hi"', "7"]]


async def test_the_audit_export_neutralises_what_clients_wrote(
    client: httpx.AsyncClient, app: FastAPI, connection: AsyncConnection
) -> None:
    org_id = await make_org(connection)
    admin = await make_user(connection, org_id, "tenant_admin")
    headers = bearer(app.state.signer, admin)
    evil_agent = '=HYPERLINK("http://evil.example","click")'
    created = await client.post(
        "/api/v1/aircraft",
        json={"tail_number": "N1CSV", "model": "@SUM(1)"},
        headers={**headers, "User-Agent": evil_agent},
    )
    assert created.status_code == 201, created.text
    export = await client.get("/api/v1/audit-logs/export?entity_type=aircraft", headers=headers)
    rows = list(csv.DictReader(io.StringIO(export.text)))
    [row] = rows
    assert row["user_agent"] == "'" + evil_agent
    assert all(not value.startswith(("=", "+", "-", "@", "\t", "\r")) for value in row.values())
    # The client address is an inet, read back as text in the export and the API.
    column_type = await connection.scalar(
        text(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'audit_logs' AND column_name = 'ip_address'"
        )
    )
    assert column_type == "inet"
    assert row["ip_address"] == "127.0.0.1"
    listed = await client.get("/api/v1/audit-logs?entity_type=aircraft", headers=headers)
    assert listed.json()[0]["ip_address"] == "127.0.0.1"
    verified = await client.get("/api/v1/audit-logs/verify", headers=headers)
    assert verified.json()["ok"] is True
