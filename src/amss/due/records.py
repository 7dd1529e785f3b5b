"""Writing last-done records (SPEC §6.2): the one writer, whoever records the work.

A record says when a requirement was last done on an aircraft, and on what it rests: an
electronic completion (``task``), a paper record entered by hand (``record``) or an import
(``import``). Writing it also fixes the point the next interval counts from: under the
``scheduled`` basis, work done after the limit in force (the open task's) counts from that
limit, so a late 100-hour never earns a later next due (14 CFR 91.409(b)).

Records are append-only; the newest by ``performed_at`` is the pair's baseline. After
writing, the caller runs ``engine.after_change`` for the pair, which re-bases its open
scheduled task (or generates the next one) in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller
from amss.db.uow import UnitOfWork
from amss.due.sql import OPEN_STATES, next_basis
from amss.kit.jsonable import to_jsonable

Source = Literal["record", "task", "import"]


@dataclass(frozen=True)
class Accomplishment:
    """One event of a requirement being done on an aircraft, as the record will hold it."""

    program_id: UUID
    aircraft_id: UUID
    performed_at: datetime
    performed_hours: Decimal | None
    performed_cycles: int | None
    source: Source
    reference: str
    task_id: UUID | None = None
    certified_by_user_id: UUID | None = None
    certified_by_name: str | None = None
    certificate_number: str | None = None


_WRITE = text(
    f"""
    INSERT INTO compliance_records (
        org_id, program_id, aircraft_id, performed_at, performed_hours, performed_cycles,
        basis_at, basis_hours, basis_cycles, source, task_id, reference,
        certified_by_user_id, certified_by_name, certificate_number, created_by)
    SELECT :org_id, r.program_id, r.aircraft_id, r.performed_at, r.performed_hours,
           r.performed_cycles,
           {next_basis("r.performed_at", "f.due_at", "p.next_due_basis")},
           {next_basis("r.performed_hours", "f.due_hours", "p.next_due_basis")},
           {next_basis("r.performed_cycles", "f.due_cycles", "p.next_due_basis")},
           r.source, r.task_id, r.reference, r.certified_by_user_id, r.certified_by_name,
           r.certificate_number, CAST(:created_by AS uuid)
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        program_id uuid, aircraft_id uuid, performed_at timestamptz, performed_hours numeric,
        performed_cycles integer, source text, reference text, task_id uuid,
        certified_by_user_id uuid, certified_by_name text, certificate_number text)
    JOIN maintenance_programs p ON p.org_id = :org_id AND p.id = r.program_id
    -- The limits in force: the task being completed, else the pair's open task (a record
    -- written for a requirement another one satisfies links the task that did it).
    LEFT JOIN LATERAL (
        SELECT t.due_at, t.due_hours, t.due_cycles FROM maintenance_tasks t
        WHERE t.org_id = :org_id AND t.program_id = r.program_id
          AND t.aircraft_id = r.aircraft_id AND t.deleted_at IS NULL
          AND (t.id = r.task_id OR t.state IN {OPEN_STATES})
        ORDER BY t.id = r.task_id DESC NULLS LAST, t.created_at DESC
        LIMIT 1
    ) f ON true
    RETURNING *
    """
)


async def write(
    uow: UnitOfWork, caller: Caller, accomplishments: Sequence[Accomplishment]
) -> list[RowMapping]:
    """Write the records with their audit rows; the caller has validated them."""
    if not accomplishments:
        return []
    rows = (
        (
            await uow.session.execute(
                _WRITE,
                {
                    "org_id": caller.org_id,
                    "created_by": caller.user_id,
                    "rows": json.dumps([to_jsonable(asdict(done)) for done in accomplishments]),
                },
            )
        )
        .mappings()
        .all()
    )
    await journal.record_many(
        uow,
        caller,
        [
            journal.Entry(
                "compliance_record",
                row["id"],
                "create",
                {"new": _described(row)},
            )
            for row in rows
        ],
    )
    return list(rows)


def _described(row: RowMapping) -> dict[str, Any]:
    return {
        name: row[name]
        for name in (
            "program_id",
            "aircraft_id",
            "performed_at",
            "performed_hours",
            "performed_cycles",
            "basis_at",
            "basis_hours",
            "basis_cycles",
            "source",
            "task_id",
            "reference",
            "certified_by_user_id",
            "certified_by_name",
            "certificate_number",
        )
    }
