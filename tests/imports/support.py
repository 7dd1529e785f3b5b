"""Helpers of the import tests: files, uploads through the API, and running the job."""

from __future__ import annotations

import csv
import io
from typing import Any
from uuid import UUID

import httpx

from amss.db.engine import Database
from amss.imports import jobs
from tests.support.api import Actor, ok, url


def csv_of(header: list[str], rows: list[list[str]], *, bom: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


async def post_file(
    actor: Actor,
    import_type: str | None,
    content: bytes | None,
    *,
    filename: str = "import.csv",
    dry_run: bool | str | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    data: dict[str, str] = {}
    if import_type is not None:
        data["type"] = import_type
    if dry_run is not None:
        data["dry_run"] = str(dry_run).lower()
    # Without a file the fields still go as multipart/form-data (``(None, value)`` parts).
    files: dict[str, Any] = {name: (None, value) for name, value in data.items()}
    if content is not None:
        files["file"] = (filename, content, "text/csv")
    return await actor.client.post(
        url("/imports/csv"),
        files=files,
        headers=actor.headers,
        params=params,
    )


async def upload(
    actor: Actor,
    import_type: str,
    content: bytes,
    *,
    filename: str = "import.csv",
    dry_run: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = ok(
        await post_file(actor, import_type, content, filename=filename, dry_run=dry_run), 202
    )
    return body


async def process(
    db: Database, actor: Actor, pending: dict[str, Any], **options: Any
) -> dict[str, Any]:
    """Run the import's job as a worker would, then read the import back."""
    await jobs.run_import(db, UUID(pending["id"]), UUID(pending["org_id"]), **options)
    body: dict[str, Any] = ok(await actor.get(f"/imports/{pending['id']}"))
    return body


async def rows_of(actor: Actor, import_id: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    limit = params.pop("limit", None)
    offset = 0
    while True:
        page = ok(
            await actor.get(
                f"/imports/{import_id}/rows",
                params={**params, "limit": limit or 500, "offset": offset},
            )
        )
        rows.extend(page)
        if limit is not None or len(page) < 500:
            return rows
        offset += 500
