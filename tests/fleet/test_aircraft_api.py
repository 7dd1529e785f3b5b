"""``/api/v1/aircraft`` (SPEC §4, §5, §6.1, §6.6): the resource, its validation, who may
change it, the audit trail of every change, and status rules (grounding by overdue tasks)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from amss.auth.rules import Role
from amss.kit.timefmt import clock_at
from tests.support.api import assert_error, ok
from tests.support.dates import day, frozen_now
from tests.support.factories import unique
from tests.support.steps import add_aircraft, add_program, open_tasks
from tests.support.tenant import Tenant

API = "/api/v1/aircraft"


async def get_aircraft(tenant: Tenant, aircraft_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(await tenant.as_("viewer").get(f"/aircraft/{aircraft_id}"))
    return found


async def audit_rows(tenant: Tenant, entity_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ok(
        await tenant.as_("tenant_admin").get("/audit-logs", params={"entity_id": entity_id})
    )
    return rows


async def fly(tenant: Tenant, aircraft_id: str, days_ago: int, hours: float) -> httpx.Response:
    return await tenant.as_("scheduler").post(
        f"/aircraft/{aircraft_id}/utilization",
        {"flight_date": day(-days_ago), "flight_hours": hours, "cycles": 1},
    )


# --- the resource ------------------------------------------------------------------------


async def test_create_returns_the_full_resource_with_defaults(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = {
        "tail_number": "N123AB",
        "model": "C172S",
        "serial_number": "172S-8001",
        "flight_hours_total": 1234.5,
        "cycles_total": 800,
        "avg_daily_hours": 3.5,
        "avg_daily_cycles": 2,
    }
    response = await client.post(API, json=body, headers=tenant.headers("scheduler"))
    assert response.status_code == 201, response.text
    created = response.json()
    assert {key: created[key] for key in body} == {**body, "avg_daily_cycles": 2.0}
    assert created["org_id"] == str(tenant.id)
    assert created["status"] == "operational"
    assert created["capacity_slots"] == 1
    assert created["next_due"] is None  # no open task yet
    assert created["last_maintenance"] is None
    assert created["daily_hours_rate"] == 3.5  # no utilization yet: the average
    assert created["daily_cycles_rate"] == 2.0
    assert created["version"] == 1
    UUID(created["id"])
    assert created["created_at"].endswith("Z")

    assert await get_aircraft(tenant, created["id"]) == created


async def test_list_is_sorted_by_tail_number_with_total_count(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for name in ("N300C", "N100A", "N200B"):
        await add_aircraft(tenant.as_("scheduler"), tail_number=name)
    headers = tenant.headers("viewer")

    everything = await client.get(API, headers=headers)
    assert everything.status_code == 200, everything.text
    assert [row["tail_number"] for row in everything.json()] == ["N100A", "N200B", "N300C"]
    assert everything.headers["x-total-count"] == "3"

    page = await client.get(API, params={"limit": 2, "offset": 1}, headers=headers)
    assert [row["tail_number"] for row in page.json()] == ["N200B", "N300C"]
    assert page.headers["x-total-count"] == "3"

    beyond = await client.get(API, params={"offset": 10}, headers=headers)
    assert beyond.json() == []
    assert beyond.headers["x-total-count"] == "3"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "grounded"}, ["N2"]),
        ({"status": "operational"}, ["N1", "N3"]),
        ({"model": "PA-28"}, ["N2", "N3"]),
        ({"tail_number": "n3"}, ["N3"]),  # case-insensitive
        ({"status": "operational", "model": "PA-28"}, ["N3"]),
        ({"status": "maintenance"}, []),
    ],
)
async def test_list_filters(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, str], expected: list[str]
) -> None:
    await add_aircraft(tenant.as_("scheduler"), tail_number="N1", model="C172S")
    await add_aircraft(tenant.as_("scheduler"), tail_number="N2", model="PA-28", status="grounded")
    await add_aircraft(tenant.as_("scheduler"), tail_number="N3", model="PA-28")
    response = await client.get(API, params=params, headers=tenant.headers("viewer"))
    assert response.status_code == 200, response.text
    assert [row["tail_number"] for row in response.json()] == expected
    assert response.headers["x-total-count"] == str(len(expected))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "flying"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"tail_number": "N" * 21}, "tail_number"),
    ],
)
async def test_bad_list_parameters_are_400_naming_the_field(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, str], field: str
) -> None:
    response = await client.get(API, params=params, headers=tenant.headers("viewer"))
    assert_error(response, 400, "validation", field=field)


async def test_duplicate_tail_number_is_409_case_insensitive(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await add_aircraft(tenant.as_("scheduler"), tail_number="N55XY")
    other = await add_aircraft(tenant.as_("scheduler"))
    headers = tenant.headers("scheduler")

    again = await client.post(API, json={"tail_number": "n55xy", "model": "C152"}, headers=headers)
    assert "N55XY" in assert_error(again, 409, "conflict")["error"].upper()

    renamed = await client.patch(
        f"{API}/{other['id']}", json={"tail_number": "n55Xy"}, headers=headers
    )
    assert_error(renamed, 409, "conflict")

    # Renaming an aircraft to its own tail number in another case is no conflict.
    same = await client.patch(
        f"{API}/{first['id']}", json={"tail_number": "n55xy"}, headers=headers
    )
    assert same.status_code == 200, same.text
    listed = await client.get(API, params={"tail_number": "N55XY"}, headers=headers)
    assert listed.headers["x-total-count"] == "1"


async def test_tail_number_is_reusable_after_delete(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    headers = tenant.headers("scheduler")
    first = await add_aircraft(tenant.as_("scheduler"), tail_number="N777RE")

    deleted = await client.delete(f"{API}/{first['id']}", headers=headers)
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""

    assert_error(await client.get(f"{API}/{first['id']}", headers=headers), 404, "not_found")
    assert_error(await client.delete(f"{API}/{first['id']}", headers=headers), 404, "not_found")
    listed = await client.get(API, headers=headers)
    assert listed.json() == []
    assert listed.headers["x-total-count"] == "0"

    second = await add_aircraft(tenant.as_("scheduler"), tail_number="N777RE")
    assert second["id"] != first["id"]


async def test_patch_changes_only_the_fields_sent(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await add_aircraft(
        tenant.as_("scheduler"), serial_number="SN-1", capacity_slots=2, avg_daily_hours=4
    )
    response = await client.patch(
        f"{API}/{created['id']}",
        json={"model": "C182T", "capacity_slots": 3, "serial_number": None},
        headers=tenant.headers("scheduler"),
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["model"] == "C182T"
    assert changed["capacity_slots"] == 3
    assert changed["serial_number"] is None  # null clears a nullable field
    assert changed["avg_daily_hours"] == 4.0
    assert changed["tail_number"] == created["tail_number"]
    assert changed["version"] == created["version"] + 1
    assert await get_aircraft(tenant, created["id"]) == changed


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/utilization"), ("POST", "/utilization")],
)
async def test_malformed_uuid_is_400(
    client: httpx.AsyncClient, tenant: Tenant, method: str, suffix: str
) -> None:
    body: dict[str, Any] | None = {"model": "X"} if method == "PATCH" else None
    if method == "POST":
        body = {"flight_date": day(), "flight_hours": 1, "cycles": 1}
    response = await client.request(
        method, f"{API}/not-a-uuid{suffix}", json=body, headers=tenant.headers("scheduler")
    )
    assert_error(response, 400, "validation", field="aircraft_id")


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_aircraft_is_404(
    client: httpx.AsyncClient, tenant: Tenant, method: str
) -> None:
    response = await client.request(
        method,
        f"{API}/{uuid.uuid4()}",
        json={"model": "X"} if method == "PATCH" else None,
        headers=tenant.headers("scheduler"),
    )
    assert assert_error(response, 404, "not_found")["error"] == "aircraft not found"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"tail_number": 123}, "tail_number"),
        ({"tail_number": "N 12"}, "tail_number"),
        ({"tail_number": ""}, "tail_number"),
        ({"model": None}, "model"),
        ({"capacity_slots": "two"}, "capacity_slots"),
        ({"capacity_slots": 0}, "capacity_slots"),
        ({"capacity_slots": 1.5}, "capacity_slots"),
        ({"flight_hours_total": -1}, "flight_hours_total"),
        ({"flight_hours_total": 10.25}, "flight_hours_total"),
        ({"cycles_total": -1}, "cycles_total"),
        ({"status": "flying"}, "status"),
        ({"avg_daily_hours": 25}, "avg_daily_hours"),
        ({"avg_daily_cycles": -1}, "avg_daily_cycles"),
        ({"last_maintenance": "2024-01-01T10:00:00"}, "last_maintenance"),  # no offset
        ({"org_id": "not-a-uuid"}, "org_id"),
    ],
)
async def test_invalid_create_bodies_are_400_naming_the_field(
    client: httpx.AsyncClient, tenant: Tenant, change: dict[str, Any], field: str
) -> None:
    body = {"tail_number": unique("N"), "model": "C172S", **change}
    response = await client.post(API, json=body, headers=tenant.headers("scheduler"))
    assert_error(response, 400, "validation", field=field)
    listed = await client.get(API, headers=tenant.headers("scheduler"))
    assert listed.headers["x-total-count"] == "0"


@pytest.mark.parametrize("missing", ["tail_number", "model"])
async def test_create_without_a_required_field_is_400(
    client: httpx.AsyncClient, tenant: Tenant, missing: str
) -> None:
    body = {"tail_number": unique("N"), "model": "C172S"}
    del body[missing]
    response = await client.post(API, json=body, headers=tenant.headers("scheduler"))
    assert_error(response, 400, "validation", field=missing)


@pytest.mark.parametrize("content", [b"[]", b'"N1"', b'{"tail_number": "N1",'])
async def test_body_that_is_not_a_json_object_is_400(
    client: httpx.AsyncClient, tenant: Tenant, content: bytes
) -> None:
    response = await client.post(
        API,
        content=content,
        headers={**tenant.headers("scheduler"), "content-type": "application/json"},
    )
    assert_error(response, 400, "validation")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tail_number": None}, "tail_number"),
        ({"model": None}, "model"),
        ({"status": None}, "status"),
        ({"capacity_slots": None}, "capacity_slots"),
        ({"flight_hours_total": None}, "flight_hours_total"),
        ({"capacity_slots": 0}, "capacity_slots"),
        ({"status": "flying"}, "status"),
        ({"flight_hours_total": -5}, "flight_hours_total"),
        ({"cycles_total": "many"}, "cycles_total"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_invalid_patches_are_400_naming_the_field(
    client: httpx.AsyncClient, tenant: Tenant, change: dict[str, Any], field: str
) -> None:
    created = await add_aircraft(tenant.as_("scheduler"), flight_hours_total=10)
    response = await client.patch(
        f"{API}/{created['id']}", json=change, headers=tenant.headers("scheduler")
    )
    assert_error(response, 400, "validation", field=field)
    assert await get_aircraft(tenant, created["id"]) == created


@pytest.mark.parametrize(("field", "lower"), [("flight_hours_total", 99.9), ("cycles_total", 49)])
async def test_patch_cannot_lower_a_meter(
    client: httpx.AsyncClient, tenant: Tenant, field: str, lower: float
) -> None:
    created = await add_aircraft(tenant.as_("scheduler"), flight_hours_total=100, cycles_total=50)
    response = await client.patch(
        f"{API}/{created['id']}", json={field: lower}, headers=tenant.headers("scheduler")
    )
    assert_error(response, 400, "validation", field=field)
    after = await get_aircraft(tenant, created["id"])
    assert (after["flight_hours_total"], after["cycles_total"]) == (100.0, 50)
    entries = await client.get(
        f"{API}/{created['id']}/utilization", headers=tenant.headers("viewer")
    )
    assert [entry["source"] for entry in entries.json()] == ["initial"]


async def test_patch_raising_meters_records_a_manual_utilization_entry(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await add_aircraft(tenant.as_("scheduler"), flight_hours_total=100, cycles_total=50)
    response = await client.patch(
        f"{API}/{created['id']}",
        json={"flight_hours_total": 150.5, "cycles_total": 80},
        headers=tenant.headers("scheduler"),
    )
    assert response.status_code == 200, response.text
    assert (response.json()["flight_hours_total"], response.json()["cycles_total"]) == (150.5, 80)
    after = await get_aircraft(tenant, created["id"])
    assert (after["flight_hours_total"], after["cycles_total"]) == (150.5, 80)

    listed = await client.get(
        f"{API}/{created['id']}/utilization", headers=tenant.headers("viewer")
    )
    assert listed.status_code == 200, listed.text
    [entry] = [row for row in listed.json() if row["source"] != "initial"]
    assert entry["source"] == "manual"
    assert (entry["flight_hours"], entry["cycles"]) == (50.5, 30)
    assert entry["flight_date"] == day()
    assert entry["created_by"] == str(tenant.users["scheduler"].id)

    # The manual entry is audited with the meters it moved.
    [audit] = await audit_rows(tenant, entry["id"])
    assert (audit["entity_type"], audit["action"]) == ("utilization_entry", "create")
    assert audit["details"]["new"]["source"] == "manual"
    assert audit["details"]["meters"]["cycles_total"] == {"old": 50, "new": 80}


async def test_patch_raising_only_one_meter_leaves_the_other(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await add_aircraft(tenant.as_("scheduler"), flight_hours_total=100, cycles_total=50)
    response = await client.patch(
        f"{API}/{created['id']}", json={"cycles_total": 51}, headers=tenant.headers("scheduler")
    )
    assert response.status_code == 200, response.text
    assert (response.json()["flight_hours_total"], response.json()["cycles_total"]) == (100.0, 51)
    listed = (
        await client.get(f"{API}/{created['id']}/utilization", headers=tenant.headers("viewer"))
    ).json()
    [entry] = [row for row in listed if row["source"] != "initial"]
    assert (entry["flight_hours"], entry["cycles"], entry["source"]) == (0.0, 1, "manual")


# --- who may change aircraft ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "mechanic", "auditor"])
@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
async def test_read_only_roles_cannot_write_aircraft(
    client: httpx.AsyncClient, tenant: Tenant, role: Role, method: str
) -> None:
    created = await add_aircraft(tenant.as_("scheduler"), model="C172S")
    path = API if method == "POST" else f"{API}/{created['id']}"
    body = {"tail_number": unique("N"), "model": "C172S"} if method == "POST" else None
    if method == "PATCH":
        body = {"model": "Hijacked"}
    response = await client.request(method, path, json=body, headers=tenant.headers(role))
    assert_error(response, 403, "forbidden")

    # They still read, and nothing changed.
    listed = await client.get(API, headers=tenant.headers(role))
    assert listed.status_code == 200, listed.text
    assert [(row["id"], row["model"]) for row in listed.json()] == [(created["id"], "C172S")]


@pytest.mark.parametrize("role", ["scheduler", "tenant_admin", "admin"])
async def test_planners_create_change_and_delete_aircraft(
    client: httpx.AsyncClient, tenant: Tenant, role: Role
) -> None:
    headers = tenant.headers(role)
    created = await client.post(
        API, json={"tail_number": unique("N"), "model": "C172S"}, headers=headers
    )
    assert created.status_code == 201, created.text
    aircraft_id = created.json()["id"]
    changed = await client.patch(f"{API}/{aircraft_id}", json={"model": "C182"}, headers=headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["model"] == "C182"
    deleted = await client.delete(f"{API}/{aircraft_id}", headers=headers)
    assert deleted.status_code == 204, deleted.text


async def test_requests_without_a_token_are_401(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(API), 401, "auth")
    response = await client.post(API, json={"tail_number": unique("N"), "model": "C172S"})
    assert_error(response, 401, "auth")


# --- audit -------------------------------------------------------------------------------


async def test_every_aircraft_mutation_writes_an_audit_row(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    headers = {**tenant.headers("scheduler"), "x-request-id": "fleet-audit-1"}
    created = await client.post(
        API, json={"tail_number": "N42AU", "model": "C172S"}, headers=headers
    )
    assert created.status_code == 201, created.text
    aircraft_id = created.json()["id"]
    for change in ({"model": "C182T"}, {"status": "maintenance"}):
        response = await client.patch(f"{API}/{aircraft_id}", json=change, headers=headers)
        assert response.status_code == 200, response.text
    deleted = await client.delete(f"{API}/{aircraft_id}", headers=headers)
    assert deleted.status_code == 204, deleted.text

    rows = await audit_rows(tenant, aircraft_id)
    assert [row["action"] for row in rows] == ["delete", "state_change", "update", "create"]
    delete, state, update, create = rows
    assert {row["entity_type"] for row in rows} == {"aircraft"}
    assert {row["user_id"] for row in rows} == {str(tenant.users["scheduler"].id)}
    assert {row["request_id"] for row in rows} == {"fleet-audit-1"}
    assert create["details"]["new"]["tail_number"] == "N42AU"
    assert update["details"]["changes"] == {"model": {"old": "C172S", "new": "C182T"}}
    assert state["details"]["changes"] == {"status": {"old": "operational", "new": "maintenance"}}
    assert delete["details"]["old"]["tail_number"] == "N42AU"


async def test_a_patch_that_changes_nothing_writes_no_audit_row(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await add_aircraft(tenant.as_("scheduler"), model="C172S")
    response = await client.patch(
        f"{API}/{created['id']}", json={"model": "C172S"}, headers=tenant.headers("scheduler")
    )
    assert response.status_code == 200, response.text
    assert response.json()["version"] == created["version"]
    assert [row["action"] for row in await audit_rows(tenant, created["id"])] == ["create"]


# --- status (SPEC §6.6) ----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["maintenance", "grounded"])
async def test_manual_status_change_is_audited_as_state_change(
    client: httpx.AsyncClient, tenant: Tenant, status: str
) -> None:
    created = await add_aircraft(tenant.as_("scheduler"))
    response = await client.patch(
        f"{API}/{created['id']}", json={"status": status}, headers=tenant.headers("scheduler")
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == status
    assert (await get_aircraft(tenant, created["id"]))["status"] == status
    latest = (await audit_rows(tenant, created["id"]))[0]
    assert latest["action"] == "state_change"
    assert latest["details"]["changes"] == {"status": {"old": "operational", "new": status}}


async def test_grounded_aircraft_without_overdue_task_can_be_set_operational(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await add_aircraft(tenant.as_("scheduler"), status="grounded")
    assert created["status"] == "grounded"
    response = await client.patch(
        f"{API}/{created['id']}",
        json={"status": "operational"},
        headers=tenant.headers("scheduler"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "operational"


async def test_overdue_task_grounds_the_aircraft_and_blocks_operational(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    craft = await add_aircraft(tenant.as_("scheduler"), flight_hours_total=0, avg_daily_hours=5)
    aircraft_id = craft["id"]
    moment = frozen_now()
    with clock_at(moment):
        program = await client.post(
            "/api/v1/maintenance-programs",
            json={
                "name": "100-hour",
                "interval_hours": 100,
                "tolerance_hours": 10,
                "aircraft_id": aircraft_id,
            },
            headers=tenant.headers("scheduler"),
        )
    assert program.status_code == 201, program.text

    async def the_task() -> dict[str, Any]:
        response = await client.get(
            "/api/v1/maintenance-tasks",
            params={"aircraft_id": aircraft_id},
            headers=tenant.headers("viewer"),
        )
        assert response.status_code == 200, response.text
        [task] = response.json()
        assert isinstance(task, dict)
        return task

    task = await the_task()
    assert (task["title"], task["due_hours"], task["due_status"]) == ("100-hour", 100.0, "ok")
    # next_due is the task's projected date: 100 h at 5 h/day from when it was projected.
    projected = datetime.fromisoformat(task["projected_due_at"])
    assert projected == moment + timedelta(days=20)
    after_program = await get_aircraft(tenant, aircraft_id)
    assert after_program["next_due"] is not None
    assert datetime.fromisoformat(after_program["next_due"]) == projected

    # 4 x 24 h = 96 h: due soon; +8 h = 104 h: due, within tolerance, still operational.
    for days_ago in (6, 5, 4, 3):
        assert (await fly(tenant, aircraft_id, days_ago, 24)).status_code == 201
    assert (await the_task())["due_status"] == "due_soon"
    assert (await fly(tenant, aircraft_id, 2, 8)).status_code == 201
    assert (await the_task())["due_status"] == "due"
    assert (await get_aircraft(tenant, aircraft_id))["status"] == "operational"

    # +10 h = 114 h > 100 + 10: overdue, and the aircraft is grounded in the same request.
    assert (await fly(tenant, aircraft_id, 1, 10)).status_code == 201
    task = await the_task()
    assert task["due_status"] == "overdue"
    assert (await get_aircraft(tenant, aircraft_id))["status"] == "grounded"
    grounding = (await audit_rows(tenant, aircraft_id))[0]
    assert grounding["action"] == "state_change"
    assert grounding["details"]["changes"] == {"status": {"old": "operational", "new": "grounded"}}
    assert "100-hour" in grounding["details"]["reason"]

    refused = await client.patch(
        f"{API}/{aircraft_id}", json={"status": "operational"}, headers=tenant.headers("scheduler")
    )
    message = assert_error(refused, 409, "conflict")["error"]
    assert "100-hour" in message
    assert (await get_aircraft(tenant, aircraft_id))["status"] == "grounded"

    # Nor by way of maintenance: setting maintenance does not lift the grounding (SPEC §6.6).
    via = await client.patch(
        f"{API}/{aircraft_id}", json={"status": "maintenance"}, headers=tenant.headers("scheduler")
    )
    assert "100-hour" in assert_error(via, 409, "conflict")["error"]
    assert (await get_aircraft(tenant, aircraft_id))["status"] == "grounded"


def due_in(value: str | None, moment: datetime) -> timedelta:
    assert value is not None
    return datetime.fromisoformat(value) - moment


async def test_next_due_follows_rates_and_meters(client: httpx.AsyncClient, tenant: Tenant) -> None:
    moment = frozen_now()
    with clock_at(moment):
        craft = await add_aircraft(tenant.as_("scheduler"), avg_daily_hours=5)
        await add_program(
            tenant.as_("scheduler"), name="50-hour", interval_hours=50, aircraft_id=craft["id"]
        )
        first = (await get_aircraft(tenant, craft["id"]))["next_due"]
        assert due_in(first, moment) == timedelta(days=10)

        faster = await client.patch(
            f"{API}/{craft['id']}",
            json={"avg_daily_hours": 10},
            headers=tenant.headers("scheduler"),
        )
        assert faster.status_code == 200, faster.text
        assert due_in(faster.json()["next_due"], moment) == timedelta(days=5)

        # 20 h yesterday: observed 20 h over 2 days = 10 h/day, 30 h left -> 3 days.
        assert (await fly(tenant, craft["id"], 1, 20)).status_code == 201
        after = await get_aircraft(tenant, craft["id"])
        assert after["daily_hours_rate"] == 10.0
        assert due_in(after["next_due"], moment) == timedelta(days=3)
        [task] = await open_tasks(tenant.as_("viewer"), craft["id"])
    assert task["projected_due_at"] == after["next_due"]


async def test_model_change_brings_and_removes_model_program_tasks(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await add_program(
        tenant.as_("scheduler"), name="PA-28 check", interval_hours=50, aircraft_model="PA-28"
    )
    craft = await add_aircraft(tenant.as_("scheduler"), model="C172S")
    assert await open_tasks(tenant.as_("viewer"), craft["id"]) == []
    born_pa28 = await add_aircraft(tenant.as_("scheduler"), model="PA-28")
    assert [t["title"] for t in await open_tasks(tenant.as_("viewer"), born_pa28["id"])] == [
        "PA-28 check"
    ]

    headers = tenant.headers("scheduler")
    changed = await client.patch(f"{API}/{craft['id']}", json={"model": "PA-28"}, headers=headers)
    assert changed.status_code == 200, changed.text
    [task] = await open_tasks(tenant.as_("viewer"), craft["id"])
    assert task["title"] == "PA-28 check"

    back = await client.patch(f"{API}/{craft['id']}", json={"model": "C172S"}, headers=headers)
    assert back.status_code == 200, back.text
    assert back.json()["next_due"] is None
    assert await open_tasks(tenant.as_("viewer"), craft["id"]) == []
    cancelled = await client.get(f"/api/v1/maintenance-tasks/{task['id']}", headers=headers)
    assert cancelled.json()["state"] == "cancelled"


async def test_deleting_an_aircraft_cancels_its_scheduled_tasks(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    craft = await add_aircraft(tenant.as_("scheduler"))
    await add_program(
        tenant.as_("scheduler"), name="Annual", interval_months=12, aircraft_id=craft["id"]
    )
    [task] = await open_tasks(tenant.as_("viewer"), craft["id"])
    deleted = await client.delete(f"{API}/{craft['id']}", headers=tenant.headers("scheduler"))
    assert deleted.status_code == 204, deleted.text
    after = await client.get(
        f"/api/v1/maintenance-tasks/{task['id']}", headers=tenant.headers("viewer")
    )
    assert after.status_code == 200, after.text
    assert after.json()["state"] == "cancelled"


@pytest.mark.parametrize(("days", "titles"), [(None, ["10-hour", "40-hour"]), (5, ["10-hour"])])
async def test_due_list_orders_open_tasks_by_projected_date(
    client: httpx.AsyncClient, tenant: Tenant, days: int | None, titles: list[str]
) -> None:
    craft = await add_aircraft(tenant.as_("scheduler"), avg_daily_hours=4)
    for name, hours in (("40-hour", 40), ("10-hour", 10)):
        await add_program(
            tenant.as_("scheduler"), name=name, interval_hours=hours, aircraft_id=craft["id"]
        )
    params = {} if days is None else {"days": days}
    response = await client.get(
        f"{API}/{craft['id']}/due-list", params=params, headers=tenant.headers("viewer")
    )
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [row["title"] for row in rows] == titles
    assert response.headers["x-total-count"] == str(len(titles))
    first = rows[0]
    assert (first["remaining_hours"], first["daily_hours_rate"]) == (10.0, 4.0)
    assert first["governing_limit"] == "hours"
    assert first["aircraft_id"] == craft["id"]


@pytest.mark.parametrize("days", ["-1", "soon"])
async def test_due_list_with_a_bad_horizon_is_400(
    client: httpx.AsyncClient, tenant: Tenant, days: str
) -> None:
    craft = await add_aircraft(tenant.as_("scheduler"))
    response = await client.get(
        f"{API}/{craft['id']}/due-list", params={"days": days}, headers=tenant.headers("viewer")
    )
    assert_error(response, 400, "validation", field="days")


async def test_raising_meters_past_a_limit_grounds_in_the_same_response(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    craft = await add_aircraft(tenant.as_("scheduler"), flight_hours_total=0)
    await add_program(
        tenant.as_("scheduler"),
        name="100-hour",
        interval_hours=100,
        tolerance_hours=10,
        aircraft_id=craft["id"],
    )
    response = await client.patch(
        f"{API}/{craft['id']}",
        json={"flight_hours_total": 111},
        headers=tenant.headers("scheduler"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "grounded"
    [task] = await open_tasks(tenant.as_("viewer"), craft["id"])
    assert task["due_status"] == "overdue"


# --- bugs --------------------------------------------------------------------------------


async def test_last_maintenance_out_of_range_is_400(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = {
        "tail_number": unique("N"),
        "model": "C172S",
        "last_maintenance": "0001-01-01T00:00:00+01:00",
    }
    response = await client.post(API, json=body, headers=tenant.headers("scheduler"))
    assert_error(response, 400, "validation", field="last_maintenance")


async def test_far_projection_does_not_break_reads(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    craft = await add_aircraft(tenant.as_("scheduler"), avg_daily_hours=0.01)
    program = await client.post(
        "/api/v1/maintenance-programs",
        json={"name": "Overhaul", "interval_hours": 100000, "aircraft_id": craft["id"]},
        headers=tenant.headers("scheduler"),
    )
    assert program.status_code == 201, program.text
    for path in (f"{API}/{craft['id']}", API, "/api/v1/maintenance-tasks"):
        response = await client.get(path, headers=tenant.headers("viewer"))
        assert response.status_code == 200, f"{path}: {response.text}"


async def test_offset_beyond_bigint_is_400(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(
        API, params={"offset": "99999999999999999999"}, headers=tenant.headers("viewer")
    )
    assert_error(response, 400, "validation", field="offset")


@pytest.mark.parametrize(
    ("method", "field", "body", "params"),
    [
        ("POST", "model", {"tail_number": "N1NUL", "model": "C172\u0000"}, None),
        (
            "POST",
            "serial_number",
            {"tail_number": "N2NUL", "model": "C", "serial_number": "\u0000"},
            None,
        ),
        ("GET", "model", None, {"model": "C172\x00"}),
    ],
)
async def test_nul_characters_are_400(
    client: httpx.AsyncClient,
    tenant: Tenant,
    method: str,
    field: str,
    body: dict[str, Any] | None,
    params: dict[str, str] | None,
) -> None:
    response = await client.request(
        method, API, json=body, params=params, headers=tenant.headers("scheduler")
    )
    assert_error(response, 400, "validation", field=field)
