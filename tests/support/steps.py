"""Steps through the API that many areas' tests take: for tests that need what the API does
besides writing the row (audit, events, the initial utilization entry, task generation).
Each step checks its status and returns the body; where those side effects do not matter,
``tests/support/factories.py`` writes the row faster."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import Actor, created, ok
from tests.support.factories import unique

# A completion a planner transcribes from the signed paper record (SPEC §6.5 record entry):
# who signed it, under which certificate, and where the record is.
PAPER_RECORD: dict[str, str] = {
    "certified_by_name": "J. Rivera",
    "certificate_number": "A&P 3412876",
    "record_reference": "WO-1001, logbook p. 12",
}


async def add_aircraft(actor: Actor, **fields: Any) -> dict[str, Any]:
    """An aircraft created through the API (a unique tail number and a C172S by default)."""
    return created(
        await actor.post("/aircraft", {"tail_number": unique("N"), "model": "C172S", **fields})
    )


async def add_program(actor: Actor, **fields: Any) -> dict[str, Any]:
    """A maintenance program created through the API, which generates its tasks; give the
    interval and scope (the name is unique unless given)."""
    return created(
        await actor.post("/maintenance-programs", {"name": unique("Program "), **fields})
    )


async def add_task(actor: Actor, aircraft_id: str, **fields: Any) -> dict[str, Any]:
    """A manual task created through the API."""
    return created(
        await actor.post(
            "/maintenance-tasks", {"aircraft_id": aircraft_id, "title": "Inspection", **fields}
        )
    )


async def move(actor: Actor, task_id: str, new_state: str, **fields: Any) -> httpx.Response:
    """A task's state change (``notes``, ``completed_hours``, … in ``fields``)."""
    return await actor.patch(
        f"/maintenance-tasks/{task_id}/state", {"new_state": new_state, **fields}
    )


async def open_tasks(actor: Actor, aircraft_id: str) -> list[dict[str, Any]]:
    """An aircraft's scheduled tasks, in the API's order."""
    tasks: list[dict[str, Any]] = ok(
        await actor.get(
            "/maintenance-tasks", params={"aircraft_id": aircraft_id, "state": "scheduled"}
        )
    )
    return tasks
