"""The bare baseline of the API benchmark: FastAPI, one route, a typed 50-item list.

No authentication, no database, no middleware: what the framework and the server cost
alone, under the same uvicorn settings as ``amss server`` (``amss.cli.http_server``).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from pydantic import BaseModel

from amss.cli import http_server


class Item(BaseModel):
    """The shape of a due-list row: ids, text, times, numbers."""

    id: uuid.UUID
    aircraft_id: uuid.UUID
    tail_number: str
    title: str
    state: str
    due_status: str
    due_at: datetime | None
    due_hours: float | None
    due_cycles: int | None
    remaining_hours: float | None
    remaining_days: float | None
    projected_due_at: datetime | None
    governing_limit: str | None


_NOW = datetime(2026, 11, 30, tzinfo=UTC)
ITEMS = [
    Item(
        id=uuid.uuid4(),
        aircraft_id=uuid.uuid4(),
        tail_number="N172DA",
        title=f"Task card {number}",
        state="scheduled",
        due_status="ok",
        due_at=_NOW + timedelta(days=number),
        due_hours=1000.0 + number,
        due_cycles=500 + number,
        remaining_hours=float(number),
        remaining_days=float(number),
        projected_due_at=_NOW + timedelta(days=number),
        governing_limit="calendar",
    )
    for number in range(50)
]

app = FastAPI()


@app.get("/items", response_model=list[Item])
async def items() -> list[Item]:
    return ITEMS


if __name__ == "__main__":
    asyncio.run(http_server(app, ("127.0.0.1", int(sys.argv[1]))).serve())
