"""Certifying users (SPEC §3): a certificate number and authorizations on the user's record,
recorded by a tenant_admin or admin — never by the user — audited, and shown to the user.

Why: a completion or sign-off is made under a certificate (14 CFR 43.9, 65.95; EASA
145.A.50). If users could write their own, anyone could grant themselves Inspection
Authorization and sign annuals.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.api import assert_error, created, ok
from tests.support.tenant import Tenant


async def _audit_of(conn: AsyncConnection, user_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            "SELECT action, user_id, details FROM audit_logs WHERE entity_type = 'user'"
            " AND entity_id = :u ORDER BY seq"
        ),
        {"u": user_id},
    )
    return [{"action": row.action, "user_id": row.user_id, **row.details} for row in rows]


@pytest.mark.parametrize("by", ["tenant_admin", "admin"])
async def test_an_administrator_records_a_certificate_and_it_is_audited(
    tenant: Tenant, connection: AsyncConnection, by: str
) -> None:
    mechanic = tenant.users["mechanic"]
    body = {"certificate_number": " 3412877 ", "authorizations": ["ia", "A&P", "IA"]}
    updated = ok(await tenant.as_(by).patch(f"/users/{mechanic.id}", body))
    # Trimmed, upper-case, sorted, without duplicates.
    assert (updated["certificate_number"], updated["authorizations"]) == ("3412877", ["A&P", "IA"])

    shown = ok(await tenant.as_("scheduler").get(f"/users/{mechanic.id}"))
    assert (shown["certificate_number"], shown["authorizations"]) == ("3412877", ["A&P", "IA"])
    me = ok(await tenant.as_("mechanic").get("/auth/me"))
    assert (me["certificate_number"], me["authorizations"]) == ("3412877", ["A&P", "IA"])

    [audit] = [
        row for row in await _audit_of(connection, str(mechanic.id)) if row["action"] == "update"
    ]
    assert audit["user_id"] == tenant.users[by].id
    assert audit["changes"]["certificate_number"]["new"] == "3412877"
    assert audit["changes"]["authorizations"]["new"] == ["A&P", "IA"]


async def test_a_user_created_with_a_certificate_shows_it(tenant: Tenant) -> None:
    made = created(
        await tenant.as_("tenant_admin").post(
            "/users",
            {
                "email": "inspector@example.com",
                "password": "a-long-password-1",
                "role": "mechanic",
                "certificate_number": "2984410",
                "authorizations": ["A&P", "IA"],
            },
        )
    )
    assert (made["certificate_number"], made["authorizations"]) == ("2984410", ["A&P", "IA"])


@pytest.mark.parametrize("field", ["certificate_number", "authorizations"])
async def test_nobody_records_their_own_certificate(tenant: Tenant, field: str) -> None:
    value: Any = "9999999" if field == "certificate_number" else ["IA"]
    me = tenant.users["tenant_admin"]
    refused = await tenant.as_("tenant_admin").patch(f"/users/{me.id}", {field: value})
    assert_error(refused, 403, contains="never by the user itself")
    assert ok(await tenant.as_("tenant_admin").get("/auth/me"))[field] in (None, [])


@pytest.mark.parametrize("role", ["scheduler", "mechanic", "auditor", "viewer"])
async def test_only_administrators_record_certificates(tenant: Tenant, role: str) -> None:
    mechanic = tenant.users["mechanic"]
    refused = await tenant.as_(role).patch(f"/users/{mechanic.id}", {"authorizations": ["IA"]})
    assert_error(refused, 403)
    assert ok(await tenant.as_("admin").get(f"/users/{mechanic.id}"))["authorizations"] == ["A&P"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"authorizations": ["A P"]}, "authorizations.0"),
        ({"authorizations": [""]}, "authorizations.0"),
        ({"authorizations": ["X" * 21]}, "authorizations.0"),
        ({"authorizations": None}, "authorizations"),
        ({"certificate_number": ""}, "certificate_number"),
        ({"certificate_number": "9" * 101}, "certificate_number"),
    ],
)
async def test_bad_certifying_fields_are_400(
    tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    mechanic = tenant.users["mechanic"]
    assert_error(await tenant.as_("admin").patch(f"/users/{mechanic.id}", body), 400, field=field)
