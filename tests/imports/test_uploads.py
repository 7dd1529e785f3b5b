"""Uploading a file to import (SPEC §8, issue 12): every unusable upload is a clear 4xx
before anything is stored; the body is read only for an authenticated caller, streamed,
capped in size, in time and in number at once."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import date, timedelta

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import Workbook
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.app import create_app
from amss.config import Settings
from amss.db.engine import Database
from amss.kit import uploads
from tests.conftest import serve_app
from tests.imports.support import csv_of, post_file, process, rows_of, upload
from tests.support.api import assert_error, url
from tests.support.dates import today
from tests.support.polling import eventually
from tests.support.tenant import Tenant, make_tenant

AIRCRAFT = csv_of(["tail_number", "model"], [["N1", "C172"]])


async def stored(connection: AsyncConnection, tenant: Tenant) -> int:
    count = await connection.scalar(
        text("SELECT count(*) FROM imports WHERE org_id = :org"), {"org": tenant.id}
    )
    return int(count or 0)


@pytest.mark.parametrize(
    ("import_type", "content", "status", "field", "contains"),
    [
        ("fleet", AIRCRAFT, 400, "type", "'fleet' is not one of"),
        (None, AIRCRAFT, 400, "type", "required"),
        ("aircraft", None, 400, "file", "required"),
        ("aircraft", b"", 400, "file", "empty"),
        ("aircraft", b"\n\n", 400, "file", "empty"),
        ("aircraft", b"tail_number,model\r\n", 400, "file", "no data rows"),
        ("aircraft", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 415, "file", "binary"),
        (
            "aircraft",
            "tail_number,model\nN1,Cessna Caf\xe9\n".encode("latin-1"),
            415,
            "file",
            "UTF-8",
        ),
        ("aircraft", csv_of(["tail_number", "serial"], [["N1", "1"]]), 400, "file", "model"),
        ("utilization", AIRCRAFT, 400, "file", "flight_date, flight_hours, cycles, external_id"),
        ("aircraft", b"PK\x03\x04not really a workbook", 415, "file", "XLSX"),
    ],
)
async def test_an_unusable_upload_is_refused_before_anything_is_stored(
    tenant: Tenant,
    connection: AsyncConnection,
    import_type: str | None,
    content: bytes | None,
    status: int,
    field: str,
    contains: str,
) -> None:
    response = await post_file(tenant.as_("scheduler"), import_type, content)
    assert_error(response, status, field=field, contains=contains)
    assert await stored(connection, tenant) == 0


async def test_dry_run_must_be_a_boolean(tenant: Tenant, connection: AsyncConnection) -> None:
    response = await post_file(tenant.as_("scheduler"), "aircraft", AIRCRAFT, dry_run="maybe")
    assert_error(response, 400, field="dry_run")
    assert await stored(connection, tenant) == 0


async def test_a_json_body_is_refused(tenant: Tenant) -> None:
    response = await tenant.as_("scheduler").post("/imports/csv", {"type": "aircraft"})
    assert_error(response, 415, contains="multipart/form-data")


async def test_only_planners_import_and_auditors_read(tenant: Tenant) -> None:
    assert_error(await post_file(tenant.as_("mechanic"), "aircraft", AIRCRAFT), 403)
    pending = await upload(tenant.as_("tenant_admin"), "aircraft", AIRCRAFT)
    response = await tenant.as_("auditor").get(f"/imports/{pending['id']}")
    assert response.status_code == 200
    assert_error(await tenant.as_("viewer").get(f"/imports/{pending['id']}"), 403)


async def test_a_file_over_the_limit_is_413_and_nothing_is_stored(
    settings: Settings, db: Database, tenant: Tenant, connection: AsyncConnection
) -> None:
    small = create_app(settings.model_copy(update={"import_max_bytes": 64}), db)
    async with serve_app(small) as http:
        planner = tenant.as_("scheduler")
        big = csv_of(["tail_number", "model"], [[f"N{n}", "C172"] for n in range(20)])
        response = await http.post(
            url("/imports/csv"),
            data={"type": "aircraft"},
            files={"file": ("fleet.csv", big, "text/csv")},
            headers=planner.headers,
        )
        assert_error(response, 413)
        # With an Idempotency-Key the body is read (after authentication) to fingerprint
        # the request: past the limit it is the same 413.
        keyed = await http.post(
            url("/imports/csv"),
            data={"type": "aircraft"},
            files={"file": ("fleet.csv", big, "text/csv")},
            headers={**planner.headers, "Idempotency-Key": "big-upload"},
        )
        assert_error(keyed, 413)
        fits = await http.post(
            url("/imports/csv"),
            data={"type": "aircraft"},
            files={"file": ("fleet.csv", AIRCRAFT, "text/csv")},
            headers=planner.headers,
        )
        assert fits.status_code == 202, fits.text
    assert await stored(connection, tenant) == 1


class Body:
    """A multipart body sent in two parts: the head at once, the rest when released."""

    def __init__(self, content: bytes) -> None:
        boundary = "amss-test-boundary"
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self.head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\naircraft\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="fleet.csv"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        self.tail = content + f"\r\n--{boundary}--\r\n".encode()
        self.release = asyncio.Event()
        self.rest_read = False

    async def stream(self) -> AsyncIterator[bytes]:
        yield self.head
        await self.release.wait()
        self.rest_read = True
        yield self.tail


async def send(http: httpx.AsyncClient, body: Body, headers: dict[str, str]) -> httpx.Response:
    return await http.post(
        url("/imports/csv"),
        content=body.stream(),
        headers={**headers, "content-type": body.content_type},
    )


async def test_the_body_is_not_read_before_the_caller_is_authenticated(
    client: httpx.AsyncClient,
) -> None:
    body = Body(AIRCRAFT)
    body.release.set()
    response = await send(client, body, {})
    assert_error(response, 401)
    assert body.rest_read is False


async def test_a_slow_body_times_out(
    tenant: Tenant, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "UPLOAD_SECONDS", 0.2)
    body = Body(AIRCRAFT)  # never released: a client that stops sending
    response = await send(client, body, tenant.headers("scheduler"))
    assert_error(response, 400, contains="did not arrive within 0.2 s")


async def test_uploads_at_once_are_capped(
    tenant: Tenant, app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uploads, "MAX_CONCURRENT_UPLOADS", 1)
    first = Body(AIRCRAFT)
    receiving = asyncio.create_task(send(client, first, tenant.headers("scheduler")))
    await eventually(
        lambda: (
            getattr(app.state, "upload_slots", None) is not None and app.state.upload_slots.locked()
        ),
        what="the first upload holding the only slot",
    )

    refused = await post_file(tenant.as_("scheduler"), "aircraft", AIRCRAFT)
    body = assert_error(refused, 503, contains="uploads are being received")
    assert refused.headers["retry-after"] == str(uploads.UPLOAD_RETRY_AFTER_SECONDS)
    assert body

    first.release.set()
    assert (await receiving).status_code == 202
    assert (await post_file(tenant.as_("scheduler"), "aircraft", AIRCRAFT)).status_code == 202


async def test_headers_are_case_insensitive_with_a_bom_and_extra_columns_reported(
    tenant: Tenant, db: Database
) -> None:
    planner = tenant.as_("scheduler")
    content = csv_of(
        [" Tail_Number ", "MODEL", "Owner", "Notes"], [["N5", "C182", "ACME", ""]], bom=True
    )
    done = await process(db, planner, await upload(planner, "aircraft", content))
    assert done["ignored_columns"] == ["Owner", "Notes"]
    assert done["summary"]["applied"] == 1
    [row] = await rows_of(planner, done["id"])
    assert row["raw"] == {"Tail_Number": "N5", "MODEL": "C182", "Owner": "ACME", "Notes": ""}


def workbook(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.create_sheet("Ignored").append(["tail_number", "model"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_an_xlsx_workbook_imports_its_first_sheet(tenant: Tenant, db: Database) -> None:
    planner = tenant.as_("scheduler")
    fleet = workbook(
        [
            ["Tail_Number", "Model", "Flight_Hours_Total", "Cycles_Total"],
            ["N6", "PA28", 1234.5, 800],
        ]
    )
    done = await process(
        db, planner, await upload(planner, "aircraft", fleet, filename="fleet.xlsx")
    )
    assert (done["format"], done["summary"]["applied"]) == ("xlsx", 1)
    [row] = await rows_of(planner, done["id"])
    craft = (await planner.get(f"/aircraft/{row['entity_id']}")).json()
    assert (craft["flight_hours_total"], craft["cycles_total"]) == (1234.5, 800)

    yesterday = today() - timedelta(days=1)
    log = workbook(
        [
            ["tail_number", "flight_date", "flight_hours", "cycles", "external_id"],
            ["N6", yesterday, 1.5, 1, 1001],
            ["N6", date.isoformat(yesterday), 2, 2, "1002"],
        ]
    )
    flown = await process(
        db, planner, await upload(planner, "utilization", log, filename="log.xlsx")
    )
    assert flown["summary"]["applied"] == 2, await rows_of(planner, flown["id"])
    craft = (await planner.get(f"/aircraft/{row['entity_id']}")).json()
    assert (craft["flight_hours_total"], craft["cycles_total"]) == (1238.0, 803)


async def test_an_admin_imports_into_another_organization(
    tenant: Tenant, db: Database, client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    other = await make_tenant(connection, tenant.signer, client, roles=["scheduler"])
    admin = tenant.as_("admin")
    response = await post_file(admin, "aircraft", AIRCRAFT, params={"org_id": str(other.id)})
    assert response.status_code == 202, response.text
    pending = response.json()
    assert pending["org_id"] == str(other.id)
    assert pending["created_by"] == str(tenant.users["admin"].id)
    actor = await connection.scalar(
        text("SELECT user_id FROM audit_logs WHERE org_id = :org AND request_id = :request"),
        {"org": other.id, "request": response.headers["x-request-id"]},
    )
    assert actor == tenant.users["admin"].id
    done = await process(db, other.as_("scheduler"), pending)
    assert done["summary"]["applied"] == 1
    assert await stored(connection, tenant) == 0
    # Anyone else's org_id is ignored: they import into their own organization.
    mine = await post_file(
        tenant.as_("scheduler"), "aircraft", AIRCRAFT, params={"org_id": str(other.id)}
    )
    assert mine.json()["org_id"] == str(tenant.id)


async def test_a_repeated_upload_with_an_idempotency_key_stores_one_import(
    tenant: Tenant, connection: AsyncConnection
) -> None:
    planner = tenant.as_("scheduler")
    body = Body(AIRCRAFT)  # the same bytes twice, as a client retrying sends them
    content = body.head + body.tail
    headers = {
        **planner.headers,
        "Idempotency-Key": "fleet-2026-11",
        "content-type": body.content_type,
    }
    first = await planner.client.post(url("/imports/csv"), content=content, headers=headers)
    again = await planner.client.post(url("/imports/csv"), content=content, headers=headers)
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert first.json()["id"] == again.json()["id"]
    assert await stored(connection, tenant) == 1


def test_the_upload_is_documented_with_its_errors(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/api/v1/imports/csv"]["post"]
    body = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["type", "file"]
    assert {"400", "401", "403", "413", "415", "429", "503"} <= operation["responses"].keys()


async def test_a_csv_broken_further_down_fails_the_import_saying_where(
    tenant: Tenant, db: Database, connection: AsyncConnection
) -> None:
    """The upload reads the header and the first row; the worker finds the rest."""
    planner = tenant.as_("scheduler")
    content = b'tail_number,model\r\nN1,C172\r\nN2,C172\r\nN3,"C1"72\r\n'
    done = await process(db, planner, await upload(planner, "aircraft", content))
    assert done["status"] == "failed"
    assert done["failure"].startswith("file: not a readable CSV file at line 4")
    assert await rows_of(planner, done["id"]) == []
    count = await connection.scalar(
        text("SELECT count(*) FROM aircraft WHERE org_id = :org"), {"org": tenant.id}
    )
    assert count == 0
