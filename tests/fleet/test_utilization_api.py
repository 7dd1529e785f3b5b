"""``/api/v1/aircraft/{id}/utilization`` (SPEC §6.1): entries add to the meters, are
idempotent by ``external_id``, implausible input is refused, corrections are the only way
down, and the observed daily rate feeds the aircraft's ``daily_*_rate``."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import Role
from tests.support.api import assert_error, ok
from tests.support.dates import Day, day, resolved
from tests.support.factories import make_aircraft, make_org, make_utilization
from tests.support.steps import add_aircraft, add_program
from tests.support.tenant import Tenant, make_tenant

API = "/api/v1/aircraft"


async def add(tenant: Tenant, **fields: Any) -> str:
    """An aircraft through the API (it enters with an initial entry of its meters)."""
    return str((await add_aircraft(tenant.as_("scheduler"), **fields))["id"])


async def aircraft(tenant: Tenant, aircraft_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(await tenant.as_("viewer").get(f"/aircraft/{aircraft_id}"))
    return found


async def meters(tenant: Tenant, aircraft_id: str) -> tuple[float, int]:
    craft = await aircraft(tenant, aircraft_id)
    return craft["flight_hours_total"], craft["cycles_total"]


async def record(
    tenant: Tenant,
    aircraft_id: str,
    *,
    role: Role = "scheduler",
    flight_date: str | None = None,
    hours: float = 1.0,
    cycles: int = 1,
    **extra: Any,
) -> httpx.Response:
    body = {"flight_date": flight_date or day(-1), "flight_hours": hours, "cycles": cycles, **extra}
    return await tenant.as_(role).post(f"/aircraft/{aircraft_id}/utilization", body)


async def entries(tenant: Tenant, aircraft_id: str, **params: Any) -> httpx.Response:
    response = await tenant.as_("viewer").get(f"/aircraft/{aircraft_id}/utilization", params=params)
    assert response.status_code == 200, response.text
    return response


# --- recording -----------------------------------------------------------------------------


async def test_an_entry_adds_to_both_meters(client: httpx.AsyncClient, tenant: Tenant) -> None:
    aircraft_id = await add(tenant, flight_hours_total=100, cycles_total=50)
    response = await record(tenant, aircraft_id, flight_date=day(-1), hours=2.5, cycles=3)
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["aircraft_id"] == aircraft_id
    assert entry["org_id"] == str(tenant.id)
    assert (entry["flight_date"], entry["flight_hours"], entry["cycles"]) == (day(-1), 2.5, 3)
    assert (entry["source"], entry["external_id"], entry["corrects_id"]) == ("api", None, None)
    assert entry["created_by"] == str(tenant.users["scheduler"].id)
    assert await meters(tenant, aircraft_id) == (102.5, 53)

    # A second entry adds again; entries may be back-dated.
    again = await record(tenant, aircraft_id, flight_date=day(-400), hours=1.5, cycles=1)
    assert again.status_code == 201, again.text
    assert await meters(tenant, aircraft_id) == (104.0, 54)


async def test_every_entry_is_audited(client: httpx.AsyncClient, tenant: Tenant) -> None:
    aircraft_id = await add(tenant, flight_hours_total=10)
    entry = (await record(tenant, aircraft_id, hours=2.0, cycles=1)).json()
    logs = await client.get(
        "/api/v1/audit-logs",
        params={"entity_id": entry["id"]},
        headers=tenant.headers("tenant_admin"),
    )
    [row] = logs.json()
    assert (row["entity_type"], row["action"]) == ("utilization_entry", "create")
    assert row["details"]["new"]["aircraft_id"] == aircraft_id
    assert row["details"]["meters"]["flight_hours_total"] == {"old": 10.0, "new": 12.0}


async def test_same_external_id_twice_returns_the_first_entry_and_adds_once(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    aircraft_id = await add(tenant)
    other_id = await add(tenant)
    first = await record(tenant, aircraft_id, hours=2.0, cycles=1, external_id="FL-1")
    assert first.status_code == 201, first.text

    second = await record(tenant, aircraft_id, hours=3.0, cycles=2, external_id="FL-1")
    assert second.status_code == 200, second.text
    assert second.json() == first.json()
    assert await meters(tenant, aircraft_id) == (2.0, 1)
    # The entry and the aircraft's initial one (its meters when it entered AMSS).
    assert (await entries(tenant, aircraft_id)).headers["x-total-count"] == "2"

    # external_id is scoped per aircraft: the same id on another aircraft is a new entry.
    elsewhere = await record(tenant, other_id, hours=3.0, cycles=2, external_id="FL-1")
    assert elsewhere.status_code == 201, elsewhere.text
    assert elsewhere.json()["id"] != first.json()["id"]
    assert await meters(tenant, other_id) == (3.0, 2)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"flight_date": Day(1)}, "flight_date"),  # tomorrow
        ({"flight_date": Day(1, "T00:30:00Z")}, "flight_date"),
        ({"flight_date": "2024-13-01"}, "flight_date"),
        ({"flight_date": "yesterday"}, "flight_date"),
        ({"flight_date": "2024-01-01T10:00:00"}, "flight_date"),  # date-time without offset
        ({"flight_hours": -1.0}, "flight_hours"),
        ({"cycles": -1}, "cycles"),
        ({"flight_hours": 0, "cycles": 1}, "cycles"),  # cycles without hours
        ({"flight_hours": 24.5}, "flight_hours"),
        ({"flight_hours": 1.25}, "flight_hours"),
        ({"flight_hours": "lots"}, "flight_hours"),
        ({"cycles": 1.5}, "cycles"),
        ({"cycles": 1001}, "cycles"),  # more landings than any day holds
        ({"source": ""}, "source"),
        ({"external_id": ""}, "external_id"),
        ({"corrects_id": "not-a-uuid"}, "corrects_id"),
        ({"tail": "N1"}, "tail"),
    ],
)
async def test_implausible_entries_are_400_naming_the_field(
    client: httpx.AsyncClient, tenant: Tenant, change: dict[str, Any], field: str
) -> None:
    aircraft_id = await add(tenant, flight_hours_total=10, cycles_total=5)
    body = {"flight_date": day(-1), "flight_hours": 1.0, "cycles": 1, **resolved(change)}
    response = await client.post(
        f"{API}/{aircraft_id}/utilization", json=body, headers=tenant.headers("scheduler")
    )
    assert_error(response, 400, "validation", field=field)
    assert await meters(tenant, aircraft_id) == (10.0, 5)
    listed = (await entries(tenant, aircraft_id)).json()
    assert [(e["source"], e["flight_hours"], e["cycles"]) for e in listed] == [("initial", 10, 5)]


@pytest.mark.parametrize("missing", ["flight_date", "flight_hours", "cycles"])
async def test_entry_without_a_required_field_is_400(
    client: httpx.AsyncClient, tenant: Tenant, missing: str
) -> None:
    aircraft_id = await add(tenant)
    body = {"flight_date": day(-1), "flight_hours": 1.0, "cycles": 1}
    del body[missing]
    response = await client.post(
        f"{API}/{aircraft_id}/utilization", json=body, headers=tenant.headers("scheduler")
    )
    assert_error(response, 400, "validation", field=missing)


async def test_more_than_24_hours_on_one_day_is_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    aircraft_id = await add(tenant)
    assert (await record(tenant, aircraft_id, flight_date=day(-2), hours=14)).status_code == 201

    refused = await record(tenant, aircraft_id, flight_date=day(-2), hours=11)
    assert "24" in assert_error(refused, 400, "validation", field="flight_hours")["error"]
    assert await meters(tenant, aircraft_id) == (14.0, 1)

    # Another day is its own budget; exactly 24 h on one day is fine.
    assert (await record(tenant, aircraft_id, flight_date=day(-3), hours=11)).status_code == 201
    assert (await record(tenant, aircraft_id, flight_date=day(-2), hours=10)).status_code == 201
    over = await record(tenant, aircraft_id, flight_date=day(-2), hours=0.1, cycles=0)
    assert_error(over, 400, "validation", field="flight_hours")
    assert await meters(tenant, aircraft_id) == (35.0, 3)


async def test_the_day_limit_is_per_aircraft(client: httpx.AsyncClient, tenant: Tenant) -> None:
    first = await add(tenant)
    second = await add(tenant)
    assert (await record(tenant, first, flight_date=day(-1), hours=20)).status_code == 201
    assert (await record(tenant, second, flight_date=day(-1), hours=20)).status_code == 201


async def test_manual_entries_do_not_count_toward_the_day_limit(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    aircraft_id = await add(tenant)
    manual = await record(tenant, aircraft_id, hours=20, cycles=2, source="manual")
    assert manual.status_code == 201, manual.text
    assert manual.json()["source"] == "manual"
    assert (await record(tenant, aircraft_id, hours=24)).status_code == 201
    assert_error(await record(tenant, aircraft_id, hours=0.1, cycles=0), 400, "validation")
    assert await meters(tenant, aircraft_id) == (44.0, 3)


async def test_corrections_do_not_count_toward_the_day_limit(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    aircraft_id = await add(tenant)
    first = await record(tenant, aircraft_id, hours=20, cycles=2)
    # The flight was under-reported: a correction adds 10 h on the same day.
    fixed = await record(tenant, aircraft_id, hours=10, cycles=0, corrects_id=first.json()["id"])
    assert fixed.status_code == 201, fixed.text
    assert (await record(tenant, aircraft_id, hours=4, cycles=1)).status_code == 201
    assert_error(await record(tenant, aircraft_id, hours=0.1, cycles=0), 400, "validation")
    assert await meters(tenant, aircraft_id) == (34.0, 3)


# --- corrections ---------------------------------------------------------------------------


async def test_a_correcting_entry_lowers_the_meters(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    aircraft_id = await add(tenant, flight_hours_total=100, cycles_total=40)
    wrong = await record(tenant, aircraft_id, flight_date=day(-3), hours=5.0, cycles=2)
    assert await meters(tenant, aircraft_id) == (105.0, 42)

    fix = await record(
        tenant,
        aircraft_id,
        flight_date=day(-3),
        hours=-4.5,
        cycles=-1,
        corrects_id=wrong.json()["id"],
    )
    assert fix.status_code == 201, fix.text
    assert fix.json()["corrects_id"] == wrong.json()["id"]
    assert (fix.json()["flight_hours"], fix.json()["cycles"]) == (-4.5, -1)
    assert await meters(tenant, aircraft_id) == (100.5, 41)
    # Entries are append-only: the mistake stays, next to its correction.
    listed = (await entries(tenant, aircraft_id)).json()
    flying = {row["id"] for row in listed if row["source"] != "initial"}
    assert flying == {wrong.json()["id"], fix.json()["id"]}


async def test_correcting_an_unknown_entry_is_404(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    aircraft_id = await add(tenant, flight_hours_total=10, cycles_total=5)
    other_id = await add(tenant)
    others = await record(tenant, other_id, hours=2.0)
    for corrects_id in (str(uuid.uuid4()), others.json()["id"]):  # unknown; another aircraft's
        response = await record(tenant, aircraft_id, hours=-1.0, cycles=0, corrects_id=corrects_id)
        assert_error(response, 404, "not_found")
    assert await meters(tenant, aircraft_id) == (10.0, 5)


@pytest.mark.parametrize(("hours", "cycles"), [(-2.5, 0), (-1.0, -3), (-2.5, -3)])
async def test_a_correction_below_zero_is_400(
    client: httpx.AsyncClient, tenant: Tenant, hours: float, cycles: int
) -> None:
    aircraft_id = await add(tenant)
    wrong = await record(tenant, aircraft_id, hours=2.0, cycles=2)
    response = await record(
        tenant, aircraft_id, hours=hours, cycles=cycles, corrects_id=wrong.json()["id"]
    )
    assert_error(response, 400, "validation")
    assert await meters(tenant, aircraft_id) == (2.0, 2)


async def test_a_correction_taking_cycles_below_zero_names_cycles(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    aircraft_id = await add(tenant)
    wrong = await record(tenant, aircraft_id, hours=2.0, cycles=2)
    response = await record(
        tenant, aircraft_id, hours=-1.0, cycles=-3, corrects_id=wrong.json()["id"]
    )
    assert_error(response, 400, "validation", field="cycles")


# --- flight dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (Day(-2), Day(-2)),
        (Day(-2, "T18:45:00Z"), Day(-2)),
        (Day(-2, "T23:30:00-02:00"), Day(-1)),  # its UTC date
        (Day(-2, "T00:30:00+01:00"), Day(-3)),
    ],
)
async def test_flight_date_accepts_a_date_or_an_rfc3339_date_time(
    client: httpx.AsyncClient, tenant: Tenant, given: Day, stored: Day
) -> None:
    aircraft_id = await add(tenant)
    response = await record(tenant, aircraft_id, flight_date=str(given))
    assert response.status_code == 201, response.text
    assert response.json()["flight_date"] == str(stored)


# --- who may record --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("mechanic", 201),
        ("scheduler", 201),
        ("tenant_admin", 201),
        ("viewer", 403),
        ("auditor", 403),
    ],
)
async def test_who_may_record_utilization(
    client: httpx.AsyncClient, tenant: Tenant, role: Role, status: int
) -> None:
    aircraft_id = await add(tenant)
    response = await record(tenant, aircraft_id, role=role, hours=1.5, cycles=1)
    assert response.status_code == status, response.text
    expected = (1.5, 1) if status == 201 else (0.0, 0)
    assert await meters(tenant, aircraft_id) == expected
    # Everyone reads the entries.
    listed = await client.get(f"{API}/{aircraft_id}/utilization", headers=tenant.headers(role))
    assert listed.status_code == 200, listed.text


async def test_utilization_of_an_unknown_or_deleted_aircraft_is_404(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    aircraft_id = await add(tenant)
    deleted = await client.delete(f"{API}/{aircraft_id}", headers=tenant.headers("scheduler"))
    assert deleted.status_code == 204, deleted.text
    for target in (aircraft_id, str(uuid.uuid4())):
        assert_error(await record(tenant, target), 404, "not_found")
        listed = await client.get(f"{API}/{target}/utilization", headers=tenant.headers("viewer"))
        assert_error(listed, 404, "not_found")


# --- listing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # Day 0 is the initial entry: the meters the aircraft entered AMSS with, today.
        ({}, [0, 1, 3, 5]),
        ({"from": Day(-3)}, [0, 1, 3]),
        ({"to": Day(-3)}, [3, 5]),
        ({"from": Day(-3), "to": Day(-3)}, [3]),
        ({"from": Day(-2), "to": Day(-2)}, []),
        ({"limit": 1, "offset": 1}, [1]),
    ],
)
async def test_list_is_newest_flight_date_first_with_total_and_date_filters(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, Any], expected: list[int]
) -> None:
    aircraft_id = await add(tenant)
    for days_ago in (5, 1, 3):
        assert (await record(tenant, aircraft_id, flight_date=day(-days_ago))).status_code == 201
    response = await entries(tenant, aircraft_id, **resolved(params))
    assert [row["flight_date"] for row in response.json()] == [day(-n) for n in expected]
    total = 4 if "limit" in params else len(expected)
    assert response.headers["x-total-count"] == str(total)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"from": "someday"}, "from"), ({"to": "2024-02-30"}, "to"), ({"limit": "0"}, "limit")],
)
async def test_bad_list_filters_are_400(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, str], field: str
) -> None:
    aircraft_id = await add(tenant)
    response = await client.get(
        f"{API}/{aircraft_id}/utilization", params=params, headers=tenant.headers("viewer")
    )
    assert_error(response, 400, "validation", field=field)


# --- daily rate ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "hours_rate", "cycles_rate"),
    [(1, 5.0, 1.0), (4, 8.0, 1.6), (9, 9.0, 1.8)],
)
async def test_daily_rate_is_the_total_over_the_days_spanned(
    client: httpx.AsyncClient, tenant: Tenant, days: int, hours_rate: float, cycles_rate: float
) -> None:
    """10 h and 2 cycles a day on each of the last ``days`` days (not today): the span runs
    from the earliest entry through today, so it is ``days + 1`` days long."""
    aircraft_id = await add(tenant, avg_daily_hours=3, avg_daily_cycles=7)
    for days_ago in range(1, days + 1):
        response = await record(tenant, aircraft_id, flight_date=day(-days_ago), hours=10, cycles=2)
        assert response.status_code == 201, response.text
    craft = await aircraft(tenant, aircraft_id)
    assert craft["daily_hours_rate"] == pytest.approx(hours_rate, abs=0.001)
    assert craft["daily_cycles_rate"] == pytest.approx(cycles_rate, abs=0.001)
    assert craft["avg_daily_hours"] == 3.0  # the configured average is kept


@pytest.mark.parametrize(("days_ago", "rate"), [(89, 10 / 90), (90, 3.0), (200, 3.0)])
async def test_daily_rate_looks_back_90_days(
    client: httpx.AsyncClient, tenant: Tenant, days_ago: int, rate: float
) -> None:
    aircraft_id = await add(tenant, avg_daily_hours=3)
    response = await record(tenant, aircraft_id, flight_date=day(-days_ago), hours=10)
    assert response.status_code == 201, response.text
    craft = await aircraft(tenant, aircraft_id)
    assert craft["daily_hours_rate"] == pytest.approx(rate, abs=0.001)


async def test_manual_meter_raises_do_not_count_toward_the_rate(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    aircraft_id = await add(tenant, flight_hours_total=100, avg_daily_hours=3)
    raised = await client.patch(
        f"{API}/{aircraft_id}",
        json={"flight_hours_total": 180},
        headers=tenant.headers("scheduler"),
    )
    assert raised.status_code == 200, raised.text
    assert raised.json()["daily_hours_rate"] == 3.0
    manual = await record(tenant, aircraft_id, flight_date=day(), hours=20, source="manual")
    assert manual.status_code == 201, manual.text
    assert (await aircraft(tenant, aircraft_id))["daily_hours_rate"] == 3.0


@pytest.mark.parametrize(
    ("avg", "policy", "expected"),
    [(4.5, 5, 4.5), (None, 5, 5.0), (None, None, None), (0, 5, 0.0)],
)
async def test_without_entries_the_rate_falls_back_to_average_then_policy(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    app: FastAPI,
    avg: float | None,
    policy: float | None,
    expected: float | None,
) -> None:
    tenant = await make_tenant(
        connection,
        app.state.signer,
        client,
        default_daily_hours=policy,
        default_daily_cycles=policy,
    )
    aircraft_id = await add(tenant, avg_daily_hours=avg, avg_daily_cycles=avg)
    craft = await aircraft(tenant, aircraft_id)
    assert craft["daily_hours_rate"] == expected
    assert craft["daily_cycles_rate"] == expected


# --- bugs ------------------------------------------------------------------------------------


async def test_flight_date_out_of_range_is_400(client: httpx.AsyncClient, tenant: Tenant) -> None:
    aircraft_id = await add(tenant)
    response = await record(tenant, aircraft_id, flight_date="0001-01-01T00:30:00+01:00")
    assert_error(response, 400, "validation", field="flight_date")


async def test_entry_overflowing_the_hours_meter_is_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    aircraft_id = await add(tenant, flight_hours_total=999_998)
    response = await record(tenant, aircraft_id, hours=5.0, cycles=1)
    assert response.status_code == 400, response.text
    assert response.json()["details"][0]["field"] == "flight_hours"
    assert await meters(tenant, aircraft_id) == (999_998.0, 0)
    too_big = await client.post(
        API,
        json={"tail_number": "NBIG1", "model": "C172S", "flight_hours_total": 999_999_999},
        headers=tenant.headers("scheduler"),
    )
    assert too_big.status_code == 400


async def test_many_cycles_in_one_day_never_give_a_500(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    aircraft_id = await add(tenant)
    statuses = set()
    for _ in range(100):
        response = await record(tenant, aircraft_id, flight_date=day(), hours=0.1, cycles=1000)
        statuses.add(response.status_code)
    assert statuses <= {201, 400}, statuses
    assert (
        await client.get(f"{API}/{aircraft_id}", headers=tenant.headers("viewer"))
    ).status_code == 200


async def test_a_slow_observed_rate_does_not_break_recording(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    aircraft_id = await add(tenant)
    await add_program(
        tenant.as_("scheduler"), name="Overhaul", interval_hours=1_000_000, aircraft_id=aircraft_id
    )
    response = await record(tenant, aircraft_id, flight_date=day(-89), hours=0.1, cycles=0)
    assert response.status_code == 201, response.text
    assert await meters(tenant, aircraft_id) == (0.1, 0)


@pytest.mark.parametrize("field", ["source", "external_id"])
async def test_nul_character_in_text_fields_is_400(
    client: httpx.AsyncClient, tenant: Tenant, field: str
) -> None:
    aircraft_id = await add(tenant)
    body = {"flight_date": day(-1), "flight_hours": 1.0, "cycles": 1, field: "FL\x001"}
    response = await client.post(
        f"{API}/{aircraft_id}/utilization", json=body, headers=tenant.headers("scheduler")
    )
    assert_error(response, 400, "validation", field=field)


async def test_entries_are_immutable_in_the_database(connection: AsyncConnection) -> None:
    """Not only the API: the database itself refuses to change or remove an entry."""
    org_id = await make_org(connection)
    aircraft_id = await make_aircraft(connection, org_id, tail_number="N1IM")
    entry_id = await make_utilization(connection, org_id, aircraft_id, hours=2.5)

    async def stored() -> tuple[object, ...]:
        row = (
            await connection.execute(
                text(
                    "SELECT flight_date, flight_hours, cycles, source FROM utilization_entries"
                    " WHERE id = :e"
                ),
                {"e": entry_id},
            )
        ).one()
        return tuple(row)

    before = await stored()
    for statement in (
        "UPDATE utilization_entries SET flight_hours = 0.5 WHERE id = :e",
        "UPDATE utilization_entries SET flight_date = flight_date - 1 WHERE id = :e",
        "DELETE FROM utilization_entries WHERE id = :e",
    ):
        savepoint = await connection.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            await connection.execute(text(statement), {"e": entry_id})
        await savepoint.rollback()
    assert await stored() == before
