"""The due timeline (SPEC §9): valid SVG drawn server-side, a row per aircraft with an open task
in the horizon, one mark per such task coloured by its due status, a today line, a legend;
every text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from amss.demo import seed_demo
from amss.kit.timefmt import clock_at
from amss.reports.timeline import COLOURS
from tests.support.api import ok
from tests.support.dates import frozen_now
from tests.support.factories import bearer, make_aircraft, make_task, make_user
from tests.support.tenant import Tenant

SVG = "{http://www.w3.org/2000/svg}"


def parse(body: str) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == f"{SVG}svg"
    return root


async def test_one_mark_per_open_task_in_the_horizon(
    connection: AsyncConnection, tenant: Tenant
) -> None:
    now = frozen_now()
    org = tenant.id
    a = await make_aircraft(connection, org, tail_number="NT1", flight_hours_total=1000)
    b = await make_aircraft(connection, org, tail_number="NT2", flight_hours_total=100)
    quiet = await make_aircraft(connection, org, tail_number="NT3")
    await make_task(
        connection, org, a, title="<Overdue & late>", due_hours=900, projected_due_at=now
    )
    await make_task(
        connection,
        org,
        a,
        title="soon",
        due_at=now + timedelta(days=10),
        projected_due_at=now + timedelta(days=10),
    )
    await make_task(connection, org, a, title="no rate", due_hours=1010)  # due soon, no projection
    await make_task(
        connection,
        org,
        b,
        title="in 60",
        due_at=now + timedelta(days=60),
        projected_due_at=now + timedelta(days=60),
    )
    await make_task(
        connection,
        org,
        quiet,
        title="far",
        due_at=now + timedelta(days=300),
        projected_due_at=now + timedelta(days=300),
    )
    await make_task(connection, org, b, title="done", state="completed", due_hours=10)
    viewer = tenant.as_("viewer")
    with clock_at(now):
        response = await viewer.get("/reports/due-timeline.svg")
        listed = ok(await viewer.get("/reports/due-list", params={"days": 90}))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = parse(response.text)
    marks = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "mark"]
    assert sorted(m.get("data-task-id") for m in marks) == sorted(row["task_id"] for row in listed)
    assert len(marks) == 4
    for mark in marks:
        assert mark.get("fill") == COLOURS[mark.get("data-status") or ""]
    assert {m.get("data-status") for m in marks} == {"overdue", "due_soon", "ok"}
    tails = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "tail"]
    assert tails == ["NT1", "NT2"]  # NT3's only task is beyond the horizon
    titles = [t.text for m in marks for t in m.iter(f"{SVG}title")]
    assert any("<Overdue & late>" in (title or "") for title in titles)  # escaped, parsed back
    [today] = [line for line in root.iter(f"{SVG}line") if line.get("class") == "today"]
    assert float(today.get("x1") or 0) > 0
    [legend] = [g for g in root.iter(f"{SVG}g") if g.get("class") == "legend"]
    words = " ".join(t.text or "" for t in legend.iter(f"{SVG}text"))
    for label in ("overdue", "due (within tolerance)", "due soon", "ok"):
        assert label in words

    with clock_at(now):
        longer = parse((await viewer.get("/reports/due-timeline.svg", params={"days": 365})).text)
    assert len([c for c in longer.iter(f"{SVG}circle") if c.get("class") == "mark"]) == 5


async def test_an_empty_horizon_is_still_a_picture(tenant: Tenant) -> None:
    response = await tenant.as_("viewer").get("/reports/due-timeline.svg", params={"days": 1})
    root = parse(response.text)
    assert not [c for c in root.iter(f"{SVG}circle") if c.get("class") == "mark"]
    assert any("no open task" in (t.text or "") for t in root.iter(f"{SVG}text"))


async def test_the_demo_timeline_shows_every_aircraft_with_an_open_task_in_the_horizon(
    db: Database, connection: AsyncConnection, client: httpx.AsyncClient, app: FastAPI
) -> None:
    result = await seed_demo(db)
    headers = bearer(app.state.signer, await make_user(connection, result.org_id, "viewer"))
    listed = ok(
        await client.get(
            "/api/v1/reports/due-list", params={"days": 90, "limit": 500}, headers=headers
        )
    )
    root = parse((await client.get("/api/v1/reports/due-timeline.svg", headers=headers)).text)
    tails = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "tail"]
    assert tails == sorted({row["tail_number"] for row in listed})
    assert len(tails) == 12  # every demo aircraft has work in the next 90 days
    marks = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "mark"]
    assert len(marks) == len(listed)
