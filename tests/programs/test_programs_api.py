"""Maintenance programs through the API (SPEC §3, §5, §6.2): who may write them, and bad
input refused with 400 naming the field, with nothing changed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import ROLES, Role
from tests.support.api import assert_error
from tests.support.factories import make_aircraft
from tests.support.steps import add_program
from tests.support.tenant import Tenant

WRITERS = frozenset({"admin", "tenant_admin", "scheduler"})


@dataclass
class Office:
    tenant: Tenant
    conn: AsyncConnection
    aircraft_id: uuid.UUID

    @property
    def org_id(self) -> uuid.UUID:
        return self.tenant.id

    async def call(self, role: Role, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.tenant.as_(role).request(method, path, json=body)

    async def program(self, **fields: Any) -> dict[str, Any]:
        return await add_program(self.tenant.as_("scheduler"), **{"interval_hours": 100, **fields})

    async def stored(self, program_id: str) -> dict[str, Any] | None:
        row = (
            (
                await self.conn.execute(
                    text(
                        "SELECT name, interval_hours, deleted_at, version"
                        " FROM maintenance_programs WHERE id = :p"
                    ),
                    {"p": program_id},
                )
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None

    async def count(self) -> int:
        return int(
            await self.conn.scalar(
                text("SELECT count(*) FROM maintenance_programs WHERE org_id = :o"),
                {"o": self.org_id},
            )
            or 0
        )


@pytest.fixture
async def office(tenant: Tenant, connection: AsyncConnection) -> Office:
    aircraft_id = await make_aircraft(connection, tenant.id, tail_number="N1PG", model="C172")
    return Office(tenant, connection, aircraft_id)


@pytest.mark.parametrize("role", ROLES)
async def test_who_may_create_a_program(office: Office, role: Role) -> None:
    before = await office.count()
    response = await office.call(
        role,
        "POST",
        "/maintenance-programs",
        {"name": f"By {role}", "interval_hours": 50, "aircraft_id": str(office.aircraft_id)},
    )
    if role in WRITERS:
        assert response.status_code == 201, response.text
        assert response.json()["name"] == f"By {role}"
        assert await office.count() == before + 1
    else:
        assert_error(response, 403, "forbidden")
        assert await office.count() == before


@pytest.mark.parametrize("role", ROLES)
async def test_who_may_change_a_program(office: Office, role: Role) -> None:
    program = await office.program()
    before = await office.stored(program["id"])
    response = await office.call(
        role, "PATCH", f"/maintenance-programs/{program['id']}", {"name": f"Renamed by {role}"}
    )
    after = await office.stored(program["id"])
    assert before is not None and after is not None
    if role in WRITERS:
        assert response.status_code == 200, response.text
        assert response.json()["name"] == after["name"] == f"Renamed by {role}"
        assert after["version"] == before["version"] + 1
    else:
        assert_error(response, 403, "forbidden")
        assert after == before


@pytest.mark.parametrize("role", ROLES)
async def test_who_may_delete_a_program(office: Office, role: Role) -> None:
    program = await office.program()
    response = await office.call(role, "DELETE", f"/maintenance-programs/{program['id']}")
    stored = await office.stored(program["id"])
    assert stored is not None
    if role in WRITERS:
        assert response.status_code == 204, response.text
        assert stored["deleted_at"] is not None
        missing = await office.call(role, "GET", f"/maintenance-programs/{program['id']}")
        assert_error(missing, 404, "not_found")
    else:
        assert_error(response, 403, "forbidden")
        assert stored["deleted_at"] is None


@pytest.mark.parametrize("role", ROLES)
async def test_everyone_reads_programs(office: Office, role: Role) -> None:
    program = await office.program()
    listed = await office.call(role, "GET", "/maintenance-programs")
    assert listed.status_code == 200, listed.text
    assert [p["id"] for p in listed.json()] == [program["id"]]
    one = await office.call(role, "GET", f"/maintenance-programs/{program['id']}")
    assert one.status_code == 200 and one.json()["name"] == program["name"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"interval_hours": 100}, "name"),
        ({"name": "", "interval_hours": 100}, "name"),
        ({"name": "x" * 201, "interval_hours": 100}, "name"),
        ({"name": "Zero", "interval_hours": 0}, "interval_hours"),
        ({"name": "Negative", "interval_cycles": -5}, "interval_cycles"),
        ({"name": "Words", "interval_days": "soon"}, "interval_days"),
        ({"name": "Too many", "interval_months": 1201}, "interval_months"),
        ({"name": "Tolerance", "interval_hours": 100, "tolerance_days": -1}, "tolerance_days"),
        ({"name": "Kind", "interval_hours": 100, "task_type": "wash"}, "task_type"),
        ({"name": "Basis", "interval_hours": 100, "next_due_basis": "whenever"}, "next_due_basis"),
        ({"name": "Legacy", "interval_type": "weekly", "interval_value": 1}, "interval_type"),
        ({"name": "Craft", "interval_hours": 100, "aircraft_id": "N123"}, "aircraft_id"),
        ({"name": "Unknown", "interval_hours": 100, "colour": "red"}, "colour"),
        (
            {"name": "Duration", "interval_hours": 100, "estimated_duration_hours": 0},
            "estimated_duration_hours",
        ),
        (
            {"name": "Parts", "interval_hours": 100, "required_parts": [{"quantity": 1}]},
            "required_parts.0.part_definition_id",
        ),
    ],
)
async def test_bad_program_input_is_400_naming_the_field(
    office: Office, body: dict[str, Any], field: str
) -> None:
    before = await office.count()
    response = await office.call("scheduler", "POST", "/maintenance-programs", body)
    refused = assert_error(response, 400, "validation")
    assert field in [d["field"] for d in refused["details"]], refused
    assert await office.count() == before


async def test_a_program_needs_an_interval_and_one_applicability(office: Office) -> None:
    """Rules across fields: the message names the fields (the detail is the body as a whole)."""
    for body, message in (
        (
            {"name": "None"},
            "a program needs at least one of interval_hours, interval_cycles, interval_days,"
            " interval_months (or interval_type with interval_value)",
        ),
        (
            {
                "name": "Both",
                "interval_hours": 100,
                "aircraft_id": str(office.aircraft_id),
                "aircraft_model": "C172",
            },
            "give aircraft_id or aircraft_model, not both",
        ),
    ):
        response = await office.call("scheduler", "POST", "/maintenance-programs", body)
        refused = assert_error(response, 400, "validation")
        assert refused["details"] == [{"field": "body", "message": message}], refused
    assert await office.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"interval_hours": None}, "interval_hours"),  # the last interval cannot be cleared
        ({"interval_hours": -1}, "interval_hours"),
        ({"tolerance_hours": "lots"}, "tolerance_hours"),
        ({"aircraft_model": "C172"}, "aircraft_model"),  # it applies to one aircraft already
        ({"next_due_basis": None}, "next_due_basis"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_program_changes_are_400_naming_the_field(
    office: Office, body: dict[str, Any], field: str
) -> None:
    program = await office.program(aircraft_id=str(office.aircraft_id))
    before = await office.stored(program["id"])
    response = await office.call(
        "scheduler", "PATCH", f"/maintenance-programs/{program['id']}", body
    )
    refused = assert_error(response, 400, "validation")
    assert field in [d["field"] for d in refused.get("details", [])], refused
    assert await office.stored(program["id"]) == before


async def test_a_program_of_another_aircraft_or_part_is_404(office: Office) -> None:
    unknown = await office.call(
        "scheduler",
        "POST",
        "/maintenance-programs",
        {"name": "Ghost", "interval_hours": 100, "aircraft_id": str(uuid.uuid4())},
    )
    assert_error(unknown, 404, "not_found")
    assert await office.count() == 0
