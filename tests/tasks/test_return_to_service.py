"""Returning an aircraft to service (SPEC §3, §6.2, §6.5, §6.6, §6.8), as worked examples.

Each test names the rule it holds to: a maintenance record says who certified the work and
under which certificate (14 CFR 43.9/43.11, EASA 145.A.50); only IA holders sign annuals
(14 CFR 65.95); an annual is also a 100-hour inspection (14 CFR 91.409(b)); a finding
stays in the record and is cleared by its rectification; only an overdue mandatory
requirement makes an aircraft unairworthy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.api import Actor, assert_error, created, ok
from tests.support.dates import day
from tests.support.factories import make_user
from tests.support.steps import PAPER_RECORD, add_aircraft, add_program, add_task, move
from tests.support.tenant import Tenant, make_tenant

INSPECTOR = {
    "name": "I. Spector",
    "certificate_number": "IA 2984410",
    "authorizations": ["A&P", "IA"],
}


@dataclass
class Hangar:
    """An organization with a C172S at 1000 h / 500 cycles, flying 5 h a day, an A&P
    mechanic, an inspector holding IA, and a mechanic with no certificate on record."""

    tenant: Tenant
    conn: AsyncConnection
    aircraft: dict[str, Any]

    def as_(self, key: str) -> Actor:
        return self.tenant.as_(key)

    @property
    def scheduler(self) -> Actor:
        return self.as_("scheduler")

    async def craft(self) -> dict[str, Any]:
        found: dict[str, Any] = ok(await self.scheduler.get(f"/aircraft/{self.aircraft['id']}"))
        return found

    async def open_task(self, program_id: str) -> dict[str, Any]:
        [task] = ok(
            await self.scheduler.get(
                "/maintenance-tasks",
                params={
                    "program_id": program_id,
                    "aircraft_id": self.aircraft["id"],
                    "state": "scheduled",
                },
            )
        )
        found: dict[str, Any] = task
        return found

    async def fly(self, *hours: float) -> None:
        """One day of flying per value, the last one yesterday, 10 cycles a day."""
        for back, flown in enumerate(reversed(hours), start=1):
            body = {"flight_date": day(-back), "flight_hours": flown, "cycles": 10}
            created(await self.scheduler.post(f"/aircraft/{self.aircraft['id']}/utilization", body))

    async def started(self, task_id: str) -> None:
        ok(await move(self.scheduler, task_id, "in_progress"))

    async def item(
        self, task_id: str, description: str, result: str, **fields: Any
    ) -> dict[str, Any]:
        body = {"task_id": task_id, "description": description, "result": result, **fields}
        return created(await self.as_("mechanic").post("/compliance-items", body))

    async def sign(self, item_id: str, key: str = "mechanic") -> dict[str, Any]:
        signed: dict[str, Any] = ok(
            await self.as_(key).patch(f"/compliance-items/{item_id}/sign-off", {})
        )
        return signed

    async def audit_of(self, task_id: str) -> dict[str, Any]:
        row = (
            await self.conn.execute(
                text(
                    "SELECT user_id, details FROM audit_logs WHERE org_id = :o AND entity_id = :t"
                    " AND action = 'state_change' ORDER BY seq DESC LIMIT 1"
                ),
                {"o": self.tenant.id, "t": task_id},
            )
        ).one()
        return {"user_id": row.user_id, **row.details}


@pytest.fixture
async def hangar(client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI) -> Hangar:
    tenant = await make_tenant(connection, app.state.signer, client)
    tenant.users["inspector"] = await make_user(connection, tenant.id, "mechanic", **INSPECTOR)
    tenant.users["uncertified"] = await make_user(connection, tenant.id, "mechanic")
    aircraft = await add_aircraft(
        tenant.as_("scheduler"),
        tail_number="N172RS",
        model="C172S",
        flight_hours_total=1000,
        cycles_total=500,
        avg_daily_hours=5,
    )
    return Hangar(tenant, connection, aircraft)


async def _hundred_hour_and_annual(hangar: Hangar) -> tuple[dict[str, Any], dict[str, Any]]:
    hundred = await add_program(
        hangar.scheduler,
        name="100-hour inspection",
        aircraft_model="C172S",
        interval_hours=100,
        tolerance_hours=10,
        next_due_basis="scheduled",
    )
    annual = await add_program(
        hangar.scheduler,
        name="Annual inspection",
        interval_months=12,
        required_authorization="IA",
        satisfies=[hundred["id"]],
    )
    return hundred, annual


# --- the two forms of completion --------------------------------------------------------


async def test_a_scheduler_transcribes_a_paper_record_and_must_say_whose_it_is(
    hangar: Hangar,
) -> None:
    """14 CFR 43.9: the record names the certifying person and certificate. A planner who
    enters it must copy them from the signed paper, with the record's reference."""
    hundred, _ = await _hundred_hour_and_annual(hangar)
    task = await hangar.open_task(hundred["id"])
    await hangar.started(task["id"])

    bare = await move(hangar.scheduler, task["id"], "completed", notes="100-hour per checklist")
    body = assert_error(
        bare, 400, contains=("certified_by_name", "certificate_number", "record_reference")
    )
    assert sorted(problem["field"] for problem in body["details"]) == [
        "certificate_number",
        "certified_by_name",
        "record_reference",
    ]
    partial = await move(
        hangar.scheduler, task["id"], "completed", notes="done", certified_by_name="J. Rivera"
    )
    body = assert_error(partial, 400, contains="missing certificate_number, record_reference")

    done = ok(
        await move(
            hangar.scheduler,
            task["id"],
            "completed",
            notes="100-hour per checklist",
            **PAPER_RECORD,
        )
    )
    assert done["record_entry"] is True
    assert {name: done[name] for name in PAPER_RECORD} == PAPER_RECORD
    assert done["certified_by_user_id"] is None
    assert done["completed_by"] == str(hangar.tenant.users["scheduler"].id)

    audit = await hangar.audit_of(task["id"])
    assert audit["user_id"] == hangar.tenant.users["scheduler"].id  # who entered it
    assert audit["record_entry"] is True and audit["certified_by_name"] == "J. Rivera"

    [requirement] = [
        r
        for r in ok(await hangar.scheduler.get(f"/aircraft/{hangar.aircraft['id']}/requirements"))
        if r["program_id"] == hundred["id"]
    ]
    assert (requirement["mandatory"], requirement["required_authorization"]) == (True, None)
    record = requirement["last_done"]
    assert (record["certified_by_name"], record["certificate_number"], record["source"]) == (
        "J. Rivera",
        "A&P 3412876",
        "task",
    )


async def test_a_mechanic_without_a_certificate_cannot_sign_a_completion(hangar: Hangar) -> None:
    """Completing is a certifying act (SPEC §3): no certificate number on record, no
    signature — the task stays in progress."""
    task = await add_task(hangar.scheduler, hangar.aircraft["id"], title="Replace nav light")
    await hangar.started(task["id"])
    refused = await move(hangar.as_("uncertified"), task["id"], "completed", notes="replaced")
    assert_error(refused, 403, contains="certificate number")
    detail = ok(await hangar.scheduler.get(f"/maintenance-tasks/{task['id']}"))
    assert detail["state"] == "in_progress"

    done = ok(await move(hangar.as_("mechanic"), task["id"], "completed", notes="replaced"))
    assert done["record_entry"] is False
    assert done["certified_by_user_id"] == str(hangar.tenant.users["mechanic"].id)
    assert done["certificate_number"] == "A&P 1000001"


async def test_a_mechanic_signs_and_never_transcribes_another_signature(hangar: Hangar) -> None:
    task = await add_task(hangar.scheduler, hangar.aircraft["id"])
    await hangar.started(task["id"])
    refused = await move(
        hangar.as_("mechanic"), task["id"], "completed", notes="done", **PAPER_RECORD
    )
    assert_error(refused, 403, contains="paper record")


async def test_an_assigned_task_is_signed_by_its_mechanic_only(hangar: Hangar) -> None:
    task = await add_task(
        hangar.scheduler,
        hangar.aircraft["id"],
        assigned_mechanic_id=str(hangar.tenant.users["inspector"].id),
    )
    await hangar.started(task["id"])
    assert_error(await move(hangar.as_("mechanic"), task["id"], "completed", notes="done"), 403)
    ok(await move(hangar.as_("inspector"), task["id"], "completed", notes="done"))


# --- required authorization and satisfies -------------------------------------------------


async def test_the_annual_needs_ia_and_re_bases_the_100_hour_it_satisfies(hangar: Hangar) -> None:
    """14 CFR 65.95: only an IA holder signs an annual. 14 CFR 91.409(b): an annual is also
    a 100-hour inspection — completing it re-bases the 100-hour at the same hours."""
    hundred, annual = await _hundred_hour_and_annual(hangar)
    await hangar.fly(20, 22.5)
    task = await hangar.open_task(annual["id"])
    await hangar.started(task["id"])

    refused = await move(hangar.as_("mechanic"), task["id"], "completed", notes="annual")
    assert_error(refused, 403, contains="IA authorization")
    done = ok(await move(hangar.as_("inspector"), task["id"], "completed", notes="annual done"))
    assert (done["certified_by_name"], done["certificate_number"]) == ("I. Spector", "IA 2984410")
    assert done["completed_hours"] == 1042.5

    rebased = await hangar.open_task(hundred["id"])
    assert rebased["basis_source"] == "completion"
    assert rebased["basis_hours"] == 1042.5
    assert rebased["due_hours"] == 1142.5
    record = (
        await hangar.conn.execute(
            text(
                "SELECT task_id, performed_hours, certificate_number, certified_by_user_id"
                " FROM compliance_records WHERE program_id = :p ORDER BY created_at DESC LIMIT 1"
            ),
            {"p": hundred["id"]},
        )
    ).one()
    assert str(record.task_id) == task["id"]  # linked to the annual that did it
    assert float(record.performed_hours) == 1042.5
    assert record.certificate_number == "IA 2984410"
    assert record.certified_by_user_id == hangar.tenant.users["inspector"].id


async def test_satisfies_follows_chains_and_only_programs_that_apply(hangar: Hangar) -> None:
    """A C-check includes the A-check, which includes the daily check: one completion, a
    record for each — but never for a program that does not apply to the aircraft."""
    daily = await add_program(hangar.scheduler, name="Daily", interval_days=1)
    other_model = await add_program(
        hangar.scheduler, name="DA42 gear", aircraft_model="DA42", interval_hours=200
    )
    a_check = await add_program(
        hangar.scheduler, name="A-check", interval_hours=500, satisfies=[daily["id"]]
    )
    c_check = await add_program(
        hangar.scheduler,
        name="C-check",
        interval_months=24,
        satisfies=[a_check["id"], other_model["id"]],
    )
    assert sorted(c_check["satisfies"]) == sorted([a_check["id"], other_model["id"]])
    task = await hangar.open_task(c_check["id"])
    await hangar.started(task["id"])
    ok(await move(hangar.as_("mechanic"), task["id"], "completed", notes="C-check"))
    linked = set(
        (
            await hangar.conn.execute(
                text("SELECT program_id::text FROM compliance_records WHERE task_id = :t"),
                {"t": task["id"]},
            )
        ).scalars()
    )
    assert linked == {c_check["id"], a_check["id"], daily["id"]}


@pytest.mark.parametrize("case", ["itself", "cycle", "long_cycle"])
async def test_satisfies_refuses_itself_and_cycles(hangar: Hangar, case: str) -> None:
    first = await add_program(hangar.scheduler, name="First", interval_hours=100)
    second = await add_program(
        hangar.scheduler, name="Second", interval_hours=50, satisfies=[first["id"]]
    )
    third = await add_program(
        hangar.scheduler, name="Third", interval_hours=25, satisfies=[second["id"]]
    )
    target, satisfies = {
        "itself": (first, [first["id"]]),
        "cycle": (first, [second["id"]]),
        "long_cycle": (first, [third["id"]]),
    }[case]
    response = await hangar.scheduler.patch(
        f"/maintenance-programs/{target['id']}", {"satisfies": satisfies}
    )
    assert_error(response, 400, field="satisfies")
    unchanged = ok(await hangar.scheduler.get(f"/maintenance-programs/{target['id']}"))
    assert unchanged["satisfies"] == []


# --- findings and rectification -----------------------------------------------------------


async def test_a_finding_is_cleared_by_its_rectification_and_stays_in_the_record(
    hangar: Hangar,
) -> None:
    """SPEC §6.8 / EASA 145.A.50: a defect found stays recorded with its rectification;
    the signed fail is never edited, never deleted."""
    task = await add_task(hangar.scheduler, hangar.aircraft["id"], title="Tire and brake check")
    await hangar.started(task["id"])
    finding = await hangar.item(task["id"], "Right main tire worn to the cord", "fail")
    signed_finding = await hangar.sign(finding["id"])
    assert signed_finding["certificate_number"] == "A&P 1000001"

    blocked = await move(hangar.as_("mechanic"), task["id"], "completed", notes="done")
    assert_error(blocked, 409, contains=("is a finding", finding["id"], "supersedes_id"))

    fix = await hangar.item(
        task["id"], "Right main tire replaced", "pass", supersedes_id=finding["id"]
    )
    assert fix["supersedes_id"] == finding["id"]
    # Not signed yet: still blocked.
    assert_error(await move(hangar.as_("mechanic"), task["id"], "completed", notes="done"), 409)
    await hangar.sign(fix["id"])
    done = ok(await move(hangar.as_("mechanic"), task["id"], "completed", notes="tire replaced"))
    assert done["state"] == "completed"

    listed = ok(await hangar.scheduler.get("/compliance-items", params={"task_id": task["id"]}))
    by_id = {item["id"]: item for item in listed}
    assert by_id[fix["id"]]["supersedes_id"] == finding["id"]
    assert by_id[finding["id"]] == signed_finding  # unchanged, field for field


@pytest.mark.parametrize(
    ("superseded", "status", "needle"),
    [
        ("pending", 409, "not a finding"),
        ("unsigned_fail", 409, "not a finding"),
        ("signed_pass", 409, "not a finding"),
        ("other_task", 400, "another task"),
    ],
)
async def test_only_a_finding_of_the_same_task_is_superseded(
    hangar: Hangar, superseded: str, status: int, needle: str
) -> None:
    task = await add_task(hangar.scheduler, hangar.aircraft["id"])
    other = await add_task(hangar.scheduler, hangar.aircraft["id"], title="Other")
    result = {"pending": "pending", "unsigned_fail": "fail", "signed_pass": "pass"}.get(
        superseded, "fail"
    )
    target = await hangar.item(
        other["id"] if superseded == "other_task" else task["id"], "Step", result
    )
    if superseded in ("signed_pass", "other_task"):
        await hangar.sign(target["id"])
    response = await hangar.as_("mechanic").post(
        "/compliance-items",
        {
            "task_id": task["id"],
            "description": "Fix",
            "result": "pass",
            "supersedes_id": target["id"],
        },
    )
    assert_error(response, status, contains=needle)


# --- mandatory requirements and airworthiness ----------------------------------------------


async def test_only_an_overdue_mandatory_task_grounds_and_holds_the_grounding(
    hangar: Hangar,
) -> None:
    """SPEC §6.6: an overdue wash is reported; an overdue AD makes the aircraft
    unairworthy, and no status change — not even to maintenance — lifts that."""
    wash = await add_task(
        hangar.scheduler, hangar.aircraft["id"], title="Exterior wash", due_hours=900
    )
    assert (wash["mandatory"], wash["due_status"]) == (False, "overdue")
    assert (await hangar.craft())["status"] == "operational"

    directive = await add_task(
        hangar.scheduler,
        hangar.aircraft["id"],
        title="AD 2026-11-04 fuel selector",
        due_hours=950,
        mandatory=True,
    )
    assert directive["due_status"] == "overdue"
    assert (await hangar.craft())["status"] == "grounded"
    for status in ("maintenance", "operational"):
        refused = await hangar.scheduler.patch(
            f"/aircraft/{hangar.aircraft['id']}", {"status": status}
        )
        assert_error(refused, 409, contains=("AD 2026-11-04 fuel selector", directive["id"]))
    assert (await hangar.craft())["status"] == "grounded"

    await hangar.started(directive["id"])
    assert (await hangar.craft())["status"] == "grounded"  # work on it keeps it grounded
    ok(await move(hangar.as_("mechanic"), directive["id"], "completed", notes="AD complied with"))
    assert (await hangar.craft())["status"] == "operational"


async def test_a_requirement_made_mandatory_while_overdue_grounds_at_once(hangar: Hangar) -> None:
    program = await add_program(
        hangar.scheduler,
        name="Cabin refresh",
        aircraft_id=hangar.aircraft["id"],
        interval_hours=100,
        mandatory=False,
        last_performed=day(-30),
        last_performed_hours=850,
    )
    task = await hangar.open_task(program["id"])
    assert (task["mandatory"], task["due_status"]) == (False, "overdue")
    assert (await hangar.craft())["status"] == "operational"
    ok(await hangar.scheduler.patch(f"/maintenance-programs/{program['id']}", {"mandatory": True}))
    assert (await hangar.open_task(program["id"]))["mandatory"] is True
    assert (await hangar.craft())["status"] == "grounded"


async def test_a_generated_task_takes_mandatory_from_its_program(hangar: Hangar) -> None:
    hundred, _ = await _hundred_hour_and_annual(hangar)
    task = await hangar.open_task(hundred["id"])
    assert task["mandatory"] is True
    refused = await hangar.scheduler.patch(f"/maintenance-tasks/{task['id']}", {"mandatory": False})
    assert_error(refused, 409, contains="program")


# --- early completion and planned windows --------------------------------------------------


async def test_early_work_is_flagged_never_credited_and_needs_no_flag(hangar: Hangar) -> None:
    """SPEC §6.5: the next interval counts from the actual completion, so a 100-hour done
    at 1040 h is next due at 1140 h, not 1100 h; ``allow_early_completion`` is ignored."""
    hundred, _ = await _hundred_hour_and_annual(hangar)
    await hangar.fly(20, 20)
    task = await hangar.open_task(hundred["id"])
    assert task["due_hours"] == 1100.0 and task["due_status"] == "ok"
    await hangar.started(task["id"])
    done = ok(
        await move(
            hangar.as_("mechanic"),
            task["id"],
            "completed",
            notes="done early",
            allow_early_completion=False,
        )
    )
    assert done["early"] is True
    assert (await hangar.open_task(hundred["id"]))["due_hours"] == 1140.0


async def test_planned_windows_move_with_their_limits(hangar: Hangar) -> None:
    """A record entered from paper re-bases the open task; its planned window follows the
    new projection instead of planning work for the old due date."""
    program = await add_program(
        hangar.scheduler,
        name="Oil change",
        aircraft_id=hangar.aircraft["id"],
        interval_hours=50,
        estimated_duration_hours=2,
    )
    before = await hangar.open_task(program["id"])
    assert datetime.fromisoformat(before["end_time"]) == datetime.fromisoformat(
        before["projected_due_at"]
    )
    ok(
        await hangar.scheduler.post(
            f"/aircraft/{hangar.aircraft['id']}/compliance-records",
            {
                "program_id": program["id"],
                "performed_at": day(-1),
                "performed_hours": 990,
                "reference": "Engine logbook p. 7",
            },
        ),
        201,
    )
    after = await hangar.open_task(program["id"])
    assert after["due_hours"] == 1040.0
    end = datetime.fromisoformat(after["end_time"])
    assert end == datetime.fromisoformat(after["projected_due_at"])
    assert end < datetime.fromisoformat(before["end_time"])
    hours = (end - datetime.fromisoformat(after["start_time"])).total_seconds() / 3600
    assert hours == 2


# --- an admin acting in another organization ------------------------------------------------


async def test_an_admin_acting_in_another_organization_certifies_nothing_there(
    hangar: Hangar, connection: AsyncConnection, app: FastAPI, client: httpx.AsyncClient
) -> None:
    """SPEC §6.8: a signature is a record of the organization whose user signs. A
    platform admin (even one holding a certificate) acting in another organization gets
    403 — never a foreign-key 500 — but may enter that organization's paper record."""
    home = await make_tenant(connection, app.state.signer, client, roles=["admin"])
    platform = await make_user(
        connection, home.id, "admin", certificate_number="A&P 555", authorizations=["IA"]
    )
    home.users["certified"] = platform
    admin = home.as_("certified")
    there = {"org_id": str(hangar.tenant.id)}

    task = await add_task(hangar.scheduler, hangar.aircraft["id"], title="Seat rail check")
    await hangar.started(task["id"])
    item = await hangar.item(task["id"], "Seat rail cracks", "pass")
    assert_error(
        await admin.patch(f"/compliance-items/{item['id']}/sign-off", there),
        403,
        contains="another organization",
    )
    assert_error(
        await move(admin, task["id"], "completed", notes="done", **there),
        403,
        contains="another organization",
    )
    await hangar.sign(item["id"])
    done = ok(await move(admin, task["id"], "completed", notes="done", **PAPER_RECORD, **there))
    assert done["record_entry"] is True and done["completed_by"] == str(platform.id)
