"""The aircraft's current-status record (SPEC §9, 14 CFR 91.417(a)(2)): every applicable
requirement with its last done — who certified it, under which certificate, on what record —
its next due and status, and the findings still open; as JSON, CSV and a PDF read back."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.db.engine import Database
from amss.db.tables import aircraft
from amss.demo import seed_demo
from amss.reports.pdf import latin1
from tests.support.api import Actor, created, ok
from tests.support.dates import day
from tests.support.factories import bearer, make_aircraft, make_program, make_user
from tests.support.steps import add_aircraft, add_program, add_task, move, open_tasks
from tests.support.tenant import Tenant

MECHANIC_NAME = "R. Wright"


def pdf_text(body: bytes) -> list[str]:
    """The text of each page."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(body)).pages]


async def sign(actor: Actor, task_id: str, description: str, result: str, **fields: Any) -> str:
    item = created(
        await actor.post(
            "/compliance-items",
            {"task_id": task_id, "description": description, "result": result, **fields},
        )
    )
    ok(await actor.patch(f"/compliance-items/{item['id']}/sign-off", {}))
    return str(item["id"])


@pytest.fixture
async def record(connection: AsyncConnection, tenant: Tenant) -> dict[str, Any]:
    """A C172S at 1000 h: a 100-hour last done from the paper logbook, an annual signed off
    in AMSS by the mechanic, an oil change never recorded (its limits assumed), a program of
    another model, a finding open and a finding cleared."""
    await connection.execute(
        text("UPDATE users SET name = :n WHERE id = :id"),
        {"n": MECHANIC_NAME, "id": tenant.users["mechanic"].id},
    )
    planner, mechanic = tenant.as_("scheduler"), tenant.as_("mechanic")
    craft = await add_aircraft(
        planner,
        tail_number="N172SR",
        model="C172S",
        serial_number="172S8001",
        flight_hours_total=1000,
        cycles_total=1200,
        avg_daily_hours=4,
    )
    hundred = await add_program(
        planner,
        name="100-hour inspection",
        aircraft_model="C172S",
        interval_hours=100,
        ata_chapter="05",
    )
    annual = await add_program(
        planner, name="Annual inspection", interval_months=12, ata_chapter="05"
    )
    oil = await add_program(
        planner,
        name="Oil change",
        aircraft_model="C172S",
        interval_hours=50,
        interval_months=4,
        mandatory=False,
    )
    await add_program(planner, name="A-check", aircraft_model="A320", interval_hours=750)
    created(
        await planner.post(
            f"/aircraft/{craft['id']}/compliance-records",
            {
                "program_id": hundred["id"],
                "performed_at": day(-10),
                "performed_hours": 960,
                "reference": "Airframe logbook p. 31",
                "certified_by_name": "J. Rivera",
                "certificate_number": "A&P 3412876",
            },
        )
    )
    [annual_task] = [
        t for t in await open_tasks(planner, craft["id"]) if t["program_id"] == annual["id"]
    ]
    ok(await move(mechanic, annual_task["id"], "in_progress"))
    ok(await move(mechanic, annual_task["id"], "completed", notes="Annual done per checklist"))
    snag = await add_task(planner, craft["id"], title="Squawk: left aileron")
    open_finding = await sign(mechanic, snag["id"], "Aileron cable tension below minimum", "fail")
    cleared = await sign(mechanic, snag["id"], "Elevator trim tab play out of limits", "fail")
    await sign(mechanic, snag["id"], "Trim tab hinge replaced", "pass", supersedes_id=cleared)
    brakes = await sign(mechanic, snag["id"], "Left brake lining below minimum", "fail")
    # A rectification not signed yet clears nothing.
    created(
        await mechanic.post(
            "/compliance-items",
            {
                "task_id": snag["id"],
                "description": "Left brake lining replaced",
                "result": "pass",
                "supersedes_id": brakes,
            },
        )
    )
    return {
        "aircraft": craft,
        "programs": {"hundred": hundred, "annual": annual, "oil": oil},
        "open_finding": open_finding,
        "brakes": brakes,
        "cleared": cleared,
    }


async def test_the_record_lists_every_requirement_with_its_last_done_and_certifier(
    tenant: Tenant, record: dict[str, Any]
) -> None:
    craft = record["aircraft"]
    report = ok(await tenant.as_("auditor").get(f"/reports/aircraft/{craft['id']}/status"))
    assert report["aircraft"]["tail_number"] == "N172SR"
    assert report["aircraft"]["serial_number"] == "172S8001"
    assert report["aircraft"]["flight_hours_total"] == 1000.0
    by_name = {item["name"]: item for item in report["requirements"]}
    assert set(by_name) == {"100-hour inspection", "Annual inspection", "Oil change"}

    hundred = by_name["100-hour inspection"]
    assert hundred["last_done"]["performed_hours"] == 960.0
    assert hundred["last_done"]["certified_by_name"] == "J. Rivera"
    assert hundred["last_done"]["certificate_number"] == "A&P 3412876"
    assert hundred["last_done"]["rests_on"] == "record_entry"
    assert hundred["last_done"]["reference"] == "Airframe logbook p. 31"
    assert hundred["next_due"]["due_hours"] == 1060.0
    assert hundred["next_due"]["remaining_hours"] == 60.0
    assert hundred["next_due"]["due_status"] == "ok"
    assert hundred["interval"] == "100 h"

    annual = by_name["Annual inspection"]
    assert annual["last_done"]["rests_on"] == "task"
    assert annual["last_done"]["certified_by_name"] == MECHANIC_NAME
    assert annual["last_done"]["certificate_number"] == "A&P 1000001"
    assert annual["last_done"]["task_id"] is not None
    assert annual["next_due"]["state"] == "scheduled"

    oil = by_name["Oil change"]
    assert oil["last_done"] is None
    assert oil["next_due"]["basis_source"] == "assumed"
    assert oil["mandatory"] is False and oil["interval"] == "50 h / 4 months"

    assert [f["id"] for f in report["open_findings"]] == [record["open_finding"], record["brakes"]]
    finding = report["open_findings"][0]
    assert finding["description"] == "Aileron cable tension below minimum"
    assert finding["task_title"] == "Squawk: left aileron"
    assert finding["signer_name"] == MECHANIC_NAME


async def test_the_csv_prints_the_same_table_and_is_audited(
    connection: AsyncConnection, tenant: Tenant, record: dict[str, Any]
) -> None:
    craft = record["aircraft"]
    response = await tenant.as_("viewer").get(
        f"/reports/aircraft/{craft['id']}/status", params={"format": "csv"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.text)))
    assert ["Tail number", "N172SR"] in lines
    header = lines.index(
        [
            "ATA",
            "Requirement",
            "Interval",
            "Last done",
            "Hours",
            "Cycles",
            "Certified by",
            "Certificate",
            "Record",
            "Next due",
            "Remaining",
            "Status",
        ]
    )
    rows = {line[1]: line for line in lines[header + 1 : header + 4]}
    assert rows["100-hour inspection"][6:9] == [
        "J. Rivera",
        "A&P 3412876",
        "paper record: Airframe logbook p. 31",
    ]
    assert rows["Annual inspection"][6:8] == [MECHANIC_NAME, "A&P 1000001"]
    assert rows["Oil change (not mandatory)"][3] == "none on record"
    assert any("Aileron cable tension below minimum" in line for line in lines)
    assert not any("Elevator trim tab play out of limits" in line for line in lines)
    audit = (
        await connection.execute(
            text(
                "SELECT entity_type, entity_id, action, details FROM audit_logs"
                " WHERE org_id = :org AND request_id = :rid"
            ),
            {"org": tenant.id, "rid": response.headers["x-request-id"]},
        )
    ).one()
    assert (audit.entity_type, audit.action, str(audit.entity_id)) == (
        "report",
        "export",
        craft["id"],
    )
    assert audit.details["report"] == "aircraft_status" and audit.details["format"] == "csv"


@pytest.mark.parametrize(("paper", "size"), [("A4", (842, 595)), ("Letter", (792, 612))])
async def test_the_pdf_is_a_real_document_read_back(
    tenant: Tenant, record: dict[str, Any], paper: str, size: tuple[int, int]
) -> None:
    craft = record["aircraft"]
    response = await tenant.as_("viewer").get(
        f"/reports/aircraft/{craft['id']}/status", params={"format": "pdf", "paper": paper}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == size  # landscape
    [page] = pdf_text(response.content)
    for expected in (
        "Aircraft status record",
        "N172SR",
        "C172S",
        "172S8001",
        "1,000 h",
        "1,200",
        "Generated",
        "100-hour inspection",
        "Annual inspection",
        "Oil change",
        "J. Rivera",
        "A&P 3412876",
        MECHANIC_NAME,
        "A&P 1000001",
        "Open findings",
        "Aileron cable tension below minimum",
        "Page 1 of 1",
    ):
        assert expected in page, expected
    assert "A-check" not in page and "Elevator trim tab" not in page


async def test_a_long_record_breaks_across_pages_under_repeated_headings(
    connection: AsyncConnection, tenant: Tenant
) -> None:
    craft = await make_aircraft(connection, tenant.id, tail_number="N900LG", serial_number="LG-1")
    names = [f"Requirement {n:03d} — check ünit" for n in range(90)]
    for name in names:
        await make_program(connection, tenant.id, name=name, aircraft_id=craft, interval_days=30)
    response = await tenant.as_("viewer").get(
        f"/reports/aircraft/{craft}/status", params={"format": "pdf", "paper": "Letter"}
    )
    assert response.status_code == 200, response.text
    pages = pdf_text(response.content)
    assert sum("Requirement 0" in page for page in pages) >= 3
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        if "Requirement 0" in page:
            assert "Certified by" in page  # the table's headings again on every page
    words = " ".join(" ".join(pages).split())  # a long name wraps inside its cell
    for name in names:
        assert latin1(name) in words, name


async def test_the_status_record_of_every_demo_aircraft_names_each_certifier(
    db: Database, connection: AsyncConnection, client: Any, app: Any
) -> None:
    """The acceptance case: the demo fleet's records, read back from the PDF."""
    result = await seed_demo(db)
    viewer = make_user(connection, result.org_id, "viewer")
    headers = bearer(app.state.signer, await viewer)
    fleet = (
        await connection.execute(
            select(aircraft.c.id, aircraft.c.tail_number).where(aircraft.c.org_id == result.org_id)
        )
    ).all()
    assert len(fleet) == 12
    for craft_id, tail in fleet:
        path = f"/api/v1/reports/aircraft/{craft_id}/status"
        report = (await client.get(path, headers=headers)).json()
        assert report["requirements"], tail
        response = await client.get(path, params={"format": "pdf"}, headers=headers)
        assert response.status_code == 200, response.text
        page = " ".join(" ".join(pdf_text(response.content)).split())
        assert tail in page
        for requirement in report["requirements"]:
            done = requirement["last_done"]
            assert done is not None and done["certified_by_name"] and done["certificate_number"]
            assert requirement["name"] in page, (tail, requirement["name"])
            assert done["certified_by_name"] in page and done["certificate_number"] in page
        # The demo's one finding (N172DC's aileron cable) was rectified: none is open.
        assert report["open_findings"] == []


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) absent")
async def test_the_pdf_renders_to_an_image(
    tenant: Tenant, record: dict[str, Any], tmp_path: Path
) -> None:
    """Another reader than pypdf opens it: poppler renders page 1 (how it was looked at)."""
    craft = record["aircraft"]
    response = await tenant.as_("viewer").get(
        f"/reports/aircraft/{craft['id']}/status", params={"format": "pdf"}
    )
    source = tmp_path / "status.pdf"
    source.write_bytes(response.content)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(source), str(tmp_path / "page")],
        check=True,
        capture_output=True,
    )
    [image] = list(tmp_path.glob("page*.png"))
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
