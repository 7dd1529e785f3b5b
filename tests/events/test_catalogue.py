"""The event catalogue is the one definition of every event: the docs and the SQL-built
generator events must say exactly what it says."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import Caller
from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.due import engine
from amss.events.catalogue import CATALOGUE, ProgramTaskGenerated
from tests.support.factories import make_aircraft, make_org, make_program

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _documented() -> dict[str, list[str]]:
    section = DOCS.read_text().split("### Event catalogue", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        fields = [field.strip() for field in cells[2].split(",")]
        for event_type in re.findall(r"`([^`]+)`", cells[0]):
            documented[event_type] = fields
    return documented


def test_the_docs_list_every_event_type_with_exactly_its_fields() -> None:
    documented = _documented()
    assert sorted(documented) == sorted(CATALOGUE)
    for event_type, shape in CATALOGUE.items():
        assert documented[event_type] == list(shape.__annotations__), event_type


async def test_generated_task_events_carry_exactly_the_catalogue_fields(
    db: Database, connection: AsyncConnection
) -> None:
    org_id = await make_org(connection)
    await make_aircraft(connection, org_id, tail_number="N1EV", model="PA28")
    await make_program(connection, org_id, name="50-hour", interval_hours=50)
    async with UnitOfWork(db.session_factory) as uow:
        followed = await engine.after_change(uow, Caller.system(org_id), reason="test")
        await uow.commit()
    assert len(followed.generated) == 1
    payload = await connection.scalar(
        text(
            "SELECT payload FROM outbox_events"
            " WHERE org_id = :o AND event_type = 'program_task_generated'"
        ),
        {"o": org_id},
    )
    # jsonb orders keys its own way: the same set of fields is what matters.
    assert set(payload["data"]) == set(ProgramTaskGenerated.__annotations__)
