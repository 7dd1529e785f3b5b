"""Test data written straight to the database (fast), and tokens for it.

Use these where a test is not about creating the entity: a row appears as the migrations
define it, without the API's side effects (no audit row, no event, no generated task, the
aircraft's meters not moved by a utilization entry). A test about creating an entity, or
one that needs those side effects, goes through the API instead.

Every factory takes the connection to write on (the test's ``connection``, or a committing
one for concurrency tests) and returns the new row's id (``make_user`` a ``TestUser``);
every column the caller does not name keeps the database default, or a unique value where
a unique index needs one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from argon2 import PasswordHasher
from sqlalchemy import Table, func, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import Role
from amss.auth.tokens import TokenSigner
from amss.config import secrets_keys
from amss.db.tables import (
    aircraft,
    compliance_items,
    compliance_records,
    imports,
    maintenance_programs,
    maintenance_tasks,
    org_policies,
    organizations,
    outbox_events,
    part_definitions,
    part_items,
    part_reservations,
    program_parts,
    users,
    utilization_entries,
    webhook_deliveries,
    webhooks,
)
from amss.kit.secretbox import SecretBox
from tests.support.dates import day

PASSWORD = "CorrectHorse42!"


@lru_cache(maxsize=1)
def password_hash() -> str:
    return PasswordHasher().hash(PASSWORD)


def unique(prefix: str, length: int = 6) -> str:
    """``prefix`` and random hex: a value no other test has used (upper case for tails)."""
    return f"{prefix}{uuid.uuid4().hex[:length].upper()}"


@dataclass(frozen=True)
class TestUser:
    __test__ = False  # a data class, not a test case

    id: UUID
    org_id: UUID
    email: str
    role: Role


async def _insert(conn: AsyncConnection, table: Table, **values: Any) -> UUID:
    row_id: UUID = await conn.scalar(insert(table).values(**values).returning(table.c.id))
    return row_id


async def make_org(conn: AsyncConnection, name: str | None = None, **policy: object) -> UUID:
    """An organization and its policy row; ``policy`` overrides its columns."""
    org_id = uuid.uuid4()
    await conn.execute(
        insert(organizations).values(id=org_id, name=name or f"Org {org_id.hex[:8]}")
    )
    await conn.execute(insert(org_policies).values(org_id=org_id, **policy))
    return org_id


async def make_user(
    conn: AsyncConnection,
    org_id: UUID,
    role: Role,
    email: str | None = None,
    **columns: object,
) -> TestUser:
    """A user who can log in with ``PASSWORD``; ``columns`` sets others (``name``, …)."""
    user_id = uuid.uuid4()
    address = email or f"{role.replace('_', '-')}-{user_id.hex[:8]}@example.com"
    await conn.execute(
        insert(users).values(
            id=user_id,
            org_id=org_id,
            email=address,
            role=role,
            password_hash=password_hash(),
            **columns,
        )
    )
    return TestUser(id=user_id, org_id=org_id, email=address, role=role)


def bearer(signer: TokenSigner, user: TestUser) -> dict[str, str]:
    token, _ = signer.issue_access(user_id=user.id, org_id=user.org_id, role=user.role)
    return {"Authorization": f"Bearer {token}"}


# --- fleet ---------------------------------------------------------------------------------


async def make_aircraft(
    conn: AsyncConnection,
    org_id: UUID,
    *,
    tail_number: str | None = None,
    model: str = "C172",
    **columns: object,
) -> UUID:
    """An aircraft (``flight_hours_total``, ``capacity_slots``, … in ``columns``)."""
    return await _insert(
        conn,
        aircraft,
        org_id=org_id,
        tail_number=tail_number or unique("N"),
        model=model,
        **columns,
    )


async def make_utilization(
    conn: AsyncConnection,
    org_id: UUID,
    aircraft_id: UUID,
    *,
    flight_date: date | str | None = None,
    hours: float = 1.0,
    cycles: int = 1,
    **columns: object,
) -> UUID:
    """A utilization entry (yesterday by default); the aircraft's meters stay as they are."""
    when = flight_date or day(-1)
    return await _insert(
        conn,
        utilization_entries,
        org_id=org_id,
        aircraft_id=aircraft_id,
        flight_date=date.fromisoformat(when) if isinstance(when, str) else when,
        flight_hours=hours,
        cycles=cycles,
        **columns,
    )


# --- programs and tasks ----------------------------------------------------------------------

_INTERVALS = ("interval_hours", "interval_cycles", "interval_days", "interval_months")


async def make_program(
    conn: AsyncConnection,
    org_id: UUID,
    *,
    name: str | None = None,
    aircraft_id: UUID | None = None,
    aircraft_model: str | None = None,
    **columns: object,
) -> UUID:
    """A maintenance program: for one aircraft, a model, or (neither) the whole organization.

    Any interval kind goes in ``columns`` (``interval_days=30``, …); with none, 100 hours.
    No task is generated: that is the engine's work, reached through the API or a sweep.
    """
    if not any(columns.get(kind) is not None for kind in _INTERVALS):
        columns["interval_hours"] = 100
    return await _insert(
        conn,
        maintenance_programs,
        org_id=org_id,
        name=name or unique("Program "),
        aircraft_id=aircraft_id,
        aircraft_model=aircraft_model,
        **columns,
    )


async def require_parts(
    conn: AsyncConnection, org_id: UUID, program_id: UUID, definition_id: UUID, quantity: int = 1
) -> None:
    """A program's required part: its tasks reserve ``quantity`` items when they start."""
    await conn.execute(
        insert(program_parts).values(
            org_id=org_id,
            program_id=program_id,
            part_definition_id=definition_id,
            quantity=quantity,
        )
    )


async def make_task(
    conn: AsyncConnection,
    org_id: UUID,
    aircraft_id: UUID,
    *,
    title: str = "Inspection",
    program_id: UUID | None = None,
    **columns: object,
) -> UUID:
    """A maintenance task, manual or (``program_id``) of a program; ``scheduled`` unless
    ``state`` says otherwise. Limits (``due_at``, ``due_hours``, …) are whatever is given."""
    return await _insert(
        conn,
        maintenance_tasks,
        org_id=org_id,
        aircraft_id=aircraft_id,
        program_id=program_id,
        title=title,
        **columns,
    )


async def make_record(
    conn: AsyncConnection,
    org_id: UUID,
    program_id: UUID,
    aircraft_id: UUID,
    *,
    days_ago: int,
    hours: float | None = None,
    cycles: int | None = None,
    **columns: object,
) -> UUID:
    """A last-done record (``compliance_records``) entered from paper ``days_ago`` days
    before the transaction's now, its basis the point itself; ``columns`` sets the others
    (``reference``, ``certified_by_user_id``, ``certificate_number``, …)."""
    performed = func.now() - func.make_interval(0, 0, 0, days_ago)
    return await _insert(
        conn,
        compliance_records,
        org_id=org_id,
        program_id=program_id,
        aircraft_id=aircraft_id,
        performed_at=performed,
        performed_hours=hours,
        performed_cycles=cycles,
        basis_at=performed,
        basis_hours=hours,
        basis_cycles=cycles,
        **{"source": "record", "reference": "logbook", **columns},
    )


# --- parts and compliance --------------------------------------------------------------------


async def make_part_definition(
    conn: AsyncConnection, org_id: UUID, *, name: str | None = None, **columns: object
) -> UUID:
    """A part definition (``min_stock``, ``part_number``, … in ``columns``)."""
    return await _insert(
        conn, part_definitions, org_id=org_id, name=name or unique("Part "), **columns
    )


async def make_part_item(
    conn: AsyncConnection,
    org_id: UUID,
    definition_id: UUID,
    *,
    serial_number: str | None = None,
    **columns: object,
) -> UUID:
    """A serialized part item, in stock unless ``status`` says otherwise."""
    return await _insert(
        conn,
        part_items,
        org_id=org_id,
        part_definition_id=definition_id,
        serial_number=serial_number or unique("SN-", 10),
        **columns,
    )


async def make_reservation(
    conn: AsyncConnection,
    org_id: UUID,
    task_id: UUID,
    part_item_id: UUID,
    *,
    state: str = "reserved",
    **columns: object,
) -> UUID:
    """A reservation of one item for a task (the item's status is not changed)."""
    return await _insert(
        conn,
        part_reservations,
        org_id=org_id,
        task_id=task_id,
        part_item_id=part_item_id,
        state=state,
        **columns,
    )


async def make_compliance_item(
    conn: AsyncConnection,
    org_id: UUID,
    task_id: UUID,
    *,
    description: str = "Torque check",
    result: str = "pending",
    signed_by: UUID | None = None,
    **columns: object,
) -> UUID:
    """A compliance item; ``signed_by`` signs it off now (a result other than pending)."""
    if signed_by is not None:
        columns |= {"sign_off_user_id": signed_by, "sign_off_time": datetime.now(UTC)}
    return await _insert(
        conn,
        compliance_items,
        org_id=org_id,
        task_id=task_id,
        description=description,
        result=result,
        **columns,
    )


# --- events and webhooks ---------------------------------------------------------------------

SECRET = "ab" * 32  # a webhook signing secret: hex of 32 bytes


def seal(secret: str) -> str:
    """``secret`` encrypted as the app stores it, under the SECRETS_KEY it shares with the
    tests (tests/conftest.py sets it, and worker processes inherit it)."""
    return SecretBox(secrets_keys(os.environ["SECRETS_KEY"])).encrypt(secret)


async def make_webhook(
    conn: AsyncConnection,
    org_id: UUID,
    *,
    url: str = "http://127.0.0.1:9/hook",
    events: Sequence[str] = ("*",),
    secret: str = SECRET,
    sealed: bool = True,
    **columns: object,
) -> UUID:
    """A subscription. Sealed like the app's own rows; ``sealed=False`` writes the plaintext
    ``secret`` of a row from before encryption at rest."""
    stored = {"secret_ciphertext": seal(secret)} if sealed else {"secret": secret}
    return await _insert(
        conn, webhooks, org_id=org_id, url=url, events=list(events), **stored, **columns
    )


async def make_import(
    conn: AsyncConnection,
    org_id: UUID,
    *,
    content: bytes = b"tail_number,model\nN1IMP,C172S\n",
    import_type: str = "aircraft",
    **columns: object,
) -> UUID:
    """A stored upload, as ``POST /imports/csv`` leaves it before a worker takes it."""
    return await _insert(
        conn,
        imports,
        org_id=org_id,
        type=import_type,
        format="csv",
        filename="fleet.csv",
        content=content,
        size_bytes=len(content),
        **columns,
    )


async def make_event(
    conn: AsyncConnection,
    org_id: UUID,
    *,
    event_type: str = "webhook.test",
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    dispatched: bool = True,
) -> UUID:
    """An outbox event; ``dispatched`` (the default) marks it as already fanned out, so the
    dispatcher leaves it alone and only the deliveries a test makes for it exist."""
    return await _insert(
        conn,
        outbox_events,
        org_id=org_id,
        event_type=event_type,
        aggregate_type="webhook",
        payload=payload if payload is not None else {},
        dedupe_key=dedupe_key or f"test:{uuid.uuid4()}",
        dispatched_at=func.now() if dispatched else None,
    )


async def make_delivery(
    conn: AsyncConnection,
    org_id: UUID,
    webhook_id: UUID,
    *,
    event_id: UUID | None = None,
    status: str = "pending",
    response_codes: Sequence[int] = (),
) -> UUID:
    """A delivery of ``event_id`` (a new dispatched event when omitted) to a webhook; with
    ``response_codes`` it has made those attempts, the last one's code recorded."""
    if event_id is None:
        event_id = await make_event(conn, org_id)
    attempts = [
        {"at": "2026-01-01T00:00:00Z", "response_code": code, "error": None}
        for code in response_codes
    ]
    return await _insert(
        conn,
        webhook_deliveries,
        org_id=org_id,
        webhook_id=webhook_id,
        event_id=event_id,
        event_type="webhook.test",
        status=status,
        attempt_count=len(attempts),
        attempts=attempts,
        last_response_code=response_codes[-1] if response_codes else None,
        delivered_at=func.now() if status == "delivered" else None,
    )
