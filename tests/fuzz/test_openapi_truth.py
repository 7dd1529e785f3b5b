"""What schemathesis found, each a regression test (issue 12): the OpenAPI document now
says what the API accepts and refuses, and nothing it can be sent answers 500.

Integrators generate clients from the document; an API that quietly reads ``to=0`` as
1970-01-01 or ``true`` as one cycle would put a wrong date or meter in a maintenance record.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.api import assert_error, ok
from tests.support.steps import add_aircraft
from tests.support.tenant import Tenant


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get("/openapi.json")).json()
    return found


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][name]
    return found


async def test_every_authenticated_operation_declares_the_bearer_scheme(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    operations = {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    secured = {
        key for key, op in operations.items() if {"bearerAuth": []} in op.get("security", [])
    }
    assert ("GET", "/api/v1/aircraft") in secured
    assert ("GET", "/api/v1/auth/me") in secured
    # Logging in and the probes need no token.
    assert ("POST", "/api/v1/auth/login") not in secured
    assert ("GET", "/health") not in secured
    # Every operation that can answer 401 says how to authenticate.
    for key, operation in operations.items():
        if "401" in operation["responses"] and key != ("POST", "/api/v1/auth/refresh"):
            assert key in secured or key[1].startswith("/api/v1/auth/"), key


async def test_a_405_lists_every_method_of_the_path(tenant: Tenant) -> None:
    # GET and POST /aircraft are two routes: Starlette named only the first one's methods.
    answer = await tenant.as_("viewer").request("OPTIONS", "/aircraft")
    assert_error(answer, 405)
    assert set(answer.headers["allow"].split(", ")) >= {"GET", "POST"}
    one = await tenant.as_("viewer").request(
        "PUT", "/aircraft/7f1d2c9e-8e0b-4f7a-9a51-3a4f0c2b1d00"
    )
    assert set(one.headers["allow"].split(", ")) >= {"GET", "PATCH", "DELETE"}


async def test_a_literal_path_answers_405_to_another_method(tenant: Tenant) -> None:
    # GET /imports/csv matched GET /imports/{import_id} and answered 400 ("csv" is no id);
    # the path is POST /imports/csv's, so the method is what is wrong.
    answer = await tenant.as_("scheduler").get("/imports/csv")
    assert_error(answer, 405)
    assert answer.headers["allow"] == "POST"
    bad_id = await tenant.as_("scheduler").get("/imports/not-an-id")
    assert_error(bad_id, 400, field="import_id")


async def test_decimals_are_documented_as_numbers_and_counts_as_integers(
    document: dict[str, Any],
) -> None:
    hours = _schema(document, "AircraftCreate")["properties"]["flight_hours_total"]
    assert hours["type"] == "number" and hours["minimum"] == 0 and hours["multipleOf"] == 0.1
    cycles = _schema(document, "AircraftCreate")["properties"]["cycles_total"]
    assert cycles["type"] == "integer" and cycles["minimum"] == 0


async def test_fields_a_patch_cannot_clear_are_not_nullable_in_the_document(
    document: dict[str, Any], tenant: Tenant
) -> None:
    status = _schema(document, "AircraftUpdate")["properties"]["status"]
    assert "anyOf" not in status and status["type"] == "string" and "default" not in status
    craft = await add_aircraft(tenant.as_("scheduler"))
    refused = await tenant.as_("scheduler").patch(f"/aircraft/{craft['id']}", {"status": None})
    assert_error(refused, 400, field="status", contains="cannot be cleared")


@pytest.mark.parametrize(
    ("path", "value"),
    [("/audit-logs", "0.5"), ("/audit-logs", "0"), ("/part-items", "AAA")],
)
async def test_a_number_is_not_a_date(tenant: Tenant, path: str, value: str) -> None:
    # Lax parsing read "0" as the first second of 1970: a filter the user never asked for.
    parameter = "to" if path == "/audit-logs" else "expiry_before"
    answer = await tenant.as_("tenant_admin").get(path, params={parameter: value})
    assert_error(answer, 400, field=parameter)


async def test_utilization_dates_refuse_numbers(tenant: Tenant) -> None:
    craft = await add_aircraft(tenant.as_("scheduler"))
    answer = await tenant.as_("viewer").get(
        f"/aircraft/{craft['id']}/utilization", params={"to": "0"}
    )
    assert_error(answer, 400, field="to")


async def test_true_is_not_a_cycle_and_zero_is_not_false(tenant: Tenant) -> None:
    scheduler = tenant.as_("scheduler")
    answer = await scheduler.post(
        "/aircraft", {"tail_number": "N1BOOL", "model": "C172", "cycles_total": True}
    )
    assert_error(answer, 400, field="cycles_total")
    answer = await scheduler.post(
        "/maintenance-programs",
        {"name": "Annual", "interval_months": 12, "mandatory": 0},
    )
    assert_error(answer, 400, field="mandatory")


async def test_dates_are_checked_as_written_whatever_their_offset(tenant: Tenant) -> None:
    # The document states the 1900..2200 range as a pattern on the written year, so the
    # last evening of 2200 in New York (2201 in UTC) is inside it, and 2201 is not.
    scheduler = tenant.as_("scheduler")
    inside = await scheduler.post(
        "/maintenance-tasks/",
        {"title": "far", "type": "inspection", "due_at": "2200-12-31T23:00:00-05:00"},
    )
    assert inside.status_code != 400 or "due_at" not in inside.text, inside.text
    outside = await scheduler.post(
        "/aircraft",
        {"tail_number": "N2201", "model": "C172", "last_maintenance": "2201-01-01T00:00:00Z"},
    )
    assert_error(outside, 400, field="last_maintenance", contains="between 1900-01-01")


async def test_an_interval_type_that_is_not_a_name_is_a_400(tenant: Tenant) -> None:
    # Was a 500: the legacy interval mapping hashed whatever it was given.
    answer = await tenant.as_("scheduler").post(
        "/maintenance-programs",
        {"name": "Odd", "interval_type": {}, "interval_value": 10, "interval_hours": 10},
    )
    assert_error(answer, 400, field="interval_type")


async def test_a_webhook_host_label_too_long_for_dns_is_a_400(tenant: Tenant) -> None:
    # Was a 500: the resolver's IDNA encoding raised on a 64-octet label.
    answer = await tenant.as_("tenant_admin").post(
        "/webhooks", {"url": f"https://{'0' * 64}.example/hook", "events": ["*"]}
    )
    assert_error(answer, 400, field="url", contains="not a valid host name")


async def test_a_nul_in_a_parameter_name_is_named_without_the_nul(tenant: Tenant) -> None:
    answer = await tenant.as_("viewer").request("GET", "/maintenance-tasks?a%00b=x%00y")
    body = assert_error(answer, 400)
    assert "\x00" not in body["error"] and "\\u0000" in body["error"]
    assert all("\x00" not in detail["field"] for detail in body["details"])


async def test_closing_a_task_needs_notes_in_the_document_too(document: dict[str, Any]) -> None:
    rule = _schema(document, "TaskTransition")
    assert rule["if"]["properties"]["new_state"]["enum"] == ["completed", "cancelled"]
    assert rule["then"]["required"] == ["notes"]


async def test_the_program_rules_the_document_states(document: dict[str, Any]) -> None:
    create = _schema(document, "ProgramCreate")
    stated = [rule for rule in create["allOf"] if "anyOf" in rule]
    assert stated and any("interval_months" in r["required"] for r in stated[0]["anyOf"])
    assert any("not" in rule for rule in _schema(document, "ProgramUpdate")["allOf"])


async def test_free_text_sent_to_the_api_is_documented_without_nul(
    document: dict[str, Any], client: httpx.AsyncClient
) -> None:
    title = _schema(document, "TaskCreate")["properties"]["title"]
    assert title["pattern"] == "^[^\\u0000]*$"
    # Responses keep their own schemas: an error message is not constrained.
    assert "pattern" not in _schema(document, "ErrorEnvelope")["properties"]["error"]
    ok(await client.get("/health"))


async def test_every_date_parameter_is_one_of_ours(document: dict[str, Any]) -> None:
    # A bare date/datetime parameter would read "0.5" as 1970 again (schemathesis found one
    # on /reports/compliance): dates in queries go through kit/types.
    bare = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", ()):
                schema = json.dumps(parameter["schema"])
                if '"format": "date' in schema and '"pattern"' not in schema:
                    bare.append((method, path, parameter["name"]))
    assert not bare
