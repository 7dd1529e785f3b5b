"""Maintenance tasks as the API shows them, rendered by PostgreSQL (``db/jsonview``): the
task with its due answer, its reservations and its compliance items, in one statement."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from amss.compliance.schemas import ComplianceItem
from amss.db.jsonview import Rendered, select_list
from amss.due.repository import DUE_ANSWER_COLUMNS, WITH_DUE_ANSWER
from amss.parts.schemas import Reservation
from amss.tasks.schemas import TaskDetail

_RESERVATIONS = f"""(
    SELECT coalesce(json_agg((SELECT row_to_json(x) FROM (SELECT {select_list(Reservation)}) x)
                             ORDER BY r.created_at), '[]'::json)
    FROM (SELECT pr.*, pi.part_definition_id, pi.serial_number
          FROM part_reservations pr
          JOIN part_items pi ON pi.org_id = pr.org_id AND pi.id = pr.part_item_id
          WHERE pr.org_id = :org_id AND pr.task_id = p.id) r
)"""

_COMPLIANCE_ITEMS = f"""(
    SELECT coalesce(json_agg((SELECT row_to_json(x) FROM (SELECT {select_list(ComplianceItem)}) x)
                             ORDER BY c.created_at), '[]'::json)
    FROM (SELECT ci.*, ci.sign_off_time IS NOT NULL AS signed_off
          FROM compliance_items ci
          WHERE ci.org_id = :org_id AND ci.task_id = p.id) c
)"""

_DETAIL = text(
    f"""
    SELECT (SELECT row_to_json(v) FROM (SELECT {
        select_list(
            TaskDetail,
            {
                **DUE_ANSWER_COLUMNS,
                "reservations": _RESERVATIONS,
                "compliance_items": _COMPLIANCE_ITEMS,
            },
        )
    }) v)::text
    FROM ({WITH_DUE_ANSWER} AND t.id = :task_id) p
    """
)


async def task_detail(
    session: AsyncSession, org_id: UUID, task_id: UUID, now: datetime
) -> Rendered[TaskDetail] | None:
    """The task of the organization (None when it has none with this id), as the API shows it."""
    body = await session.scalar(_DETAIL, {"org_id": org_id, "task_id": task_id, "now": now})
    return Rendered(TaskDetail, body.encode()) if body is not None else None
