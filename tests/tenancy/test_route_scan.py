"""A scan of every route of the OpenAPI document (issue 12): new routes are covered the day
they are added, because the scan reads the document rather than a list.

- Tenancy (SPEC §3): a user of organization A who names a row of organization B in the
  path gets 404 on every operation, whatever the method or body, exactly as for an id that
  does not exist: the answer must not even tell A that B's row exists.
- Roles (SPEC §3): a viewer and an auditor read; every change they attempt, on any route,
  in their own organization, is 403 and changes nothing; a viewer cannot even read users,
  the organization's policy, webhooks or the audit trail.
- Authentication: every operation that declares the bearer scheme answers 401 without a
  token, and is never served to an anonymous caller.

Why: a maintenance record of one operator read or changed by another is both a data breach
and an airworthiness record nobody can trust any more.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.api import assert_error
from tests.tenancy.conftest import Elsewhere
from tests.tenancy.test_admin_in_another_org import CASES, _filled

# The row of B a path parameter names, by the collection it follows in the path.
B_ROW_AFTER = {
    "aircraft": "aircraft",
    "maintenance-programs": "program",
    "maintenance-tasks": "task",
    "part-definitions": "definition",
    "part-items": "item",
    "part-reservations": "reservation",
    "compliance-items": "compliance",
    "webhooks": "webhook",
    "deliveries": "delivery",
    "users": "b_mechanic",
    "organizations": "b",
    "imports": "import",
}

# Ids that exist nowhere, for the same requests.
NOWHERE = {row: str(uuid.uuid4()) for row in {*B_ROW_AFTER.values()}}

# Valid bodies of the mutations the admin walk has none for (only an admin creates
# organizations, in no organization of its own).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/organizations"): {"name": "Scanned Air"},
}

# Operations a caller without a token may call.
PUBLIC = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/refresh")}
# A user's own session: every role logs out and reads itself.
AUTH_ROUTES = {"/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout"}


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    document = app.openapi()
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _b_path(path: str, ids: dict[str, str]) -> str:
    """``/api/v1/aircraft/{aircraft_id}/utilization`` with B's aircraft."""
    parts = path.split("/")
    for index, part in enumerate(parts):
        if part.startswith("{"):
            collection = parts[index - 1]
            assert collection in B_ROW_AFTER, (
                f"{path}: the scan has no row of organization B for {part} after "
                f"/{collection}/ — add one to B_ROW_AFTER and the tenancy world"
            )
            parts[index] = ids[B_ROW_AFTER[collection]]
    return "/".join(parts)


# Operations that take a file, not JSON: what each is sent.
MULTIPART = {
    ("POST", "/api/v1/imports/csv"): {
        "data": {"type": "aircraft"},
        "files": {"file": ("fleet.csv", b"tail_number,model\nN1SCAN,C172S\n", "text/csv")},
    }
}


def _send(method: str, path: str, ids: dict[str, str]) -> dict[str, Any]:
    """The request's body arguments: JSON, or a multipart upload."""
    if (method, path) in MULTIPART:
        return MULTIPART[(method, path)]
    return {"json": _body(method, path, ids)}


def _body(method: str, path: str, ids: dict[str, str]) -> dict[str, Any] | None:
    """A body the operation would accept in B (from the admin walk), else an empty one:
    a 404 must come before any complaint about the body."""
    template = re.sub(r"\{[^}]+\}", "{}", path.removeprefix("/api/v1"))
    for case in CASES:
        walked = re.sub(r"\{[^}]+\}", "{}", case.path.split("?")[0])
        if case.method == method and walked == template and case.body is not None:
            body: dict[str, Any] = _filled(case.body, ids)
            return body
    if (method, path) in BODIES:
        return BODIES[(method, path)]
    return {} if method in ("POST", "PUT", "PATCH") else None


@pytest.fixture
def rows_of_b(elsewhere: Elsewhere) -> dict[str, str]:
    return {**elsewhere.ids, "b": str(elsewhere.b)}


async def test_no_route_serves_another_organizations_row(
    app: FastAPI, elsewhere: Elsewhere, rows_of_b: dict[str, str]
) -> None:
    scanned = []
    for role in ("tenant_admin", "mechanic", "viewer"):
        actor = elsewhere.home.as_(role)
        for method, path, _ in _operations(app):
            if "{" not in path or not path.startswith("/api/v1/"):
                continue
            target = _b_path(path, rows_of_b).removeprefix("/api/v1")
            body = _send(method, path, rows_of_b)
            answer = await actor.request(method, target, **body)
            # A role refused the operation outright is refused for any id; otherwise B's
            # row is as absent as a row that does not exist.
            nowhere = _b_path(path, NOWHERE).removeprefix("/api/v1")
            absent = await actor.request(method, nowhere, **body)
            assert answer.status_code in (403, 404), (role, method, target, answer.text)
            assert (answer.status_code, answer.json()["error"].replace(target, "")) == (
                absent.status_code,
                absent.json()["error"].replace(nowhere, ""),
            ), (role, method, path, answer.text, absent.text)
            assert_error(answer, answer.status_code)
            scanned.append((role, method, path, answer.status_code))
    # The scan read the document: every kind of row, every method, mostly 404s.
    assert len({path for _, _, path, _ in scanned}) >= 20, scanned
    assert {method for _, method, _, _ in scanned} >= {"GET", "POST", "PATCH", "DELETE"}
    assert sum(status == 404 for *_, status in scanned) > len(scanned) / 2


async def test_every_operation_with_the_bearer_scheme_refuses_an_anonymous_caller(
    app: FastAPI, client: httpx.AsyncClient, rows_of_b: dict[str, str]
) -> None:
    secured = 0
    for method, path, operation in _operations(app):
        if {"bearerAuth": []} not in operation.get("security", []) or (method, path) in PUBLIC:
            continue
        target = _b_path(path, rows_of_b) if "{" in path else path
        answer = await client.request(method, target, **_send(method, path, rows_of_b))
        assert_error(answer, 401)
        assert answer.headers["www-authenticate"].startswith("Bearer"), (method, path)
        secured += 1
    assert secured >= 60


# SPEC §3: what a viewer may not even read.
HIDDEN_FROM_VIEWERS = (
    "/api/v1/users",
    "/api/v1/organizations/{org_id}/policy",
    "/api/v1/webhooks",
    "/api/v1/audit-logs",
)


async def test_read_only_roles_change_nothing_on_any_route(
    app: FastAPI, elsewhere: Elsewhere, rows_of_b: dict[str, str]
) -> None:
    refused = []
    for role in ("viewer", "auditor"):
        actor = elsewhere.b_tenant.as_(role)
        for method, path, _ in _operations(app):
            if method == "GET" or not path.startswith("/api/v1/") or path in AUTH_ROUTES:
                continue
            target = _b_path(path, rows_of_b).removeprefix("/api/v1")
            answer = await actor.request(method, target, **_send(method, path, rows_of_b))
            assert answer.status_code == 403, (role, method, path, answer.text)
            assert_error(answer, 403)
            refused.append((role, method, path))
    assert len(refused) >= 2 * 30, refused


async def test_a_viewer_reads_neither_users_policy_webhooks_nor_the_audit_trail(
    app: FastAPI, elsewhere: Elsewhere, rows_of_b: dict[str, str]
) -> None:
    viewer = elsewhere.b_tenant.as_("viewer")
    hidden = [
        path
        for method, path, _ in _operations(app)
        if method == "GET" and path.startswith(HIDDEN_FROM_VIEWERS)
    ]
    for path in hidden:
        answer = await viewer.get(_b_path(path, rows_of_b).removeprefix("/api/v1"))
        assert_error(answer, 403)
    assert len(hidden) >= 6, hidden
