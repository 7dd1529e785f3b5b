"""A platform admin acting in another organization (``org_id``), through every mutation an
admin can make: each one works, or is refused with a clear 4xx — never a foreign-key 500.

Why: every row that records a user (created_by, completed_by, the signer, the assignee)
either names the admin as the actor of that organization's change, or a user of that
organization. The first round found an admin's sign-off elsewhere failing with a 500 on the
signer's foreign key; a signature is a record of its own organization's people (SPEC §6.8,
14 CFR 43.9), so that one is a 403, and so is signing a completion there.

The walk is complete by construction: every mutation of the OpenAPI document that takes
``org_id`` must have a case here (``test_every_mutation_with_org_id_is_walked``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.api import assert_error
from tests.support.steps import PAPER_RECORD
from tests.tenancy.conftest import Elsewhere


@dataclass(frozen=True)
class Case:
    """One request of the walk and what it must answer."""

    method: str
    path: str
    body: dict[str, Any] | None
    status: int
    why: str = ""
    # Columns of the changed row that must name the admin (the actor of B's change).
    actor_columns: tuple[str, ...] = ()


def _case(method: str, path: str, body: dict[str, Any] | None, status: int, **extra: Any) -> Case:
    return Case(method, path, body, status, **extra)


# Every mutation an admin can make, with org_id of another organization. Several cases for
# one operation where the users it records differ.
CASES: tuple[Case, ...] = (
    _case(
        "POST",
        "/users",
        {"email": "new-mechanic@example.com", "password": "a-long-password-1", "role": "mechanic"},
        201,
    ),
    _case("PATCH", "/users/{b_mechanic}", {"certificate_number": "B-42"}, 200),
    _case("DELETE", "/users/{b_viewer}", None, 204),
    _case("POST", "/aircraft", {"tail_number": "N9ADM", "model": "C172S"}, 201),
    _case("PATCH", "/aircraft/{aircraft}", {"capacity_slots": 3}, 200),
    _case("DELETE", "/aircraft/{spare_craft}", None, 204),
    _case(
        "POST",
        "/aircraft/{aircraft}/utilization",
        {"flight_date": "2026-11-01", "flight_hours": 2, "cycles": 1},
        201,
    ),
    _case(
        "POST",
        "/aircraft/{aircraft}/compliance-records",
        {
            "program_id": "{program}",
            "performed_at": "2026-11-01",
            "performed_hours": 990,
            "reference": "Logbook p. 3",
        },
        201,
        actor_columns=("created_by",),
    ),
    _case("POST", "/maintenance-programs", {"name": "Wash", "interval_days": 30}, 201),
    _case("PATCH", "/maintenance-programs/{program}", {"tolerance_hours": 10}, 200),
    _case("DELETE", "/maintenance-programs/{spare_program}", None, 204),
    _case("POST", "/maintenance-programs/{program}/generate", None, 200),
    _case(
        "POST",
        "/maintenance-tasks",
        {"aircraft_id": "{aircraft}", "title": "Fix", "assigned_mechanic_id": "{b_mechanic}"},
        201,
    ),
    _case(
        "POST",
        "/maintenance-tasks",
        {"aircraft_id": "{aircraft}", "title": "Fix", "assigned_mechanic_id": "{a_mechanic}"},
        404,
        why="the assignee must be a user of the task's organization",
    ),
    _case("PATCH", "/maintenance-tasks/{task}", {"assigned_mechanic_id": "{b_mechanic}"}, 200),
    _case(
        "PATCH",
        "/maintenance-tasks/{task}",
        {"assigned_mechanic_id": "{a_mechanic}"},
        404,
        why="the assignee must be a user of the task's organization",
    ),
    _case("DELETE", "/maintenance-tasks/{spare_task}", None, 204),
    _case("PATCH", "/maintenance-tasks/{task}/state", {"new_state": "in_progress"}, 200),
    _case(
        "PATCH",
        "/maintenance-tasks/{started}/state",
        {"new_state": "completed", "notes": "done"},
        403,
        why="signing a completion is a certifying act of the organization's own users",
    ),
    _case(
        "PATCH",
        "/maintenance-tasks/{finished}/state",
        {"new_state": "completed", "notes": "done", **PAPER_RECORD},
        200,
        actor_columns=("completed_by",),
    ),
    _case(
        "PATCH",
        "/maintenance-tasks/{task}/state",
        {"new_state": "cancelled", "notes": "aircraft sold"},
        200,
    ),
    _case("POST", "/part-definitions", {"name": "Gasket"}, 201),
    _case("PATCH", "/part-definitions/{definition}", {"min_stock": 2}, 200),
    _case("DELETE", "/part-definitions/{spare_definition}", None, 204),
    _case(
        "POST",
        "/part-items",
        {"part_definition_id": "{definition}", "serial_number": "SN-ADM-1"},
        201,
    ),
    _case("PATCH", "/part-items/{item}", {"location": "Hangar 9"}, 200),
    _case("DELETE", "/part-items/{spare_item}", None, 204),
    _case(
        "POST",
        "/part-reservations",
        {"task_id": "{started}", "part_item_id": "{item}"},
        201,
        actor_columns=("created_by",),
    ),
    _case("PATCH", "/part-reservations/{reservation}/state", {"new_state": "released"}, 200),
    _case(
        "POST",
        "/compliance-items",
        {"task_id": "{started}", "description": "Torque check"},
        201,
        actor_columns=("created_by",),
    ),
    _case("PATCH", "/compliance-items/{compliance}", {"description": "Torque re-checked"}, 200),
    _case(
        "PATCH",
        "/compliance-items/{compliance}/sign-off",
        {"result": "pass"},
        403,
        why="a signature is a record of the organization's own certifying users",
    ),
    _case("POST", "/webhooks", {"url": "http://127.0.0.1:9/other", "events": ["*"]}, 201),
    _case("DELETE", "/webhooks/{spare_webhook}", None, 204),
    _case("POST", "/webhooks/{webhook}/test", None, 202),
    _case("POST", "/webhooks/{webhook}/deliveries/{delivery}/redeliver", None, 202),
)

# Mutations that take org_id but are not an admin's acting in another organization.
NOT_ACTING = {("POST", "/api/v1/auth/login")}  # org_id picks the account to log in to
# Multipart uploads, walked by their own test: tests/imports/test_uploads.py
# (test_an_admin_imports_into_another_organization).
WALKED_ELSEWHERE = {("POST", "/api/v1/imports/csv")}


def _filled(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {key: _filled(inner, ids) for key, inner in value.items()}
    return value


def _takes_org_id(doc: dict[str, Any], operation: dict[str, Any]) -> bool:
    if any(p["name"] == "org_id" for p in operation.get("parameters", []) if p["in"] == "query"):
        return True
    schema = (
        operation.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema")
        or {}
    )
    refs = [schema.get("$ref")] + [option.get("$ref") for option in schema.get("anyOf", [])]
    for ref in filter(None, refs):
        if "org_id" in doc["components"]["schemas"][ref.split("/")[-1]].get("properties", {}):
            return True
    return False


def test_every_mutation_with_org_id_is_walked(app: FastAPI) -> None:
    doc = app.openapi()
    mutations = {
        (method.upper(), path)
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        if method in ("post", "put", "patch", "delete") and _takes_org_id(doc, operation)
    }
    walked = {(case.method, "/api/v1" + case.path.split("?")[0]) for case in CASES}
    templated = {
        (method, path)
        for method, path in mutations
        if not any(
            method == walked_method and _same_route(path, walked_path)
            for walked_method, walked_path in walked
        )
    }
    unwalked = templated - NOT_ACTING - WALKED_ELSEWHERE
    assert not unwalked, f"mutations no case walks: {sorted(unwalked)}"


def _same_route(template: str, walked: str) -> bool:
    """``/api/v1/users/{user_id}`` is walked by ``/api/v1/users/{b_mechanic}``."""
    left, right = template.split("/"), walked.split("/")
    return len(left) == len(right) and all(
        a == b or (a.startswith("{") and b.startswith("{"))
        for a, b in zip(left, right, strict=True)
    )


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.path} {c.status}" for c in CASES])
async def test_an_admin_acting_in_another_organization(
    elsewhere: Elsewhere, connection: AsyncConnection, case: Case
) -> None:
    body = _filled(case.body, elsewhere.ids) if case.body is not None else None
    response = await elsewhere.send(case.method, case.path, body)
    assert response.status_code < 500, response.text
    if case.status >= 400:
        assert_error(response, case.status)
        return
    assert response.status_code == case.status, response.text
    # The change is B's, and its audit row names the admin as the one who made it.
    actor = await connection.scalar(
        text(
            "SELECT user_id FROM audit_logs WHERE org_id = :b AND request_id = :r"
            " ORDER BY seq DESC LIMIT 1"
        ),
        {"b": elsewhere.b, "r": response.headers["x-request-id"]},
    )
    assert actor == elsewhere.admin_user.id
    if case.actor_columns:
        changed = response.json()
        for column in case.actor_columns:
            assert changed[column] == str(elsewhere.admin_user.id), column
