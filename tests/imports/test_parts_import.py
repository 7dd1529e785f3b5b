"""Stock imported (SPEC §8): part definitions created on first use, items upserted by
serial number, the API's rules on expiry and status, low stock announced."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from amss.imports import service
from tests.imports.support import csv_of, process, rows_of, upload
from tests.support.api import ok
from tests.support.dates import day
from tests.support.tenant import Tenant

HEADER = [
    "part_name",
    "part_number",
    "category",
    "min_stock",
    "serial_number",
    "status",
    "expiry_date",
    "location",
]


@pytest.mark.parametrize("chunk", [service.VALIDATION_CHUNK, 2])
async def test_parts_create_definitions_on_first_use_and_items_by_serial(
    tenant: Tenant,
    db: Database,
    connection: AsyncConnection,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
) -> None:
    """Also checked two rows at a time: duplicates and a part's details span the chunks."""
    monkeypatch.setattr(service, "VALIDATION_CHUNK", chunk)
    store = tenant.as_("scheduler")
    content = csv_of(
        HEADER,
        [
            ["Oil filter", "CH48110", "filters", "3", "OF-1", "in_stock", day(200), "Shelf A"],
            ["oil filter", "", "", "", "OF-2", "", "", "Shelf A"],
            ["Spark plug", "REM38E", "ignition", "", "SP-1", "", "", ""],
            ["Spark plug", "REM40E", "", "", "SP-2", "", "", ""],
            ["Tyre", "", "", "", "TY-1", "used", "", ""],
            ["Tyre", "", "", "", "TY-2", "", day(-1), ""],
            ["Oil filter", "", "", "", "OF-1", "", "", ""],
        ],
    )
    done = await process(db, store, await upload(store, "parts", content))

    invalid = {
        row["row_number"]: [e.split(":", 1)[0] for e in row["errors"]]
        for row in await rows_of(store, done["id"], status="invalid")
    }
    assert invalid == {4: ["part_number"], 5: ["status"], 6: ["expiry_date"], 7: ["serial_number"]}
    assert done["summary"]["applied"] == 3
    definitions = ok(await store.get("/part-definitions"))
    by_name = {d["name"]: d for d in definitions}
    assert set(by_name) == {"Oil filter", "Spark plug"}
    assert (by_name["Oil filter"]["part_number"], by_name["Oil filter"]["min_stock"]) == (
        "CH48110",
        3,
    )
    assert by_name["Oil filter"]["available"] == 2 and by_name["Oil filter"]["low_stock"] is True
    low = await connection.scalar(
        text(
            "SELECT count(*) FROM outbox_events WHERE org_id = :org AND event_type = 'part_low_stock'"
        ),
        {"org": tenant.id},
    )
    assert low == 1

    again = await process(db, store, await upload(store, "parts", content))
    assert again["summary"]["unchanged"] == 3
    items = await connection.scalar(
        text("SELECT count(*) FROM part_items WHERE org_id = :org"), {"org": tenant.id}
    )
    assert items == 3
