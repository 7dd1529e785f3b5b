"""Parts through the API (SPEC §6.7): definitions, serialized items, reservations, low stock,
who may do what, and the required parts a program's task reserves when it starts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import ROLES as EVERY_ROLE
from amss.auth.rules import Role
from tests.support.api import assert_error
from tests.support.dates import Day, day, today
from tests.support.factories import make_aircraft, make_task
from tests.support.steps import PAPER_RECORD
from tests.support.tenant import Scenario, make_tenant

# Every role, and a second mechanic.
ROLES: dict[str, Role] = {**{role: role for role in EVERY_ROLE}, "mechanic2": "mechanic"}


@dataclass
class Store(Scenario):
    """An organization with a user of every role, an aircraft and an open manual task."""

    aircraft_id: str
    task_id: str

    async def definition(self, name: str = "Oil filter", **fields: Any) -> dict[str, Any]:
        made: dict[str, Any] = await self.ok(
            "POST", "/part-definitions", json={"name": name, **fields}, expect=201
        )
        return made

    async def item(self, definition_id: str, serial: str, **fields: Any) -> dict[str, Any]:
        made: dict[str, Any] = await self.ok(
            "POST",
            "/part-items",
            json={"part_definition_id": definition_id, "serial_number": serial, **fields},
            expect=201,
        )
        return made

    async def reserve(
        self, item_id: str, task_id: str | None = None, role: str = "scheduler"
    ) -> httpx.Response:
        return await self.call(
            "POST",
            "/part-reservations",
            role,
            {"task_id": task_id or self.task_id, "part_item_id": item_id},
        )

    async def task(self, **fields: Any) -> str:
        made = await self.ok(
            "POST",
            "/maintenance-tasks",
            json={"aircraft_id": self.aircraft_id, "title": "Oil change", **fields},
            expect=201,
        )
        return str(made["id"])

    async def move(self, task_id: str, new_state: str, **fields: Any) -> None:
        """As the scheduler: a completion is a record entry from the signed paper record."""
        paper = PAPER_RECORD if new_state == "completed" else {}
        await self.ok(
            "PATCH",
            f"/maintenance-tasks/{task_id}/state",
            json={"new_state": new_state, "notes": "done", **paper, **fields},
        )

    async def expire(self, item_id: str) -> None:
        await self.conn.execute(
            text("UPDATE part_items SET expiry_date = :d WHERE id = :i"),
            {"d": today() - timedelta(days=1), "i": item_id},
        )

    async def events(self, kind: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            text(
                "SELECT payload->'data' AS data FROM outbox_events WHERE org_id = :o"
                " AND event_type = :k ORDER BY created_at"
            ),
            {"o": self.org_id, "k": kind},
        )
        return [row.data for row in rows.all()]


@pytest.fixture
async def store(client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI) -> Store:
    # The aircraft and its task are not what these tests are about: written straight.
    tenant = await make_tenant(connection, app.state.signer, client, roles=ROLES)
    aircraft_id = await make_aircraft(
        connection, tenant.id, tail_number="N1PT", model="C172", flight_hours_total=100
    )
    task_id = await make_task(connection, tenant.id, aircraft_id, title="Oil change")
    return Store(tenant, connection, str(aircraft_id), str(task_id))


# --- definitions --------------------------------------------------------------------------


async def test_definition_crud(store: Store) -> None:
    made = await store.definition(
        "Oil filter", part_number="CH48110-1", category="engine", min_stock=0
    )
    assert (made["name"], made["part_number"], made["category"]) == (
        "Oil filter",
        "CH48110-1",
        "engine",
    )
    assert (made["min_stock"], made["available"], made["low_stock"], made["version"]) == (
        0,
        0,
        False,
        1,
    )
    assert await store.ok("GET", f"/part-definitions/{made['id']}", "viewer") == made
    changed = await store.ok(
        "PATCH", f"/part-definitions/{made['id']}", json={"category": None, "min_stock": 3}
    )
    assert (changed["category"], changed["min_stock"], changed["low_stock"]) == (None, 3, True)
    assert changed["version"] == 2
    await store.definition("Air filter")
    response = await store.call("GET", "/part-definitions", "viewer")
    assert [d["name"] for d in response.json()] == ["Air filter", "Oil filter"]
    assert response.headers["x-total-count"] == "2"
    await store.ok("DELETE", f"/part-definitions/{made['id']}", expect=204)
    assert_error(await store.call("GET", f"/part-definitions/{made['id']}"), 404)
    again = await store.definition("Oil filter")  # the name is free again
    assert again["id"] != made["id"]


@pytest.mark.parametrize("name", ["Oil filter", "OIL FILTER", "  Oil filter  "])
async def test_definition_names_are_unique_in_an_organization(store: Store, name: str) -> None:
    await store.definition("Oil filter")
    response = await store.call("POST", "/part-definitions", json={"name": name})
    assert "oil filter" in assert_error(response, 409)["error"].lower()
    other = await store.definition("Air filter")
    renamed = await store.call("PATCH", f"/part-definitions/{other['id']}", json={"name": name})
    assert_error(renamed, 409)


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x", "min_stock": -1},
        {"name": "x", "min_stock": "many"},
        {"name": "x", "min_stock": 2_000_000},
        {"name": "x", "colour": "red"},
        {},
    ],
)
async def test_bad_definitions_are_400(store: Store, body: dict[str, Any]) -> None:
    assert_error(await store.call("POST", "/part-definitions", json=body), 400)


async def test_definition_patch_cannot_null_name_or_min_stock(store: Store) -> None:
    made = await store.definition()
    for field in ("name", "min_stock"):
        response = await store.call("PATCH", f"/part-definitions/{made['id']}", json={field: None})
        assert_error(response, 400, contains=field)


async def test_a_definition_with_stock_cannot_be_deleted(store: Store) -> None:
    made = await store.definition()
    item = await store.item(made["id"], "OF-1")
    assert_error(
        await store.call("DELETE", f"/part-definitions/{made['id']}"), 409, contains="Oil filter"
    )
    await store.ok("DELETE", f"/part-items/{item['id']}", expect=204)
    await store.ok("DELETE", f"/part-definitions/{made['id']}", expect=204)


async def test_available_counts_in_stock_unreserved_unexpired_items(store: Store) -> None:
    made = await store.definition(min_stock=3)
    items = [await store.item(made["id"], f"OF-{n}") for n in range(5)]
    await store.ok("PATCH", f"/part-items/{items[0]['id']}", json={"status": "disposed"})
    assert (await store.reserve(items[1]["id"])).status_code == 201
    await store.expire(items[2]["id"])
    found = await store.ok("GET", f"/part-definitions/{made['id']}")
    assert (found["available"], found["low_stock"]) == (2, True)
    await store.item(made["id"], "OF-9")
    found = await store.ok("GET", f"/part-definitions/{made['id']}")
    assert (found["available"], found["low_stock"]) == (3, False)


# --- items --------------------------------------------------------------------------------


async def test_item_crud(store: Store) -> None:
    made = await store.definition()
    item = await store.item(made["id"], "OF-1", expiry_date=day(30), location="Shelf A")
    assert (item["status"], item["reserved"], item["expiry_date"], item["location"]) == (
        "in_stock",
        False,
        day(30),
        "Shelf A",
    )
    assert await store.ok("GET", f"/part-items/{item['id']}", "auditor") == item
    changed = await store.ok(
        "PATCH", f"/part-items/{item['id']}", json={"location": None, "expiry_date": day(60)}
    )
    assert (changed["location"], changed["expiry_date"], changed["version"]) == (
        None,
        day(60),
        2,
    )
    await store.ok("DELETE", f"/part-items/{item['id']}", expect=204)
    assert_error(await store.call("GET", f"/part-items/{item['id']}"), 404)
    again = await store.item(made["id"], "OF-1")  # the serial is free again
    assert again["id"] != item["id"]


async def test_an_item_accepts_a_datetime_expiry_and_today(store: Store) -> None:
    made = await store.definition()
    assert (await store.item(made["id"], "OF-1", expiry_date=day(0)))["expiry_date"] == day(0)
    stamped = await store.item(made["id"], "OF-2", expiry_date=f"{day(10)}T12:00:00Z")
    assert stamped["expiry_date"] == day(10)


@pytest.mark.parametrize("expiry", [Day(-1), "2001-01-01", Day(-1, "T23:00:00Z")])
async def test_an_expiry_date_in_the_past_is_400(store: Store, expiry: Day | str) -> None:
    made = await store.definition()
    response = await store.call(
        "POST",
        "/part-items",
        json={
            "part_definition_id": made["id"],
            "serial_number": "OF-1",
            "expiry_date": str(expiry),
        },
    )
    body = assert_error(response, 400, contains="expiry_date")
    assert body["details"][0]["field"] == "expiry_date"
    item = await store.item(made["id"], "OF-2", expiry_date=day(5))
    patch = await store.call(
        "PATCH", f"/part-items/{item['id']}", json={"expiry_date": str(expiry)}
    )
    assert_error(patch, 400, contains="expiry_date")


@pytest.mark.parametrize(
    "body",
    [
        {"serial_number": "OF-1", "status": "used"},
        {"serial_number": "", "status": "in_stock"},
        {"serial_number": "OF-1", "expiry_date": "31/12/2030"},
        {"serial_number": "OF-1", "quantity": 2},
    ],
)
async def test_bad_items_are_400(store: Store, body: dict[str, Any]) -> None:
    made = await store.definition()
    response = await store.call(
        "POST", "/part-items", json={"part_definition_id": made["id"], **body}
    )
    assert_error(response, 400)


async def test_an_item_of_an_unknown_definition_is_404(store: Store) -> None:
    response = await store.call(
        "POST",
        "/part-items",
        json={"part_definition_id": str(uuid.uuid4()), "serial_number": "OF-1"},
    )
    assert_error(response, 404, contains="part definition not found")


async def test_a_duplicate_serial_is_409(store: Store) -> None:
    made = await store.definition()
    other = await store.definition("Air filter")
    await store.item(made["id"], "SN-1")
    response = await store.call(
        "POST", "/part-items", json={"part_definition_id": other["id"], "serial_number": "SN-1"}
    )
    assert_error(response, 409, contains="SN-1")
    second = await store.item(made["id"], "SN-2")
    patch = await store.call("PATCH", f"/part-items/{second['id']}", json={"serial_number": "SN-1"})
    assert_error(patch, 409, contains="SN-1")


async def test_item_filters(store: Store) -> None:
    filters, gaskets = await store.definition(), await store.definition("Gasket")
    late = await store.item(filters["id"], "F-LATE", expiry_date=day(90))
    soon = await store.item(filters["id"], "F-SOON", expiry_date=day(5))
    never = await store.item(filters["id"], "F-NEVER")
    gasket = await store.item(gaskets["id"], "G-1", expiry_date=day(20))
    gone = await store.item(gaskets["id"], "G-2", status="disposed")

    async def serials(**params: Any) -> list[str]:
        response = await store.call("GET", "/part-items", params=params)
        assert response.status_code == 200, response.text
        assert response.headers["x-total-count"] == str(len(response.json()))
        return [item["serial_number"] for item in response.json()]

    # Earliest expiry first, items without expiry last.
    assert await serials(definition_id=filters["id"]) == ["F-SOON", "F-LATE", "F-NEVER"]
    assert await serials(status="disposed") == [gone["serial_number"]]
    assert await serials(expiry_before=day(30)) == ["F-SOON", "G-1"]
    assert await serials(definition_id=gaskets["id"], status="in_stock") == ["G-1"]
    assert len({late["id"], soon["id"], never["id"], gasket["id"]}) == 4


@pytest.mark.parametrize(
    "params",
    [
        {"status": "lost"},
        {"definition_id": "not-a-uuid"},
        {"expiry_before": "next week"},
        {"expiry_before": "2030-02-30"},
        {"limit": 0},
        {"limit": 501},
    ],
)
async def test_bad_item_filters_are_400(store: Store, params: dict[str, Any]) -> None:
    assert_error(await store.call("GET", "/part-items", params=params), 400)


# --- reservations -------------------------------------------------------------------------


async def test_a_reservation_reserves_an_in_stock_item(store: Store) -> None:
    made = await store.definition()
    item = await store.item(made["id"], "OF-1")
    response = await store.reserve(item["id"])
    assert response.status_code == 201, response.text
    reservation = response.json()
    assert (reservation["state"], reservation["quantity"], reservation["serial_number"]) == (
        "reserved",
        1,
        "OF-1",
    )
    assert reservation["task_id"] == store.task_id
    assert reservation["part_definition_id"] == made["id"]
    assert reservation["created_by"] == str(store.users["scheduler"].id)
    assert (await store.ok("GET", f"/part-items/{item['id']}"))["reserved"] is True
    assert_error(await store.reserve(item["id"]), 409, contains=("OF-1", "already reserved"))
    listed = await store.ok("GET", "/part-reservations", "viewer", params={"state": "reserved"})
    assert [r["id"] for r in listed] == [reservation["id"]]
    [event] = await store.events("part_reserved")
    assert event["part_item_id"] == item["id"] and event["task_id"] == store.task_id


@pytest.mark.parametrize(
    ("spoil", "needle"),
    [("expired", "expired"), ("disposed", "disposed"), ("used", "used"), ("deleted", "not found")],
)
async def test_only_in_stock_unexpired_items_can_be_reserved(
    store: Store, spoil: str, needle: str
) -> None:
    made = await store.definition()
    item = await store.item(made["id"], "OF-1", expiry_date=day(10))
    if spoil == "expired":
        await store.expire(item["id"])
    elif spoil == "disposed":
        await store.ok("PATCH", f"/part-items/{item['id']}", json={"status": "disposed"})
    elif spoil == "used":
        reservation = (await store.reserve(item["id"])).json()
        await store.ok(
            "PATCH", f"/part-reservations/{reservation['id']}/state", json={"new_state": "used"}
        )
    else:
        await store.ok("DELETE", f"/part-items/{item['id']}", expect=204)
    other_task = await store.task()
    response = await store.reserve(item["id"], other_task)
    assert_error(response, 404 if spoil == "deleted" else 409, contains=needle)


@pytest.mark.parametrize("state", ["in_progress", "completed", "cancelled"])
async def test_reservations_are_for_open_tasks_only(store: Store, state: str) -> None:
    made = await store.definition()
    item = await store.item(made["id"], "OF-1")
    task = await store.task()
    await store.move(task, "in_progress")
    if state != "in_progress":
        await store.move(task, state)
    response = await store.reserve(item["id"], task)
    if state == "in_progress":
        assert response.status_code == 201, response.text
    else:
        assert_error(response, 409, contains=state)
        assert (await store.ok("GET", f"/part-items/{item['id']}"))["reserved"] is False


@pytest.mark.parametrize("body", [{"quantity": 2}, {"part_item_id": "nope"}, {"colour": "red"}])
async def test_bad_reservations_are_400(store: Store, body: dict[str, Any]) -> None:
    made = await store.definition()
    item = await store.item(made["id"], "OF-1")
    response = await store.call(
        "POST",
        "/part-reservations",
        json={"task_id": store.task_id, "part_item_id": item["id"], **body},
    )
    assert_error(response, 400)


async def test_reserving_for_an_unknown_task_or_item_is_404(store: Store) -> None:
    made = await store.definition()
    item = await store.item(made["id"], "OF-1")
    assert_error(await store.reserve(item["id"], str(uuid.uuid4())), 404, contains="task not found")
    assert_error(await store.reserve(str(uuid.uuid4())), 404, contains="part item not found")


@pytest.mark.parametrize("action", ["delete", "dispose"])
async def test_a_reserved_item_cannot_be_deleted_or_disposed(store: Store, action: str) -> None:
    made = await store.definition()
    item = await store.item(made["id"], "OF-1")
    reservation = (await store.reserve(item["id"])).json()

    async def attempt() -> httpx.Response:
        if action == "delete":
            return await store.call("DELETE", f"/part-items/{item['id']}")
        return await store.call("PATCH", f"/part-items/{item['id']}", json={"status": "disposed"})

    assert_error(await attempt(), 409, contains=("OF-1", "reserved"))
    found = await store.ok("GET", f"/part-items/{item['id']}")
    assert (found["status"], found["reserved"]) == ("in_stock", True)
    await store.ok(
        "PATCH", f"/part-reservations/{reservation['id']}/state", json={"new_state": "released"}
    )
    assert (await attempt()).status_code in (200, 204)


@pytest.mark.parametrize(("new_state", "item_status"), [("used", "used"), ("released", "in_stock")])
async def test_settling_a_reservation(store: Store, new_state: str, item_status: str) -> None:
    made = await store.definition()
    item = await store.item(made["id"], "OF-1")
    reservation = (await store.reserve(item["id"])).json()
    settled = await store.ok(
        "PATCH", f"/part-reservations/{reservation['id']}/state", json={"new_state": new_state}
    )
    assert (settled["state"], settled["version"]) == (new_state, 2)
    found = await store.ok("GET", f"/part-items/{item['id']}")
    assert (found["status"], found["reserved"]) == (item_status, False)
    again = await store.call(
        "PATCH", f"/part-reservations/{reservation['id']}/state", json={"new_state": "released"}
    )
    assert_error(again, 409, contains="already " + new_state)
    assert len(await store.events(f"part_{new_state}")) == 1
    available = (await store.ok("GET", f"/part-definitions/{made['id']}"))["available"]
    assert available == (1 if new_state == "released" else 0)


@pytest.mark.parametrize("new_state", ["reserved", "lost", None])
async def test_a_reservation_moves_to_used_or_released_only(
    store: Store, new_state: str | None
) -> None:
    made = await store.definition()
    item = await store.item(made["id"], "OF-1")
    reservation = (await store.reserve(item["id"])).json()
    response = await store.call(
        "PATCH", f"/part-reservations/{reservation['id']}/state", json={"new_state": new_state}
    )
    assert_error(response, 400, contains="new_state")


async def test_a_used_item_record_is_final(store: Store) -> None:
    made = await store.definition()
    item = await store.item(made["id"], "OF-1")
    reservation = (await store.reserve(item["id"])).json()
    await store.ok(
        "PATCH", f"/part-reservations/{reservation['id']}/state", json={"new_state": "used"}
    )
    response = await store.call("PATCH", f"/part-items/{item['id']}", json={"status": "in_stock"})
    assert_error(response, 409, contains=("OF-1", "used"))


async def test_low_stock_is_announced_once_per_crossing(store: Store) -> None:
    made = await store.definition(min_stock=2)
    items = [await store.item(made["id"], f"OF-{n}") for n in range(3)]
    baseline = len(await store.events("part_low_stock"))

    async def low_events() -> list[dict[str, Any]]:
        return (await store.events("part_low_stock"))[baseline:]

    assert (await store.reserve(items[0]["id"])).status_code == 201  # 2 left: not below
    assert await low_events() == []
    assert (await store.reserve(items[1]["id"])).status_code == 201  # 1 left: below
    [first] = await low_events()
    assert first["part_definition_id"] == made["id"]
    assert (first["available"], first["min_stock"], first["name"]) == (1, 2, "Oil filter")
    assert (await store.reserve(items[2]["id"])).status_code == 201  # 0 left: still low
    assert len(await low_events()) == 1
    fourth = await store.item(made["id"], "OF-3")  # 1: still low
    await store.item(made["id"], "OF-4")  # 2: recovered
    assert len(await low_events()) == 1
    assert (await store.ok("GET", f"/part-definitions/{made['id']}"))["low_stock"] is False
    assert (await store.reserve(fourth["id"])).status_code == 201  # 1: below again
    events = await low_events()
    assert len(events) == 2 and events[1]["available"] == 1


# --- who may do what ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("viewer", 403),
        ("auditor", 403),
        ("mechanic", 201),
        ("scheduler", 201),
        ("tenant_admin", 201),
        ("admin", 201),
    ],
)
async def test_who_may_create_parts(store: Store, role: str, status: int) -> None:
    made = await store.definition()
    definition = await store.call("POST", "/part-definitions", role, {"name": f"Part {role}"})
    item = await store.call(
        "POST", "/part-items", role, {"part_definition_id": made["id"], "serial_number": role}
    )
    assert (definition.status_code, item.status_code) == (status, status), (
        definition.text,
        item.text,
    )
    assert (await store.call("GET", "/part-items", role)).status_code == 200
    assert (await store.call("GET", "/part-definitions", role)).status_code == 200


@pytest.mark.parametrize("role", ["viewer", "auditor"])
async def test_readers_cannot_change_or_reserve_parts(store: Store, role: str) -> None:
    made = await store.definition()
    item = await store.item(made["id"], "OF-1")
    assert_error(await store.reserve(item["id"], role=role), 403)
    assert_error(
        await store.call("PATCH", f"/part-items/{item['id']}", role, {"location": "x"}), 403
    )
    assert_error(await store.call("DELETE", f"/part-items/{item['id']}", role), 403)
    assert_error(
        await store.call("PATCH", f"/part-definitions/{made['id']}", role, {"min_stock": 1}), 403
    )
    assert_error(await store.call("DELETE", f"/part-definitions/{made['id']}", role), 403)


@pytest.mark.parametrize(
    ("assigned", "status"), [("mechanic2", 403), ("mechanic", 201), (None, 201)]
)
async def test_mechanics_reserve_for_tasks_they_may_work_on(
    store: Store, assigned: str | None, status: int
) -> None:
    fields = {"assigned_mechanic_id": str(store.users[assigned].id)} if assigned else {}
    task = await store.task(**fields)
    made = await store.definition()
    item = await store.item(made["id"], "OF-1")
    response = await store.reserve(item["id"], task, role="mechanic")
    assert response.status_code == status, response.text
    if status == 403:
        assert (await store.ok("GET", f"/part-items/{item['id']}"))["reserved"] is False


async def test_a_mechanic_cannot_settle_a_reservation_of_another_mechanics_task(
    store: Store,
) -> None:
    task = await store.task(assigned_mechanic_id=str(store.users["mechanic2"].id))
    made = await store.definition()
    item = await store.item(made["id"], "OF-1")
    reservation = (await store.reserve(item["id"], task)).json()
    path = f"/part-reservations/{reservation['id']}/state"
    assert_error(await store.call("PATCH", path, "mechanic", {"new_state": "used"}), 403)
    settled = await store.ok("PATCH", path, "mechanic2", {"new_state": "used"})
    assert settled["state"] == "used"


# --- required parts of a program ----------------------------------------------------------


async def _program_task(store: Store, required: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    program = await store.ok(
        "POST",
        "/maintenance-programs",
        json={
            "name": "50-hour",
            "interval_hours": 50,
            "aircraft_id": store.aircraft_id,
            "required_parts": required,
        },
        expect=201,
    )
    [task] = await store.ok(
        "GET", "/maintenance-tasks", params={"program_id": program["id"], "state": "scheduled"}
    )
    return program, task["id"]


async def test_programs_return_their_required_parts(store: Store) -> None:
    filters, gaskets = await store.definition(), await store.definition("Gasket")
    required = [
        {"part_definition_id": filters["id"], "quantity": 2},
        {"part_definition_id": gaskets["id"], "quantity": 1},
    ]
    program, _ = await _program_task(store, required)
    key = lambda part: part["part_definition_id"]  # noqa: E731
    assert sorted(program["required_parts"], key=key) == sorted(required, key=key)
    read = await store.ok("GET", f"/maintenance-programs/{program['id']}")
    assert sorted(read["required_parts"], key=key) == sorted(required, key=key)
    changed = await store.ok(
        "PATCH", f"/maintenance-programs/{program['id']}", json={"required_parts": required[:1]}
    )
    assert changed["required_parts"] == required[:1]


@pytest.mark.parametrize(
    ("parts", "status"),
    [
        ([{"part_definition_id": "unknown", "quantity": 1}], 404),
        ([{"part_definition_id": "filter", "quantity": 0}], 400),
        ([{"part_definition_id": "filter", "quantity": 1}] * 2, 400),
        ([{"part_definition_id": "filter"}], 400),
    ],
)
async def test_bad_required_parts(store: Store, parts: list[dict[str, Any]], status: int) -> None:
    made = await store.definition()
    ids = {"unknown": str(uuid.uuid4()), "filter": made["id"]}
    body = [{**part, "part_definition_id": ids[part["part_definition_id"]]} for part in parts]
    response = await store.call(
        "POST",
        "/maintenance-programs",
        json={"name": "50-hour", "interval_hours": 50, "required_parts": body},
    )
    assert_error(response, status)


async def test_starting_reserves_required_parts_earliest_expiry_first(store: Store) -> None:
    filters, gaskets = await store.definition(), await store.definition("Gasket")
    await store.item(filters["id"], "F-30", expiry_date=day(30))
    await store.item(filters["id"], "F-NONE")
    await store.item(filters["id"], "F-10", expiry_date=day(10))
    await store.item(filters["id"], "F-20", expiry_date=day(20))
    expired = await store.item(filters["id"], "F-OLD", expiry_date=day(1))
    await store.expire(expired["id"])
    taken = await store.item(filters["id"], "F-05", expiry_date=day(5))
    assert (await store.reserve(taken["id"])).status_code == 201  # reserved elsewhere
    await store.item(gaskets["id"], "G-NONE")
    _, task_id = await _program_task(
        store,
        [
            {"part_definition_id": filters["id"], "quantity": 2},
            {"part_definition_id": gaskets["id"], "quantity": 1},
        ],
    )
    response = await store.call(
        "PATCH", f"/maintenance-tasks/{task_id}/state", json={"new_state": "in_progress"}
    )
    assert response.status_code == 200, response.text
    serials = sorted(r["serial_number"] for r in response.json()["reservations"])
    assert serials == ["F-10", "F-20", "G-NONE"]
    assert {r["state"] for r in response.json()["reservations"]} == {"reserved"}


async def test_a_shortage_refuses_the_start_and_reserves_nothing(store: Store) -> None:
    filters, gaskets = await store.definition(), await store.definition("Gasket")
    for n in range(3):
        await store.item(filters["id"], f"F-{n}")
    await store.item(gaskets["id"], "G-1")
    _, task_id = await _program_task(
        store,
        [
            {"part_definition_id": filters["id"], "quantity": 2},
            {"part_definition_id": gaskets["id"], "quantity": 3},
        ],
    )
    response = await store.call(
        "PATCH", f"/maintenance-tasks/{task_id}/state", json={"new_state": "in_progress"}
    )
    error = assert_error(response, 409, contains="Gasket: need 3, 1 available")["error"]
    assert "Oil filter" not in error
    task = await store.ok("GET", f"/maintenance-tasks/{task_id}")
    assert (task["state"], task["reservations"]) == ("scheduled", [])
    assert await store.ok("GET", "/part-reservations") == []
    aircraft = await store.ok("GET", f"/aircraft/{store.aircraft_id}")
    assert aircraft["status"] == "operational"
    assert (await store.ok("GET", f"/part-definitions/{filters['id']}"))["available"] == 3


async def test_available_agrees_with_reservations_whatever_the_server_time_zone(
    store: Store,
) -> None:
    utc_hour = datetime.now(UTC).hour
    # A zone whose local date differs from the UTC date right now.
    zone = "Etc/GMT+12" if utc_hour < 12 else "Etc/GMT-14"
    made = await store.definition()
    item = await store.item(made["id"], "OF-1", expiry_date=day(0))
    if utc_hour < 12:
        await store.expire(item["id"])  # expired yesterday (UTC), 'today' in UTC-12
    await store.conn.execute(text(f"SET LOCAL TIME ZONE '{zone}'"))
    available = (await store.ok("GET", f"/part-definitions/{made['id']}"))["available"]
    reserved = await store.reserve(item["id"])
    assert reserved.status_code in (201, 409), reserved.text
    assert available == (1 if reserved.status_code == 201 else 0)
