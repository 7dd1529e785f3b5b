"""The gRPC API over a real channel (SPEC §11): the same rules, messages and rows as REST,
because both call the same services."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from ipaddress import ip_network
from typing import Any

import grpc
import httpx
from fastapi import FastAPI
from google.protobuf.json_format import MessageToDict
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.config import Settings
from amss.db.engine import Database
from amss.grpc.gen import amss_pb2 as pb
from tests.grpc.conftest import grpc_channel
from tests.grpc.support import Stubs, auth, refused
from tests.support.api import assert_error, ok
from tests.support.dates import day
from tests.support.factories import (
    bearer,
    make_aircraft,
    make_org,
    make_part_definition,
    make_part_item,
    make_program,
    make_task,
    make_user,
)
from tests.support.polling import until_waiting_on_locks
from tests.support.steps import PAPER_RECORD, add_aircraft, add_task, move
from tests.support.tenant import Tenant, make_tenant

OK = grpc.StatusCode.OK


def as_dict(message: Any) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


async def test_a_task_created_over_grpc_is_the_task_rest_shows(
    channel: grpc.aio.Channel, tenant: Tenant
) -> None:
    scheduler = tenant.as_("scheduler")
    craft = await add_aircraft(scheduler)
    task = await Stubs.on(channel).tasks.CreateTask(
        pb.CreateTaskRequest(
            aircraft_id=craft["id"], type="inspection", title="Borescope", due_hours="1234.5"
        ),
        metadata=auth(tenant, "scheduler"),
    )
    shown = ok(await scheduler.get(f"/maintenance-tasks/{task.id}"))
    assert (shown["title"], shown["type"], shown["state"]) == (
        "Borescope",
        "inspection",
        "scheduled",
    )
    assert (task.aircraft_id, task.tail_number, task.version) == (
        craft["id"],
        craft["tail_number"],
        shown["version"],
    )
    # Decimals travel as their text, exactly.
    assert (task.due_hours, shown["due_hours"]) == ("1234.5", 1234.5)
    assert task.created_at.ToDatetime(tzinfo=UTC) == datetime.fromisoformat(
        shown["created_at"].replace("Z", "+00:00")
    )


async def test_a_task_created_over_rest_moves_over_grpc_and_rest_sees_it(
    channel: grpc.aio.Channel, tenant: Tenant
) -> None:
    scheduler = tenant.as_("scheduler")
    craft = await add_aircraft(scheduler)
    created = await add_task(scheduler, craft["id"], title="Replace tyre")
    stubs = Stubs.on(channel)
    started = await stubs.tasks.TransitionState(
        pb.TransitionStateRequest(task_id=created["id"], new_state="in_progress", version=1),
        metadata=auth(tenant, "scheduler"),
    )
    assert (started.state, started.version) == ("in_progress", 2)
    shown = ok(await scheduler.get(f"/maintenance-tasks/{created['id']}"))
    assert (shown["state"], shown["version"]) == ("in_progress", 2)
    assert ok(await scheduler.get(f"/aircraft/{craft['id']}"))["status"] == "maintenance"


async def test_a_record_entry_completion_carries_the_certifying_fields(
    channel: grpc.aio.Channel, tenant: Tenant
) -> None:
    scheduler = tenant.as_("scheduler")
    craft = await add_aircraft(scheduler)
    created = await add_task(scheduler, craft["id"])
    ok(await move(scheduler, created["id"], "in_progress"))
    done = await Stubs.on(channel).tasks.TransitionState(
        pb.TransitionStateRequest(
            task_id=created["id"], new_state="completed", notes="Done per WO", **PAPER_RECORD
        ),
        metadata=auth(tenant, "scheduler"),
    )
    assert done.state == "completed" and done.record_entry
    assert (done.certified_by_name, done.certificate_number, done.record_reference) == (
        PAPER_RECORD["certified_by_name"],
        PAPER_RECORD["certificate_number"],
        PAPER_RECORD["record_reference"],
    )
    assert not done.HasField("due_status")  # closed: no live due status, as REST's null
    shown = ok(await scheduler.get(f"/maintenance-tasks/{created['id']}"))
    assert shown["record_entry"] is True
    assert shown["completed_at"].startswith(done.completed_at.ToDatetime().date().isoformat())


async def test_a_rule_violation_gives_the_same_message_over_both(
    channel: grpc.aio.Channel, tenant: Tenant
) -> None:
    scheduler = tenant.as_("scheduler")
    craft = await add_aircraft(scheduler, capacity_slots=1)
    first = await add_task(scheduler, craft["id"], title="First")
    second = await add_task(scheduler, craft["id"], title="Second")
    ok(await move(scheduler, first["id"], "in_progress"))
    over_rest = assert_error(await move(scheduler, second["id"], "in_progress"), 409)
    error = await refused(
        Stubs.on(channel).tasks.TransitionState(
            pb.TransitionStateRequest(task_id=second["id"], new_state="in_progress"),
            metadata=auth(tenant, "scheduler"),
        ),
        grpc.StatusCode.ABORTED,
    )
    assert error.details() == over_rest["error"]
    assert "capacity_slots is 1" in error.details()
    assert dict(error.trailing_metadata())["amss-error-code"] == "conflict"


async def test_bad_input_gives_the_same_message_over_both(
    channel: grpc.aio.Channel, tenant: Tenant
) -> None:
    scheduler = tenant.as_("scheduler")
    craft = await add_aircraft(scheduler)
    stubs = Stubs.on(channel)
    cases: list[tuple[dict[str, Any], pb.CreateTaskRequest]] = [
        ({"aircraft_id": craft["id"]}, pb.CreateTaskRequest(aircraft_id=craft["id"])),
        (
            {"aircraft_id": craft["id"], "title": "X", "type": "painting"},
            pb.CreateTaskRequest(aircraft_id=craft["id"], title="X", type="painting"),
        ),
        (
            {"aircraft_id": "nope", "title": "X"},
            pb.CreateTaskRequest(aircraft_id="nope", title="X"),
        ),
        (
            {"aircraft_id": craft["id"], "title": "X", "due_hours": "12.25"},
            pb.CreateTaskRequest(aircraft_id=craft["id"], title="X", due_hours="12.25"),
        ),
    ]
    for body, request in cases:
        over_rest = assert_error(await scheduler.post("/maintenance-tasks", body), 400)
        error = await refused(
            stubs.tasks.CreateTask(request, metadata=auth(tenant, "scheduler")),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert error.details() == over_rest["error"], body
    bad_id = await refused(
        stubs.tasks.TransitionState(
            pb.TransitionStateRequest(task_id="42", new_state="cancelled"),
            metadata=auth(tenant, "scheduler"),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    over_rest = assert_error(
        await scheduler.patch("/maintenance-tasks/42/state", {"new_state": "cancelled"}), 400
    )
    assert bad_id.details() == over_rest["error"]


def every_call(ids: dict[str, str]) -> list[tuple[str, Any]]:
    """Each method of the four services, with a well-formed request."""
    return [
        ("CreateTask", pb.CreateTaskRequest(aircraft_id=ids["aircraft"], title="T")),
        (
            "TransitionState",
            pb.TransitionStateRequest(task_id=ids["task"], new_state="in_progress"),
        ),
        ("ListDueTasks", pb.ListDueTasksRequest(aircraft_id=ids["aircraft"])),
        (
            "ReserveParts",
            pb.ReservePartsRequest(task_id=ids["task"], part_item_id=ids["item"]),
        ),
        ("ReleaseParts", pb.ReleasePartsRequest(reservation_id=ids["reservation"])),
        ("LogAction", pb.LogActionRequest(entity_type="work_order", action="create")),
        ("GenerateTasks", pb.GenerateTasksRequest(program_id=ids["program"])),
    ]


def method_of(stubs: Stubs, name: str) -> Any:
    for stub in (stubs.tasks, stubs.inventory, stubs.audit, stubs.programs):
        if hasattr(stub, name):
            return getattr(stub, name)
    raise AssertionError(name)


async def call(stubs: Stubs, name: str, request: Any, metadata: Any) -> Any:
    method = method_of(stubs, name)
    if name == "ListDueTasks":
        return [item async for item in method(request, metadata=metadata)]
    return await method(request, metadata=metadata)


async def test_no_token_or_a_bad_one_is_unauthenticated_on_every_method(
    channel: grpc.aio.Channel, tenant: Tenant
) -> None:
    stubs = Stubs.on(channel)
    ids = {k: str(uuid.uuid4()) for k in ("aircraft", "task", "item", "reservation", "program")}
    for name, request in every_call(ids):
        for metadata, message in [
            ((), "missing bearer token"),
            ((("authorization", "Bearer not-a-jwt"),), None),
            (
                (("authorization", tenant.headers("scheduler")["Authorization"][:-4] + "AAAA"),),
                None,
            ),
        ]:
            error = await refused(
                call(stubs, name, request, metadata), grpc.StatusCode.UNAUTHENTICATED
            )
            if message:
                assert error.details() == message, name


async def test_another_organizations_rows_are_not_found(
    channel: grpc.aio.Channel,
    tenant: Tenant,
    connection: AsyncConnection,
    app: FastAPI,
    client: httpx.AsyncClient,
) -> None:
    other = await make_tenant(connection, app.state.signer, client)
    theirs_craft = await make_aircraft(connection, other.id)
    theirs = {
        "aircraft": str(theirs_craft),
        "task": str(await make_task(connection, other.id, theirs_craft)),
        "item": str(
            await make_part_item(
                connection, other.id, await make_part_definition(connection, other.id)
            )
        ),
        "program": str(await make_program(connection, other.id, aircraft_id=theirs_craft)),
    }
    reservation = ok(
        await other.as_("scheduler").post(
            "/part-reservations", {"task_id": theirs["task"], "part_item_id": theirs["item"]}
        ),
        201,
    )
    theirs["reservation"] = reservation["id"]
    stubs = Stubs.on(channel)
    messages = {}
    for name, request in every_call(theirs):
        if name == "LogAction":
            continue
        error = await refused(
            call(
                stubs,
                name,
                request,
                auth(tenant, "admin" if name != "GenerateTasks" else "scheduler"),
            ),
            grpc.StatusCode.NOT_FOUND,
        )
        messages[name] = error.details()
    assert messages == {
        "CreateTask": "aircraft not found",
        "TransitionState": "maintenance task not found",
        "ListDueTasks": "aircraft not found",
        "ReserveParts": "maintenance task not found",
        "ReleaseParts": "part reservation not found",
        "GenerateTasks": "maintenance program not found",
    }
    # The same words as REST's 404.
    rest = assert_error(
        await tenant.as_("scheduler").patch(
            f"/maintenance-tasks/{theirs['task']}/state", {"new_state": "in_progress"}
        ),
        404,
    )
    assert rest["error"] == messages["TransitionState"]


async def test_only_admins_log_actions_and_the_row_is_chained_with_request_id_and_peer(
    channel: grpc.aio.Channel, tenant: Tenant
) -> None:
    stubs = Stubs.on(channel)
    request = pb.LogActionRequest(
        entity_type="work_order", entity_id=str(uuid.uuid4()), action="update"
    )
    request.details.update({"source": "ERP", "work_order": "WO-77"})
    for role in ("mechanic", "scheduler", "auditor", "viewer"):
        error = await refused(
            stubs.audit.LogAction(request, metadata=auth(tenant, role)),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        assert error.details() == f"role {role} may not log audit"
    entry = await stubs.audit.LogAction(
        request, metadata=auth(tenant, "tenant_admin", x_request_id="erp-sync-0042")
    )
    assert (entry.entity_type, entry.action, entry.request_id) == (
        "work_order",
        "update",
        "erp-sync-0042",
    )
    assert entry.ip_address == "127.0.0.1"
    assert entry.user_agent.startswith("grpc-python")
    assert as_dict(entry.details) == {"source": "ERP", "work_order": "WO-77"}
    auditor = tenant.as_("auditor")
    [row] = ok(await auditor.get("/audit-logs", params={"entity_id": request.entity_id}))
    assert (row["id"], row["seq"], row["hash"], row["request_id"], row["ip_address"]) == (
        entry.id,
        entry.seq,
        entry.hash,
        "erp-sync-0042",
        "127.0.0.1",
    )
    assert ok(await auditor.get("/audit-logs/verify"))["ok"] is True


async def test_audit_rows_of_grpc_changes_carry_the_request_id_and_peer_address(
    channel: grpc.aio.Channel, tenant: Tenant
) -> None:
    scheduler = tenant.as_("scheduler")
    craft = await add_aircraft(scheduler)
    call = Stubs.on(channel).tasks.CreateTask(
        pb.CreateTaskRequest(aircraft_id=craft["id"], title="Logged"),
        metadata=auth(tenant, "scheduler", x_request_id="grpc-req-7"),
    )
    task = await call
    assert dict(await call.initial_metadata())["x-request-id"] == "grpc-req-7"
    rows = ok(await tenant.as_("auditor").get("/audit-logs", params={"entity_id": task.id}))
    assert [(r["action"], r["request_id"], r["ip_address"]) for r in rows] == [
        ("create", "grpc-req-7", "127.0.0.1")
    ]
    # An unusable request id is replaced, as over REST.
    other = Stubs.on(channel).tasks.CreateTask(
        pb.CreateTaskRequest(aircraft_id=craft["id"], title="Logged 2"),
        metadata=auth(tenant, "scheduler", x_request_id="bad id with spaces"),
    )
    await other
    assert dict(await other.initial_metadata())["x-request-id"] != "bad id with spaces"


async def test_list_due_tasks_streams_in_the_due_list_order(
    channel: grpc.aio.Channel, tenant: Tenant
) -> None:
    scheduler = tenant.as_("scheduler")
    first = await add_aircraft(scheduler)
    second = await add_aircraft(scheduler)
    for offset, craft in [(40, first), (-2, first), (5, second), (20, first), (1, second)]:
        await add_task(scheduler, craft["id"], title=f"Due {offset}", due_at=day(offset))
    # A manual task without limits is on the aircraft's list (no horizon) but not the fleet's.
    await add_task(scheduler, first["id"], title="No limit")
    stubs = Stubs.on(channel)
    metadata = auth(tenant, "viewer")
    for craft in (first, second):
        rest = ok(await scheduler.get(f"/aircraft/{craft['id']}/due-list"))
        streamed = [
            item
            async for item in stubs.tasks.ListDueTasks(
                pb.ListDueTasksRequest(aircraft_id=craft["id"]), metadata=metadata
            )
        ]
        assert [s.task_id for s in streamed] == [r["task_id"] for r in rest]
        assert [s.due_status for s in streamed] == [r["due_status"] for r in rest]
    fleet = [
        item.title
        async for item in stubs.tasks.ListDueTasks(
            pb.ListDueTasksRequest(days=60), metadata=metadata
        )
    ]
    # Most urgent first: what REST's task list (same order) shows of the open tasks with limits.
    listed = ok(await scheduler.get("/maintenance-tasks"))
    assert fleet == [t["title"] for t in listed if t["projected_due_at"]]
    assert fleet[0] == "Due -2"
    # Past the horizon only what is still ok drops out: "Due 20" is due soon (30 days).
    assert [
        i.title
        async for i in stubs.tasks.ListDueTasks(pb.ListDueTasksRequest(days=10), metadata=metadata)
    ] == ["Due -2", "Due 1", "Due 5", "Due 20"]
    await refused(
        _drain(stubs.tasks.ListDueTasks(pb.ListDueTasksRequest(days=-1), metadata=metadata)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


async def _drain(stream: Any) -> list[Any]:
    return [item async for item in stream]


async def test_reserve_and_release_parts(
    channel: grpc.aio.Channel, tenant: Tenant, connection: AsyncConnection
) -> None:
    scheduler = tenant.as_("scheduler")
    craft = await add_aircraft(scheduler)
    task = await add_task(scheduler, craft["id"])
    item = await make_part_item(
        connection,
        tenant.id,
        await make_part_definition(connection, tenant.id),
        serial_number="SN-G1",
    )
    stubs = Stubs.on(channel)
    reserved = await stubs.inventory.ReserveParts(
        pb.ReservePartsRequest(task_id=task["id"], part_item_id=str(item)),
        metadata=auth(tenant, "mechanic"),
    )
    assert (reserved.state, reserved.serial_number, reserved.task_id) == (
        "reserved",
        "SN-G1",
        task["id"],
    )
    again = await refused(
        stubs.inventory.ReserveParts(
            pb.ReservePartsRequest(task_id=task["id"], part_item_id=str(item)),
            metadata=auth(tenant, "mechanic"),
        ),
        grpc.StatusCode.ABORTED,
    )
    assert again.details() == "part item SN-G1 is already reserved"
    released = await stubs.inventory.ReleaseParts(
        pb.ReleasePartsRequest(reservation_id=reserved.id), metadata=auth(tenant, "mechanic")
    )
    assert (released.state, released.version) == ("released", reserved.version + 1)
    [shown] = ok(await scheduler.get("/part-reservations", params={"task_id": task["id"]}))
    assert shown["state"] == "released"
    await refused(
        stubs.inventory.ReleaseParts(
            pb.ReleasePartsRequest(reservation_id=reserved.id), metadata=auth(tenant, "viewer")
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )


async def test_generate_tasks_in_the_callers_organization(
    channel: grpc.aio.Channel, tenant: Tenant, connection: AsyncConnection
) -> None:
    scheduler = tenant.as_("scheduler")
    craft = await add_aircraft(scheduler)
    program = await make_program(
        connection, tenant.id, aircraft_id=uuid.UUID(craft["id"]), interval_days=90
    )
    stubs = Stubs.on(channel)
    made = await stubs.programs.GenerateTasks(
        pb.GenerateTasksRequest(program_id=str(program)), metadata=auth(tenant, "scheduler")
    )
    assert (made.program_id, made.generated) == (str(program), 1)
    listed = ok(await scheduler.get("/maintenance-tasks", params={"program_id": str(program)}))
    assert [t["id"] for t in listed] == list(made.task_ids)
    again = await stubs.programs.GenerateTasks(
        pb.GenerateTasksRequest(program_id=str(program)), metadata=auth(tenant, "scheduler")
    )
    assert (again.generated, list(again.task_ids)) == (0, [])
    await refused(
        stubs.programs.GenerateTasks(
            pb.GenerateTasksRequest(program_id=str(program)), metadata=auth(tenant, "mechanic")
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )


async def test_the_rate_limit_is_the_organizations_across_both_apis(
    channel: grpc.aio.Channel, connection: AsyncConnection, app: FastAPI, client: httpx.AsyncClient
) -> None:
    small = await make_tenant(
        connection, app.state.signer, client, roles=("scheduler",), api_rate_limit_per_min=2
    )
    ok(await small.as_("scheduler").get("/aircraft"))
    stubs = Stubs.on(channel)
    request = pb.ListDueTasksRequest()
    assert await _drain(stubs.tasks.ListDueTasks(request, metadata=auth(small, "scheduler"))) == []
    error = await refused(
        _drain(stubs.tasks.ListDueTasks(request, metadata=auth(small, "scheduler"))),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    assert error.details() == "rate limit of 2 requests per minute reached for this organization"
    trailers = dict(error.trailing_metadata())
    assert int(trailers["retry-after"]) >= 1 and trailers["amss-error-code"] == "rate_limited"


async def test_calls_are_counted_by_method_and_code(
    channel: grpc.aio.Channel, tenant: Tenant
) -> None:
    method = "/amss.v1.TaskService/TransitionState"

    def count(code: str) -> float:
        return (
            REGISTRY.get_sample_value("amss_grpc_requests_total", {"method": method, "code": code})
            or 0.0
        )

    before = count("NOT_FOUND")
    await refused(
        Stubs.on(channel).tasks.TransitionState(
            pb.TransitionStateRequest(task_id=str(uuid.uuid4()), new_state="in_progress"),
            metadata=auth(tenant, "scheduler"),
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert count("NOT_FOUND") == before + 1


async def test_two_concurrent_reservations_of_one_item_one_wins(
    settings: Settings,
    database: Database,
    app: FastAPI,
    committing_client: httpx.AsyncClient,
) -> None:
    """One reservation over gRPC, one over REST, held on the item's lock and released
    together: the database decides, whichever interface asked."""
    tag = uuid.uuid4().hex[:8]
    async with database.engine.begin() as conn:
        org_id = await make_org(conn, name=f"gRPC race {tag}")
        user = await make_user(conn, org_id, "scheduler")
        craft = await make_aircraft(conn, org_id)
        one, two = [await make_task(conn, org_id, craft, title=f"Race {n}") for n in (1, 2)]
        item = await make_part_item(
            conn, org_id, await make_part_definition(conn, org_id), serial_number=f"R-{tag}"
        )
    headers = bearer(app.state.signer, user)
    async with grpc_channel(settings, database, app) as channel:
        async with database.engine.begin() as holder:
            await holder.execute(
                text("SELECT 1 FROM part_items WHERE id = :i FOR UPDATE"), {"i": item}
            )
            over_grpc = asyncio.ensure_future(
                Stubs.on(channel).inventory.ReserveParts(
                    pb.ReservePartsRequest(task_id=str(one), part_item_id=str(item)),
                    metadata=(("authorization", headers["Authorization"]),),
                )
            )
            over_rest = asyncio.ensure_future(
                committing_client.post(
                    "/api/v1/part-reservations",
                    json={"task_id": str(two), "part_item_id": str(item)},
                    headers=headers,
                )
            )
            await until_waiting_on_locks(database, 2)
        grpc_outcome, rest_response = await asyncio.gather(
            over_grpc, over_rest, return_exceptions=True
        )
    assert isinstance(rest_response, httpx.Response)
    outcomes = sorted(
        [
            "won" if not isinstance(grpc_outcome, BaseException) else grpc_outcome.code().name,
            "won" if rest_response.status_code == 201 else str(rest_response.status_code),
        ]
    )
    assert outcomes in (["409", "won"], ["ABORTED", "won"]), (grpc_outcome, rest_response.text)
    async with database.engine.connect() as conn:
        reserved = (
            await conn.execute(
                text("SELECT task_id FROM part_reservations WHERE part_item_id = :i"), {"i": item}
            )
        ).all()
    winner = str(one) if not isinstance(grpc_outcome, BaseException) else str(two)
    assert [str(row.task_id) for row in reserved] == [winner]


async def test_the_forwarded_client_address_is_believed_from_trusted_proxies_only(
    settings: Settings, db: Database, app: FastAPI, tenant: Tenant
) -> None:
    craft = await add_aircraft(tenant.as_("scheduler"))
    forwarded = ("x-forwarded-for", "198.51.100.7")
    behind_proxy = settings.model_copy(update={"trusted_proxies": [ip_network("127.0.0.1/32")]})
    seen = []
    for served_settings in (settings, behind_proxy):
        async with grpc_channel(served_settings, db, app) as channel:
            task = await Stubs.on(channel).tasks.CreateTask(
                pb.CreateTaskRequest(aircraft_id=craft["id"], title="Forwarded"),
                metadata=(*auth(tenant, "scheduler"), forwarded),
            )
        [row] = ok(await tenant.as_("auditor").get("/audit-logs", params={"entity_id": task.id}))
        seen.append(row["ip_address"])
    assert seen == ["127.0.0.1", "198.51.100.7"]


async def test_an_admin_acts_in_another_organization_with_org_id_as_over_rest(
    channel: grpc.aio.Channel,
    tenant: Tenant,
    connection: AsyncConnection,
    app: FastAPI,
    client: httpx.AsyncClient,
) -> None:
    other = await make_tenant(connection, app.state.signer, client)
    craft = str(await make_aircraft(connection, other.id))
    stubs = Stubs.on(channel)
    request = pb.CreateTaskRequest(aircraft_id=craft, title="Visiting")
    await refused(
        stubs.tasks.CreateTask(request, metadata=auth(tenant, "admin")), grpc.StatusCode.NOT_FOUND
    )
    request.org_id = str(other.id)
    task = await stubs.tasks.CreateTask(request, metadata=auth(tenant, "admin"))
    assert task.org_id == str(other.id)
    # Anyone else sending org_id stays in their own organization.
    await refused(
        stubs.tasks.CreateTask(request, metadata=auth(tenant, "scheduler")),
        grpc.StatusCode.NOT_FOUND,
    )
    shown = ok(await other.as_("viewer").get(f"/maintenance-tasks/{task.id}"))
    assert shown["title"] == "Visiting"


async def test_a_mechanic_signs_a_completion_electronically(
    channel: grpc.aio.Channel, tenant: Tenant
) -> None:
    craft = await add_aircraft(tenant.as_("scheduler"))
    created = await add_task(tenant.as_("scheduler"), craft["id"])
    tasks = Stubs.on(channel).tasks
    mechanic = auth(tenant, "mechanic")
    started = await tasks.TransitionState(
        pb.TransitionStateRequest(task_id=created["id"], new_state="in_progress"), metadata=mechanic
    )
    assert started.assigned_mechanic_id == str(tenant.users["mechanic"].id)
    done = await tasks.TransitionState(
        pb.TransitionStateRequest(
            task_id=created["id"], new_state="completed", notes="Inspected, no findings"
        ),
        metadata=mechanic,
    )
    assert (done.state, done.record_entry) == ("completed", False)
    assert done.certified_by_user_id == str(tenant.users["mechanic"].id)
    assert done.certificate_number == "A&P 1000001"
    assert done.completed_by == str(tenant.users["mechanic"].id)
